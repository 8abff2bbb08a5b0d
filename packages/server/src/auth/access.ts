import { CONVERSATION_TOPIC_PREFIX, STREAM_TOPIC_PREFIX, type ErrorCode, type Operation } from '@inloop/protocol';
import { can, type Principal } from './principal.js';

/**
 * Who may do what on a topic: the token's scopes, and for a conversation's topic also
 * membership, so a token scoped to `conv:*` reaches only the conversations its subject is a
 * member of. API keys pass (they act for the backend).
 */
export class Access {
  constructor(private readonly isMember: (conversation: string, member: string) => Promise<boolean>) {}

  /** Null when allowed, else the code to refuse with. */
  async check(principal: Principal, op: Operation, topic: string): Promise<ErrorCode | null> {
    if (!can(principal, op, topic)) return 'forbidden';
    // Streams' appends travel on node-internal topics: watched through `stream.subscribe` alone.
    if (topic.startsWith(STREAM_TOPIC_PREFIX)) return 'reserved_topic';
    if (principal.kind === 'token' && topic.startsWith(CONVERSATION_TOPIC_PREFIX)) {
      const conversation = topic.slice(CONVERSATION_TOPIC_PREFIX.length);
      if (!(await this.isMember(conversation, principal.sub))) return 'not_member';
    }
    return null;
  }
}
