import { streamTopicOf, type ErrorCode, type StreamRef } from '@inloop/protocol';
import type { Access } from '../../auth/access.js';
import type { Principal } from '../../auth/principal.js';

/**
 * Who may watch or stop a stream: a job's by `job:read` / `job:cancel` on `job:<id>` (a job's
 * own token has both); a message's by membership and `subscribe` / `publish` on `conv:<id>`.
 * Null when allowed, else the code to refuse with.
 */
export function streamRefusal(
  access: Access,
  principal: Principal,
  ref: StreamRef,
  action: 'watch' | 'stop',
): Promise<ErrorCode | null> {
  const topic = streamTopicOf(ref);
  const op =
    'job' in ref ? (action === 'watch' ? 'job:read' : 'job:cancel') : action === 'watch' ? 'subscribe' : 'publish';
  return access.check(principal, op, topic);
}
