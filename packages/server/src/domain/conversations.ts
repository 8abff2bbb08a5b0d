import { createHash, randomBytes } from 'node:crypto';
import {
  CONVERSATION_TOPIC_PREFIX,
  conversationTopic,
  deliveryState,
  isConversationId,
  isMemberId,
  MAX_MESSAGE_TEXT,
  type ConversationMessage,
  type ConversationState,
  type Json,
  type MessageBody,
  type MessageReceipts,
  type Operation,
  type ReceiptWatermarks,
} from '@inloop/protocol';
import type { Principal } from '../auth/principal.js';
import { can } from '../auth/principal.js';
import type { Metrics } from '../metrics.js';
import { readBoundedPage } from './history-pages.js';
import type { Broker, EphemeralPublication, StoredPublication } from '../ports/broker.js';
import type { ConversationStore } from '../ports/conversation-store.js';
import type { Hub } from './hub.js';
import type { Presence } from './presence.js';
import { Refusal } from '../errors.js';
import type { Typing } from './typing.js';

export interface ConversationServiceOptions {
  store: ConversationStore;
  hub: Hub;
  broker: Broker;
  typing: Typing;
  /** Presence, so a removed member leaves the conversation's at once. */
  presence?: Presence;
  metrics?: Metrics;
  /** A streamed draft with no chunk for this long is forgotten. @default 60_000 */
  draftTtlMs?: number;
  /** Most members of one conversation. @default 1000 */
  maxMembers?: number;
  /**
   * Streamed drafts one member may have open at once, over all conversations; a new one past it
   * is refused with `too_many_drafts` until one is sent or lapses. Each holds at most
   * `MAX_MESSAGE_TEXT` characters, so a member's drafts hold at most this many times that.
   * @default 16
   */
  maxDraftsPerMember?: number;
  /**
   * A streamed draft is also the message's stream (`conv:<id>/<clientId>`, docs/streams.md):
   * each chunk is appended to it (a refusal, `stream_ended` after a stop or `forbidden` when
   * another member started it, refuses the chunk), and the member's sending the message ends it
   * `finished`.
   */
  streams?: {
    append(conversation: string, member: string, clientId: string, chunk: string): Promise<unknown>;
    finish(conversation: string, member: string, clientId: string): Promise<unknown>;
    /** `member` was removed: its watches of the conversation's message streams end, on every node. */
    revoke(conversation: string, member: string): void;
  };
}

export interface CreateConversation {
  id?: string;
  title?: string | null;
  meta?: Json;
  members: string[];
}

export interface SendInput {
  text?: string;
  data?: Json;
  clientId?: string;
}

interface Draft {
  readonly member: string;
  text: string;
  seq: number;
  timer: NodeJS.Timeout;
}

/** The message an app sees, from the publication that stores it. */
export function toMessage(conversation: string, p: StoredPublication): ConversationMessage {
  const body = (p.data ?? {}) as unknown as MessageBody;
  return { ...body, conversation, epoch: p.epoch, offset: p.offset, from: p.from, ts: p.ts };
}

/**
 * Conversations: members, messages and receipts. A message is a stored publication on the
 * conversation's topic (so offsets, history and resume are the topic's); receipts are monotonic
 * per-member watermarks in the store, announced to members as signals on the topic, as are
 * typing and streamed drafts. Every entry point names the acting member and checks it belongs.
 */
export class ConversationService {
  readonly #store: ConversationStore;
  readonly #hub: Hub;
  readonly #broker: Broker;
  readonly #typing: Typing;
  readonly #presence: Presence | undefined;
  readonly #metrics: Metrics | undefined;
  readonly #draftTtlMs: number;
  readonly #maxMembers: number;
  readonly #drafts = new Map<string, Draft>();
  /** Open drafts per member, to bound them. */
  readonly #draftsOf = new Map<string, number>();
  readonly #maxDraftsPerMember: number;
  readonly #streams: ConversationServiceOptions['streams'];

  constructor(options: ConversationServiceOptions) {
    this.#store = options.store;
    this.#hub = options.hub;
    this.#broker = options.broker;
    this.#typing = options.typing;
    this.#presence = options.presence;
    this.#metrics = options.metrics;
    this.#draftTtlMs = options.draftTtlMs ?? 60_000;
    this.#maxMembers = options.maxMembers ?? 1000;
    this.#hub.onSignal((signal) => this.#onSignal(signal));
    this.#maxDraftsPerMember = options.maxDraftsPerMember ?? 16;
    this.#streams = options.streams;
  }

  isMember(id: string, member: string): Promise<boolean> {
    return this.#store.isMember(id, member);
  }

  /**
   * The member a request acts as, after checking it may: a token acts only as its subject (a
   * different `claimed` member is `member_mismatch`) and needs `op` on the conversation's topic;
   * an API key must name the member. Either way the member must belong to the conversation.
   */
  async actor(id: string, principal: Principal, op: Operation, claimed?: string): Promise<string> {
    if (!isConversationId(id)) throw new Refusal('not_found', 'no such conversation');
    let member: string;
    if (principal.kind === 'token') {
      if (claimed !== undefined && claimed !== principal.sub) throw new Refusal('member_mismatch');
      if (!can(principal, op, conversationTopic(id))) throw new Refusal('forbidden');
      member = principal.sub;
    } else {
      if (claimed === undefined) throw new Refusal('bad_request', 'an API key must name the member it acts as (from)');
      member = claimed;
    }
    if (!(await this.#store.isMember(id, member))) {
      const exists = (await this.#store.get(id)) !== null;
      throw exists ? new Refusal('not_member') : new Refusal('not_found', 'no such conversation');
    }
    return member;
  }

  async create(input: CreateConversation): Promise<ConversationState> {
    const id = input.id ?? randomBytes(9).toString('base64url');
    if (!isConversationId(id)) throw new Refusal('bad_request', 'invalid conversation id');
    const members = [...new Set(input.members)];
    if (!members.every(isMemberId)) throw new Refusal('bad_request', 'invalid member id');
    if (members.length > this.#maxMembers) throw new Refusal('bad_request', `at most ${this.#maxMembers} members`);
    const record = { id, title: input.title ?? null, meta: input.meta ?? null, createdAt: Date.now() };
    if (!(await this.#store.create(record, members))) throw new Refusal('conversation_exists');
    return (await this.state(id))!;
  }

  /** Members, their receipts and unread counts, and the latest position; null when unknown. */
  async state(id: string): Promise<ConversationState | null> {
    const record = await this.#store.get(id);
    if (!record) return null;
    const topic = conversationTopic(id);
    const [members, marks, position] = await Promise.all([
      this.#store.members(id),
      this.#store.watermarks(id),
      this.#broker.position(topic),
    ]);
    const byMember = new Map(marks.map((w) => [w.member, w]));
    return {
      ...record,
      topic,
      epoch: position.epoch,
      latest: position.offset,
      members: members.map((m) => {
        const w = byMember.get(m.member) ?? {
          member: m.member,
          delivered: 0,
          deliveredAt: null,
          read: 0,
          readAt: null,
        };
        return { ...w, joinedAt: m.joinedAt, unread: Math.max(0, position.offset - w.read) };
      }),
    };
  }

  async addMember(id: string, member: string): Promise<void> {
    if (!isMemberId(member)) throw new Refusal('bad_request', 'invalid member id');
    if (!(await this.#store.get(id))) throw new Refusal('not_found', 'no such conversation');
    if ((await this.#store.members(id)).length >= this.#maxMembers) {
      throw new Refusal('bad_request', `at most ${this.#maxMembers} members`);
    }
    const known = await this.#store.isMember(id, member);
    await this.#store.addMember(id, member, Date.now());
    // Members following the conversation count receipts over its members: tell them.
    if (!known) {
      await this.#hub.publish(conversationTopic(id), { data: {}, from: member, ephemeral: true, kind: 'member.added' });
    }
  }

  /**
   * Remove `member`. What it holds on the conversation's topic ends at once: its subscriptions
   * (told `forbidden`), its presence (its watches told `presence.ended`) and its typing. This node
   * acts here; the `member.removed` signal then tells every node with a subscriber of the topic
   * (cluster mode) and the members, and each of those nodes does the same.
   */
  async removeMember(id: string, member: string): Promise<void> {
    if (!(await this.#store.removeMember(id, member))) throw new Refusal('not_found', 'no such member');
    const topic = conversationTopic(id);
    this.#revokeHere(topic, member);
    this.#streams?.revoke(id, member);
    await Promise.all([
      this.#typing.stop(topic, member),
      this.#hub.publish(topic, { data: {}, from: member, ephemeral: true, kind: 'member.removed' }),
    ]);
  }

  /** End what `member` holds on `topic` on this node: it is no longer a member. */
  #revokeHere(topic: string, member: string): void {
    this.#hub.revoke(topic, member, 'forbidden');
    this.#presence?.revoke(topic, member, 'forbidden');
  }

  /**
   * A `member.removed` signal reached this node (from itself or another node): end what the
   * member holds here, unless it is a member again by now (re-added in the meantime). Only the
   * node publishes signals, so the signal can be trusted; if the store cannot be asked, it acts.
   */
  #onSignal(signal: EphemeralPublication): void {
    if (signal.kind !== 'member.removed' || !signal.topic.startsWith(CONVERSATION_TOPIC_PREFIX)) return;
    const id = signal.topic.slice(CONVERSATION_TOPIC_PREFIX.length);
    void this.#store.isMember(id, signal.from).then(
      (member) => member || this.#revokeHere(signal.topic, signal.from),
      () => this.#revokeHere(signal.topic, signal.from),
    );
  }

  /**
   * Store a message from `member` ("sent"). With a `clientId` the message id is derived from it,
   * so a resend (after a reconnect, say) returns the original with `duplicate: true`. Sending
   * marks everything up to the message read for the sender and stops its typing indicator.
   */
  async send(
    id: string,
    member: string,
    input: SendInput,
  ): Promise<{ message: ConversationMessage; duplicate: boolean }> {
    if (input.text === undefined && input.data === undefined)
      throw new Refusal('bad_request', 'a message needs text or data');
    if (input.text !== undefined && input.text.length > MAX_MESSAGE_TEXT) throw new Refusal('payload_too_large');
    const messageId =
      input.clientId === undefined
        ? `m_${randomBytes(12).toString('base64url')}`
        : derivedId(id, member, input.clientId);
    const body: MessageBody = {
      id: messageId,
      ...(input.clientId === undefined ? {} : { clientId: input.clientId }),
      ...(input.text === undefined ? {} : { text: input.text }),
      ...(input.data === undefined ? {} : { data: input.data }),
    };
    const topic = conversationTopic(id);
    const outcome = await this.#hub.publish(topic, {
      data: body as unknown as Json,
      from: member,
      ...(input.clientId === undefined ? {} : { idempotencyKey: messageId }),
    });
    if (outcome.ephemeral) throw new Error('a message was not stored');
    const message: ConversationMessage = {
      ...body,
      conversation: id,
      epoch: outcome.epoch,
      offset: outcome.offset,
      from: member,
      ts: outcome.ts,
    };
    if (outcome.duplicate) {
      const stored = await this.#broker.history(topic, outcome.offset - 1, 1);
      const original = stored.publications[0];
      return { message: original?.offset === outcome.offset ? toMessage(id, original) : message, duplicate: true };
    }
    this.#metrics?.conversationMessages.inc();
    if (input.clientId !== undefined) {
      this.#endDraft(id, member, input.clientId);
      await this.#streams?.finish(id, member, input.clientId);
    }
    await Promise.all([this.#typing.stop(topic, member), this.#advance(id, member, { read: outcome.offset })]);
    return { message, duplicate: false };
  }

  /**
   * Move `member`'s watermarks up. An offset past the latest message is `invalid_receipt`; one
   * at or below the current watermark changes nothing (duplicates and reordering are harmless).
   */
  async receipt(id: string, member: string, to: { delivered?: number; read?: number }): Promise<ReceiptWatermarks> {
    const { offset: latest } = await this.#broker.position(conversationTopic(id));
    for (const v of [to.delivered, to.read]) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0 || v > latest)) {
        throw new Refusal('invalid_receipt', `offsets run from 0 to ${latest}`);
      }
    }
    return this.#advance(id, member, to);
  }

  async #advance(id: string, member: string, to: { delivered?: number; read?: number }): Promise<ReceiptWatermarks> {
    const { watermarks, moved } = await this.#store.advance(id, member, to, Date.now());
    if (moved.delivered) this.#metrics?.receipts.inc({ kind: 'delivered' });
    if (moved.read) this.#metrics?.receipts.inc({ kind: 'read' });
    if (moved.delivered || moved.read) {
      await this.#hub.publish(conversationTopic(id), {
        data: watermarks as unknown as Json,
        from: member,
        ephemeral: true,
        kind: moved.read ? 'receipt.read' : 'receipt.delivered',
      });
    }
    return watermarks;
  }

  /** Typing on or off for `member` (cleared by itself, and when the member sends). */
  typing(id: string, member: string, on: boolean): Promise<void> {
    const topic = conversationTopic(id);
    return on ? this.#typing.start(topic, member) : this.#typing.stop(topic, member);
  }

  /**
   * Stream a reply: append `chunk` to the draft `clientId` and show members the text so far. The
   * draft ends when the message with the same `clientId` is sent (or after a minute of silence).
   */
  async draft(id: string, member: string, clientId: string, chunk: string): Promise<{ seq: number; length: number }> {
    const key = `${id}\n${member}\n${clientId}`;
    let draft = this.#drafts.get(key);
    if (draft && draft.text.length + chunk.length > MAX_MESSAGE_TEXT) throw new Refusal('payload_too_large');
    if (!draft) {
      const open = this.#draftsOf.get(member) ?? 0;
      if (open >= this.#maxDraftsPerMember) throw new Refusal('too_many_drafts', `${open} drafts open`);
      const timer = setTimeout(() => this.#dropDraft(key), this.#draftTtlMs);
      timer.unref();
      this.#drafts.set(key, (draft = { member, text: '', seq: 0, timer }));
      this.#draftsOf.set(member, open + 1);
    } else draft.timer.refresh();
    if (this.#streams) await this.#streams.append(id, member, clientId, chunk);
    draft.text += chunk;
    draft.seq++;
    const { seq, text } = draft;
    await Promise.all([
      this.#typing.start(conversationTopic(id), member),
      this.#hub.publish(conversationTopic(id), {
        data: { clientId, text, seq },
        from: member,
        ephemeral: true,
        kind: 'message.draft',
      }),
    ]);
    return { seq, length: text.length };
  }

  #endDraft(id: string, member: string, clientId: string): void {
    this.#dropDraft(`${id}\n${member}\n${clientId}`);
  }

  #dropDraft(key: string): void {
    const draft = this.#drafts.get(key);
    if (!draft) return;
    clearTimeout(draft.timer);
    this.#drafts.delete(key);
    const open = (this.#draftsOf.get(draft.member) ?? 1) - 1;
    if (open > 0) this.#draftsOf.set(draft.member, open);
    else this.#draftsOf.delete(draft.member);
  }

  /**
   * Messages after `after`, oldest first: at most `limit` and about `maxBytes` of them (at least
   * one); `more` says whether more wait after `next`.
   */
  async messages(
    id: string,
    after: number,
    limit: number,
    maxBytes = Infinity,
  ): Promise<{
    epoch: string;
    earliest: number;
    latest: number;
    next: number;
    more: boolean;
    messages: ConversationMessage[];
  }> {
    const page = await readBoundedPage(this.#broker, conversationTopic(id), after, limit, maxBytes);
    return {
      epoch: page.epoch,
      earliest: page.earliest,
      latest: page.latest,
      next: page.next,
      more: page.more,
      messages: page.publications.map((p) => toMessage(id, p)),
    };
  }

  /** One message with its state for each recipient (every member but the sender), with times. */
  async message(id: string, offset: number): Promise<MessageReceipts> {
    const page = await this.#broker.history(conversationTopic(id), offset - 1, 1);
    const p = page.publications[0];
    if (!p || p.offset !== offset) throw new Refusal('not_found', 'no such message (or no longer in history)');
    const [marks, times] = await Promise.all([this.#store.watermarks(id), this.#store.receiptTimes(id, offset)]);
    const timeOf = new Map(times.map((t) => [t.member, t]));
    const recipients = marks
      .filter((w) => w.member !== p.from)
      .map((w) => {
        const state = deliveryState(offset, w);
        const t = timeOf.get(w.member);
        return {
          member: w.member,
          state,
          deliveredAt: state === 'sent' ? null : (t?.deliveredAt ?? null),
          readAt: state === 'read' ? (t?.readAt ?? null) : null,
        };
      });
    return {
      message: toMessage(id, p),
      recipients,
      counts: {
        recipients: recipients.length,
        delivered: recipients.filter((r) => r.state !== 'sent').length,
        read: recipients.filter((r) => r.state === 'read').length,
      },
    };
  }

  close(): void {
    for (const d of this.#drafts.values()) clearTimeout(d.timer);
    this.#drafts.clear();
    this.#draftsOf.clear();
  }
}

/** A message id derived from its sender's client id: the same resend, the same id. */
function derivedId(conversation: string, member: string, clientId: string): string {
  const digest = createHash('sha256').update(`${conversation}\n${member}\n${clientId}`).digest('base64url');
  return `m_${digest.slice(0, 22)}`;
}
