import { CloseCodes, isReservedTopic, type ClientMessage, type ClientMessageType } from '@inloop/protocol';
import { can } from '../auth/principal.js';
import { mayStillWatch } from '../domain/streams/access.js';
import { refusalOf } from '../errors.js';
import { conversationHandlers, presenceHandlers } from './interactivity-handlers.js';
import type { Session } from './session.js';
import { streamHandlers } from './stream-handlers.js';

type CoreType = 'connect' | 'subscribe' | 'unsubscribe' | 'publish' | 'refresh';

type Handler<T extends ClientMessageType> = (
  session: Session,
  message: Extract<ClientMessage, { type: T }>,
) => Promise<void>;

/**
 * Report a failed request: a refusal with its code, a fault as `internal` without leaking its
 * cause (the log has it). The WebSocket side's one mapper, as `problems.ts` is the HTTP side's.
 */
function failed(session: Session, id: number, err: unknown, what: string): void {
  if (session.closed) return;
  const refusal = refusalOf(err);
  if (refusal) return session.reply(id, refusal.code, refusal.detail);
  session.ctx.logger.error({ err, session: session.id }, `${what} failed`);
  session.reply(id, 'internal');
}

/**
 * One handler per client message type (a table, not a switch). Handlers check the principal's
 * rights on every path: subscribe (and so resume), publish, and again on refresh.
 */
const coreHandlers: { [T in CoreType]: Handler<T> } = {
  async connect(session, message) {
    if (session.principal) return session.reply(undefined, 'invalid_message', 'already connected');
    const result = await session.ctx.tokens.verify(message.token);
    if (session.closed) return;
    if (!result.ok) {
      session.reply(undefined, result.code);
      return session.closeWith(
        result.code === 'token_expired'
          ? CloseCodes.tokenExpired
          : result.code === 'token_keys_unavailable'
            ? CloseCodes.keysUnavailable
            : CloseCodes.unauthorized,
        result.code,
      );
    }
    session.connected(result.principal);
  },

  async subscribe(session, { id, topic, since, token }) {
    if (session.subscriptions.has(topic)) return session.reply(id, 'already_subscribed');
    if (session.subscriptionCount >= session.ctx.config.maxSubscriptionsPerConnection) {
      return session.reply(id, 'too_many_subscriptions');
    }
    session.subscriptions.set(topic, null);
    // A subscription token (a job's read token, say) may grant what the connection's does not.
    let grant = session.principal!;
    if (token !== undefined) {
      const verified = await session.ctx.tokens.verify(token);
      if (session.closed) return;
      if (!verified.ok) {
        session.subscriptions.delete(topic);
        return session.reply(id, verified.code);
      }
      grant = verified.principal;
      session.ownTokenTopics.set(topic, grant);
    }
    const refusal = await session.ctx.access.check(grant, 'subscribe', topic);
    if (session.closed) return;
    if (refusal) {
      session.subscriptions.delete(topic);
      session.ownTokenTopics.delete(topic);
      return session.reply(id, refusal);
    }
    try {
      const sub = await session.ctx.hub.subscribe(session, topic, id, since);
      if (!sub || session.closed) return;
      // Ended while it was being set up (access withdrawn, its own token expired): let it go.
      if (session.subscriptions.get(topic) === null) session.subscriptions.set(topic, sub);
      else session.ctx.hub.unsubscribe(sub);
    } catch (err) {
      if (session.closed) return;
      session.subscriptions.delete(topic);
      failed(session, id, err, 'subscribe');
    }
  },

  async unsubscribe(session, { id, topic }) {
    const sub = session.subscriptions.get(topic);
    if (!sub) return session.reply(id, 'not_subscribed');
    session.subscriptions.delete(topic);
    session.ownTokenTopics.delete(topic);
    session.ctx.hub.unsubscribe(sub);
    session.send({ type: 'unsubscribed', id, topic });
  },

  async publish(session, { id, topic, data, ephemeral, idempotencyKey }) {
    const principal = session.principal!;
    if (!can(principal, 'publish', topic)) return session.reply(id, 'forbidden');
    if (isReservedTopic(topic)) return session.reply(id, 'reserved_topic');
    if (!session.admit(id, 'publish')) return;
    try {
      const outcome = await session.ctx.hub.publish(topic, {
        data,
        from: principal.id,
        ephemeral: ephemeral === true,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
      session.send(
        outcome.ephemeral
          ? { type: 'ack', id }
          : {
              type: 'ack',
              id,
              epoch: outcome.epoch,
              offset: outcome.offset,
              ...(outcome.duplicate ? { duplicate: true } : {}),
            },
      );
    } catch (err) {
      failed(session, id, err, 'publish');
    }
  },

  async refresh(session, { id, token }) {
    const result = await session.ctx.tokens.verify(token);
    if (session.closed) return;
    if (!result.ok) return session.reply(id, result.code);
    const next = result.principal;
    const current = session.principal!;
    if (next.kind !== 'token' || current.kind !== 'token' || next.sub !== current.sub) {
      return session.reply(id, 'subject_mismatch');
    }
    session.principal = next;
    // A narrower token ends the subscriptions, presence joins and watches it no longer covers,
    // each with a reason.
    for (const [topic, sub] of session.subscriptions) {
      if (sub && !session.ownTokenTopics.has(topic) && !can(next, 'subscribe', topic)) {
        session.endSubscription(topic, 'forbidden');
      }
    }
    for (const [key, { ref, own }] of session.streamGrants) {
      if (!own && !mayStillWatch(next, ref)) session.endStreamWatch(key, 'forbidden');
    }
    const { presence } = session.ctx;
    for (const topic of presence.heldBy(session.id, session)) {
      if (!can(next, 'presence', topic)) presence.end(topic, session.id, session, 'forbidden');
    }
    session.send({ type: 'refreshed', id, expiresAt: next.expiresAt });
  },
};

export const handlers: { [T in ClientMessageType]: Handler<T> } = {
  ...coreHandlers,
  ...presenceHandlers,
  ...conversationHandlers,
  ...streamHandlers,
};

/**
 * Dispatch a decoded message to its handler. Only `connect` is accepted before connecting. A
 * handler that throws fails its request with a code (a refusal's own, else `unavailable`); the
 * connection stays up.
 */
export async function dispatch(session: Session, message: ClientMessage): Promise<void> {
  if (message.type !== 'connect' && !session.principal) {
    session.reply(undefined, 'not_connected');
    session.closeWith(CloseCodes.protocolViolation, 'not connected');
    return;
  }
  await inTopicOrder(session, message, async () => {
    try {
      await (handlers[message.type] as Handler<typeof message.type>)(session, message as never);
    } catch (err) {
      if (message.type === 'connect') throw err;
      failed(session, message.id, err, message.type);
    }
  });
}

/** Requests that may overlap one another on a topic; each still waits for the changes before it. */
const overlapping = new Set<ClientMessageType>(['publish', 'typing.start', 'typing.stop']);

interface TopicQueue {
  /** The last request that changes what the connection holds on the topic (subscribe, presence...). */
  tail: Promise<void> | undefined;
  /** Publishes (and typing) started since that request. */
  overlapping: Set<Promise<void>>;
  pending: number;
}

const topicQueues = new WeakMap<Session, Map<string, TopicQueue>>();

/**
 * Run a connection's requests naming one topic in the order they came: an `unsubscribe` that
 * arrives while its `subscribe` is still checking access waits for it, so the last request wins
 * and no subscription is orphaned (a pipelining client, or React's StrictMode double mount, sends
 * exactly that). Publishes on a topic wait for the changes before them but not for each other;
 * requests for different topics run concurrently.
 */
function inTopicOrder(session: Session, message: ClientMessage, run: () => Promise<void>): Promise<void> {
  if (!('topic' in message)) return run();
  const { topic } = message;
  let topics = topicQueues.get(session);
  if (!topics) topicQueues.set(session, (topics = new Map()));
  let queue = topics.get(topic);
  if (!queue) topics.set(topic, (queue = { tail: undefined, overlapping: new Set(), pending: 0 }));
  const shared = overlapping.has(message.type);
  const waits = shared ? [] : [...queue.overlapping];
  if (queue.tail) waits.push(queue.tail);
  const done = waits.length === 0 ? run() : Promise.all(waits).then(run);
  const settled = done.then(
    () => {},
    () => {},
  );
  if (shared) queue.overlapping.add(settled);
  else queue.tail = settled;
  queue.pending++;
  const q = queue;
  const t = topics;
  void settled.then(() => {
    q.overlapping.delete(settled);
    if (--q.pending === 0 && t.get(topic) === q) t.delete(topic);
  });
  return done;
}
