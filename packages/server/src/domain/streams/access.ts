import { streamTopicOf, type ErrorCode, type Operation, type StreamRef } from '@inloop/protocol';
import type { Access } from '../../auth/access.js';
import { can, type Principal } from '../../auth/principal.js';

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
  return access.check(principal, streamOperation(ref, action), topic);
}

/** The scope an action on a stream needs, on its owner's topic. */
function streamOperation(ref: StreamRef, action: 'watch' | 'stop'): Operation {
  if ('job' in ref) return action === 'watch' ? 'job:read' : 'job:cancel';
  return action === 'watch' ? 'subscribe' : 'publish';
}

/**
 * Whether a refreshed token still grants watching `ref` (its scopes only, as a refresh checks a
 * topic subscription's; a member's removal ends a message stream's watches on its own).
 */
export function mayStillWatch(principal: Principal, ref: StreamRef): boolean {
  return can(principal, streamOperation(ref, 'watch'), streamTopicOf(ref));
}
