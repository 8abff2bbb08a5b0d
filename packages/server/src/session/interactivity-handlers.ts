import {
  CONVERSATION_TOPIC_PREFIX,
  isReservedTopic,
  type ClientMessage,
  type ClientMessageType,
} from '@inloop/protocol';
import type { Session } from './session.js';

type Handler<T extends ClientMessageType> = (
  session: Session,
  message: Extract<ClientMessage, { type: T }>,
) => Promise<void>;

type PresenceType = Extract<ClientMessageType, `presence.${string}` | `typing.${string}`>;
type ConversationType = Extract<ClientMessageType, `conversation.${string}`>;

/** The member a connection speaks for: its token's subject. */
export function memberOf(session: Session): string {
  const p = session.principal!;
  return p.kind === 'token' ? p.sub : p.id;
}

/**
 * Whether `op` on `topic` is allowed; replies with the refusal otherwise. A signal (`publish`:
 * typing) on a reserved topic is `reserved_topic`, as a publish is, except on a conversation's
 * topic: that is where its members type (membership checked).
 */
async function allowed(session: Session, id: number, op: 'presence' | 'publish', topic: string): Promise<boolean> {
  if (op === 'publish' && isReservedTopic(topic) && !topic.startsWith(CONVERSATION_TOPIC_PREFIX)) {
    session.reply(id, 'reserved_topic');
    return false;
  }
  const refusal = await session.ctx.access.check(session.principal!, op, topic);
  if (refusal) session.reply(id, refusal);
  return refusal === null && !session.closed;
}

/**
 * Presence and typing. A connection joins as its token's subject only: there is no member
 * field to forge. Joins and updates count against the principal's presence budget, typing
 * against its signal budget (watching, leaving and unwatching cost nothing: they only read or
 * release).
 */
export const presenceHandlers: { [T in PresenceType]: Handler<T> } = {
  async 'presence.join'(session, { id, topic, meta, device }) {
    const { presence, config } = session.ctx;
    if (
      !presence.has(topic, memberOf(session), session.id) &&
      presence.watchedBy(session) >= config.maxSubscriptionsPerConnection
    ) {
      return session.reply(id, 'too_many_subscriptions');
    }
    if (!session.admit(id, 'presence') || !(await allowed(session, id, 'presence', topic))) return;
    presence.join(topic, memberOf(session), session.id, {
      ...(meta === undefined ? {} : { meta }),
      ...(device === undefined ? {} : { device }),
    });
    await presence.ready(topic);
    if (session.closed) return;
    session.send({ ...presence.watch(topic, session), id });
  },

  async 'presence.update'(session, { id, topic, meta }) {
    if (!session.admit(id, 'presence')) return;
    if (!session.ctx.presence.has(topic, memberOf(session), session.id)) {
      return session.reply(id, 'not_found', 'join the topic first');
    }
    session.ctx.presence.update(topic, memberOf(session), meta);
    session.send({ type: 'ack', id });
  },

  async 'presence.leave'(session, { id, topic }) {
    session.ctx.presence.leave(topic, session.id);
    session.ctx.presence.unwatch(topic, session);
    session.send({ type: 'ack', id });
  },

  async 'presence.watch'(session, { id, topic }) {
    const { presence, config } = session.ctx;
    if (presence.watchedBy(session) >= config.maxSubscriptionsPerConnection) {
      return session.reply(id, 'too_many_subscriptions');
    }
    if (!(await allowed(session, id, 'presence', topic))) return;
    await presence.ready(topic);
    if (session.closed) return;
    session.send({ ...presence.watch(topic, session), id });
  },

  async 'presence.unwatch'(session, { id, topic }) {
    session.ctx.presence.unwatch(topic, session);
    session.send({ type: 'ack', id });
  },

  async 'typing.start'(session, { id, topic }) {
    if (!session.admit(id, 'signal') || !(await allowed(session, id, 'publish', topic))) return;
    await session.ctx.typing.start(topic, memberOf(session));
    session.send({ type: 'ack', id });
  },

  async 'typing.stop'(session, { id, topic }) {
    if (!session.admit(id, 'signal') || !(await allowed(session, id, 'publish', topic))) return;
    await session.ctx.typing.stop(topic, memberOf(session));
    session.send({ type: 'ack', id });
  },
};

/**
 * Conversations over WebSocket, as the token's subject (membership checked each time). Sends
 * count against the principal's publish budget, drafts against its signal budget, receipts
 * against its receipt budget, each taken before the membership lookup.
 */
export const conversationHandlers: { [T in ConversationType]: Handler<T> } = {
  async 'conversation.send'(session, { id, conversation, text, data, clientId }) {
    const { conversations } = session.ctx;
    if (!session.admit(id, 'publish')) return;
    const member = await conversations.actor(conversation, session.principal!, 'publish');
    const sent = await conversations.send(conversation, member, {
      ...(text === undefined ? {} : { text }),
      ...(data === undefined ? {} : { data }),
      ...(clientId === undefined ? {} : { clientId }),
    });
    session.send({ type: 'conversation.sent', id, ...sent });
  },

  async 'conversation.draft'(session, { id, conversation, clientId, text }) {
    const { conversations } = session.ctx;
    if (!session.admit(id, 'signal')) return;
    const member = await conversations.actor(conversation, session.principal!, 'publish');
    await conversations.draft(conversation, member, clientId, text);
    session.send({ type: 'ack', id });
  },

  async 'conversation.receipt'(session, { id, conversation, delivered, read }) {
    const { conversations } = session.ctx;
    if (!session.admit(id, 'receipt')) return;
    const member = await conversations.actor(conversation, session.principal!, 'subscribe');
    const receipt = await conversations.receipt(conversation, member, {
      ...(delivered === undefined ? {} : { delivered }),
      ...(read === undefined ? {} : { read }),
    });
    session.send({ type: 'conversation.receipt', id, conversation, receipt });
  },

  async 'conversation.get'(session, { id, conversation }) {
    const { conversations } = session.ctx;
    await conversations.actor(conversation, session.principal!, 'subscribe');
    const state = await conversations.state(conversation);
    if (!state) return session.reply(id, 'not_found');
    session.send({ type: 'conversation.state', id, conversation: state });
  },
};
