import { streamKey, type ClientMessage } from '@inloop/protocol';
import type { Principal } from '../auth/principal.js';
import { streamRefusal } from '../domain/streams/access.js';
import { refusalOf } from '../errors.js';
import type { Session } from './session.js';

type StreamType = 'stream.subscribe' | 'stream.unsubscribe' | 'stream.stop';
type Handler<T extends StreamType> = (session: Session, message: Extract<ClientMessage, { type: T }>) => Promise<void>;

/** The principal a stream request acts as: the connection's, or the request's own token's. */
async function grantFor(session: Session, id: number, token: string | undefined): Promise<Principal | null> {
  if (token === undefined) return session.principal!;
  const verified = await session.ctx.tokens.verify(token);
  if (session.closed) return null;
  if (!verified.ok) {
    session.reply(id, verified.code);
    return null;
  }
  return verified.principal;
}

function failed(session: Session, id: number, err: unknown, what: string): void {
  if (session.closed) return;
  const refusal = refusalOf(err);
  if (refusal) return session.reply(id, refusal.code, refusal.detail);
  session.ctx.logger.error({ err, session: session.id }, `${what} failed`);
  session.reply(id, 'internal');
}

/**
 * Watching and stopping streams (docs/streams.md). A watch counts against the connection's
 * subscriptions; closing the connection ends its watches, never the streams.
 */
export const streamHandlers: { [T in StreamType]: Handler<T> } = {
  async 'stream.subscribe'(session, { id, stream, from, token }) {
    const key = streamKey(stream);
    const watches = session.streamWatches;
    if (watches.has(key)) return session.reply(id, 'already_subscribed');
    if (session.subscriptionCount >= session.ctx.config.maxSubscriptionsPerConnection)
      return session.reply(id, 'too_many_subscriptions');
    watches.set(key, null);
    try {
      const grant = await grantFor(session, id, token);
      if (!grant) return void watches.delete(key);
      const refusal = await streamRefusal(session.ctx.access, grant, stream, 'watch');
      if (session.closed) return;
      if (refusal) {
        watches.delete(key);
        return session.reply(id, refusal);
      }
      const subject = grant.kind === 'token' ? grant.sub : null;
      const watch = await session.ctx.streams.watch(session, stream, from ?? 0, id, subject);
      if (session.closed) return session.ctx.streams.watchers.unwatch(watch);
      if (watch.revoked) {
        // Removed from the conversation while catching up: told like a watch ended later.
        if (watches.get(key) === null) watches.delete(key);
        return session.push(session.codec.message({ type: 'stream.unsubscribed', stream: key, code: watch.revoked }));
      }
      if (watch.done || watches.get(key) !== null) {
        // Ended already (the stream had ended), or unsubscribed meanwhile.
        if (watches.get(key) === null) watches.delete(key);
        return session.ctx.streams.watchers.unwatch(watch);
      }
      watches.set(key, watch);
      session.streamGrants.set(key, { ref: stream, own: token === undefined ? null : grant });
      watch.onDone = () => {
        if (watches.get(key) !== watch) return;
        watches.delete(key);
        session.streamGrants.delete(key);
      };
      watch.onRevoke = (code) =>
        session.push(session.codec.message({ type: 'stream.unsubscribed', stream: key, code }));
    } catch (err) {
      if (watches.get(key) === null) watches.delete(key);
      failed(session, id, err, 'stream.subscribe');
    }
  },

  async 'stream.unsubscribe'(session, { id, stream }) {
    const key = streamKey(stream);
    const watches = session.streamWatches;
    if (!watches.has(key)) return session.reply(id, 'not_subscribed');
    const watch = watches.get(key);
    watches.delete(key);
    session.streamGrants.delete(key);
    if (watch) session.ctx.streams.watchers.unwatch(watch);
    session.send({ type: 'ack', id });
  },

  async 'stream.stop'(session, { id, stream, token }) {
    try {
      const grant = await grantFor(session, id, token);
      if (!grant) return;
      const refusal = await streamRefusal(session.ctx.access, grant, stream, 'stop');
      if (session.closed) return;
      if (refusal) return session.reply(id, refusal);
      await session.ctx.streams.stop(stream);
      if (!session.closed) session.send({ type: 'ack', id });
    } catch (err) {
      failed(session, id, err, 'stream.stop');
    }
  },
};
