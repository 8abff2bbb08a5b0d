import { Type } from '@sinclair/typebox';
import { MAX_CLIENT_ID_LENGTH, MAX_MESSAGE_TEXT } from '@inloop/protocol';

/** Route schemas of `/v1/conversations`: they validate requests and generate `/openapi.json`. */

const MemberId = Type.String({ pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$', description: 'Member id (token subject)' });
const From = Type.Optional(
  Type.String({
    pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$',
    description: 'The member to act as: required with an API key; with a token, its subject (or omitted)',
  }),
);

export const ConversationParams = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_\\-.@=+]{1,100}$', description: 'Conversation id' }),
});
export const MemberParams = Type.Object({ id: ConversationParams.properties.id, member: MemberId });
export const MessageParams = Type.Object({
  id: ConversationParams.properties.id,
  offset: Type.Integer({ minimum: 1 }),
});
export const DraftParams = Type.Object({
  id: ConversationParams.properties.id,
  clientId: Type.String({ minLength: 1, maxLength: MAX_CLIENT_ID_LENGTH }),
});

export const CreateBody = Type.Object({
  id: Type.Optional(ConversationParams.properties.id),
  title: Type.Optional(Type.String({ maxLength: 200 })),
  meta: Type.Optional(Type.Unknown()),
  members: Type.Array(MemberId, { minItems: 1, maxItems: 1000 }),
});

export const SendBody = Type.Object({
  from: From,
  text: Type.Optional(Type.String({ maxLength: MAX_MESSAGE_TEXT })),
  data: Type.Optional(Type.Unknown()),
  clientId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_CLIENT_ID_LENGTH,
      description: 'Client-generated id: a resend with the same id returns the original message',
    }),
  ),
});

export const ReceiptBody = Type.Object({
  from: From,
  delivered: Type.Optional(Type.Integer({ minimum: 0 })),
  read: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const TypingBody = Type.Object({ from: From, typing: Type.Boolean() });

export const DraftBody = Type.Object({ from: From, text: Type.String({ maxLength: MAX_MESSAGE_TEXT }) });

export const MessagesQuery = Type.Object({
  after: Type.Integer({ minimum: 0, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});

const Nullable = <T extends ReturnType<typeof Type.Integer>>(t: T) => Type.Union([t, Type.Null()]);

export const Watermarks = Type.Object({
  member: Type.String(),
  delivered: Type.Integer(),
  deliveredAt: Nullable(Type.Integer()),
  read: Type.Integer(),
  readAt: Nullable(Type.Integer()),
});

export const Message = Type.Object({
  id: Type.String(),
  clientId: Type.Optional(Type.String()),
  text: Type.Optional(Type.String()),
  data: Type.Optional(Type.Unknown()),
  conversation: Type.String(),
  epoch: Type.String(),
  offset: Type.Integer(),
  from: Type.String(),
  ts: Type.Integer(),
});

export const State = Type.Object({
  id: Type.String(),
  topic: Type.String(),
  title: Type.Union([Type.String(), Type.Null()]),
  meta: Type.Unknown(),
  createdAt: Type.Integer(),
  epoch: Type.String(),
  latest: Type.Integer(),
  members: Type.Array(Type.Object({ ...Watermarks.properties, joinedAt: Type.Integer(), unread: Type.Integer() })),
});

export const SentReply = Type.Object({ message: Message, duplicate: Type.Boolean() });

export const MessagesReply = Type.Object({
  epoch: Type.String(),
  earliest: Type.Integer(),
  latest: Type.Integer(),
  next: Type.Integer({ description: 'Pass as `after` to read the next page: the last offset returned (or `after`)' }),
  more: Type.Boolean({
    description:
      'True when publications after `next` exist now (the page stopped at `limit` or at maxHistoryPageBytes)',
  }),
  messages: Type.Array(Message),
});

export const MessageReceiptsReply = Type.Object({
  message: Message,
  recipients: Type.Array(
    Type.Object({
      member: Type.String(),
      state: Type.Union([Type.Literal('sent'), Type.Literal('delivered'), Type.Literal('read')]),
      deliveredAt: Nullable(Type.Integer()),
      readAt: Nullable(Type.Integer()),
    }),
  ),
  counts: Type.Object({ recipients: Type.Integer(), delivered: Type.Integer(), read: Type.Integer() }),
});
