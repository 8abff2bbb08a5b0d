import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Json, Operation } from '@inloop/protocol';
import type { ConversationService } from '../../domain/conversations.js';
import type { RateAction, RateLimits } from '../../domain/rate-limits.js';
import type { Authenticator } from './authenticate.js';
import {
  ConversationParams,
  CreateBody,
  DraftBody,
  DraftParams,
  MemberParams,
  MessageParams,
  MessageReceiptsReply,
  MessagesQuery,
  MessagesReply,
  ReceiptBody,
  SendBody,
  SentReply,
  State,
  TypingBody,
  Watermarks,
} from './conversation-schemas.js';
import { HttpProblem } from './problems.js';
import { documented, problems } from './schemas.js';

interface Deps {
  conversations: ConversationService;
  auth: Authenticator;
  limits: RateLimits;
  /** Bytes of message data per history page (config `maxHistoryPageBytes`). */
  maxHistoryPageBytes: number;
}

type Id = Static<typeof ConversationParams>;

/**
 * `/v1/conversations`: backends create conversations and manage members with an API key; members
 * (browsers with a token, bots with a token or with an API key naming the member in `from`)
 * send, stream drafts, show typing and move their receipts.
 */
export function conversationRoutes(
  app: FastifyInstance,
  { conversations, auth, limits, maxHistoryPageBytes }: Deps,
): void {
  /**
   * The member acting, checked: a token as its subject, an API key as `from`. `action` is taken
   * from the caller's rate limit first (an API key's budget covers every member it acts for).
   */
  const actor = async (
    request: FastifyRequest,
    action: RateAction,
    id: string,
    op: Operation,
    from?: string,
  ): Promise<string> => {
    const principal = await auth.principal(request);
    limits.admit(principal, action);
    return conversations.actor(id, principal, op, from);
  };

  /** Reads: a member's token, or an API key (the backend sees every conversation). */
  const reader = async (request: FastifyRequest, id: string): Promise<void> => {
    const principal = await auth.principal(request);
    if (principal.kind === 'token') await conversations.actor(id, principal, 'subscribe');
  };

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/v1/conversations',
    {
      schema: documented({
        summary: 'Create a conversation (API key)',
        description: 'Its topic is `conv:<id>`; members reach it with tokens scoped to that topic.',
        body: CreateBody,
        response: { 201: State, ...problems },
      }),
    },
    async (request, reply) => {
      await auth.backend(request);
      const { id, title, meta, members } = request.body;
      const state = await conversations.create({
        members,
        ...(id === undefined ? {} : { id }),
        ...(title === undefined ? {} : { title }),
        ...(meta === undefined ? {} : { meta: meta as Json }),
      });
      return reply.code(201).header('location', `/v1/conversations/${state.id}`).send(state);
    },
  );

  app.get<{ Params: Id }>(
    '/v1/conversations/:id',
    {
      schema: documented({
        summary: 'A conversation: members, receipts, unread counts',
        params: ConversationParams,
        response: { 200: State, 404: Type.Ref('Problem'), ...problems },
      }),
    },
    async (request) => {
      await reader(request, request.params.id);
      const state = await conversations.state(request.params.id);
      if (!state) throw new HttpProblem('not_found', 'no such conversation');
      return state;
    },
  );

  app.put<{ Params: Static<typeof MemberParams> }>(
    '/v1/conversations/:id/members/:member',
    {
      schema: documented({
        summary: 'Add a member (API key)',
        params: MemberParams,
        response: { 204: Type.Null(), ...problems },
      }),
    },
    async (request, reply) => {
      await auth.backend(request);
      await conversations.addMember(request.params.id, request.params.member);
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Static<typeof MemberParams> }>(
    '/v1/conversations/:id/members/:member',
    {
      schema: documented({
        summary: 'Remove a member (API key)',
        params: MemberParams,
        response: { 204: Type.Null(), ...problems },
      }),
    },
    async (request, reply) => {
      await auth.backend(request);
      await conversations.removeMember(request.params.id, request.params.member);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Id; Body: Static<typeof SendBody> }>(
    '/v1/conversations/:id/messages',
    {
      schema: documented({
        summary: 'Send a message',
        description:
          'Returns the stored message ("sent"). A resend with the same `clientId` returns the original (200, `duplicate`).',
        params: ConversationParams,
        body: SendBody,
        response: { 200: SentReply, 201: SentReply, ...problems },
      }),
    },
    async (request, reply) => {
      const { from, text, data, clientId } = request.body;
      const member = await actor(request, 'publish', request.params.id, 'publish', from);
      const sent = await conversations.send(request.params.id, member, {
        ...(text === undefined ? {} : { text }),
        ...(data === undefined ? {} : { data: data as Json }),
        ...(clientId === undefined ? {} : { clientId }),
      });
      return reply.code(sent.duplicate ? 200 : 201).send(sent);
    },
  );

  app.get<{ Params: Id; Querystring: Static<typeof MessagesQuery> }>(
    '/v1/conversations/:id/messages',
    {
      schema: documented({
        summary: 'Messages after an offset',
        params: ConversationParams,
        querystring: MessagesQuery,
        response: { 200: MessagesReply, ...problems },
      }),
    },
    async (request) => {
      await reader(request, request.params.id);
      const { after, limit } = request.query;
      return conversations.messages(request.params.id, after, limit, maxHistoryPageBytes);
    },
  );

  app.get<{ Params: Static<typeof MessageParams> }>(
    '/v1/conversations/:id/messages/:offset',
    {
      schema: documented({
        summary: "A message's state for each recipient, with times",
        params: MessageParams,
        response: { 200: MessageReceiptsReply, 404: Type.Ref('Problem'), ...problems },
      }),
    },
    async (request) => {
      await reader(request, request.params.id);
      return conversations.message(request.params.id, request.params.offset);
    },
  );

  app.post<{ Params: Id; Body: Static<typeof ReceiptBody> }>(
    '/v1/conversations/:id/receipts',
    {
      schema: documented({
        summary: "Move the member's delivered / read watermarks",
        description:
          'Watermarks only grow: a lower value changes nothing. An offset past the latest message is `invalid_receipt`.',
        params: ConversationParams,
        body: ReceiptBody,
        response: { 200: Watermarks, ...problems },
      }),
    },
    async (request) => {
      const { from, delivered, read } = request.body;
      if (delivered === undefined && read === undefined)
        throw new HttpProblem('invalid_receipt', 'give delivered or read');
      const member = await actor(request, 'receipt', request.params.id, 'subscribe', from);
      return conversations.receipt(request.params.id, member, {
        ...(delivered === undefined ? {} : { delivered }),
        ...(read === undefined ? {} : { read }),
      });
    },
  );

  app.post<{ Params: Id; Body: Static<typeof TypingBody> }>(
    '/v1/conversations/:id/typing',
    {
      schema: documented({
        summary: 'Show or clear "typing..." for the member',
        description: 'The indicator turns itself off after `typingTtlMs` without a renewal, and when the member sends.',
        params: ConversationParams,
        body: TypingBody,
        response: { 204: Type.Null(), ...problems },
      }),
    },
    async (request, reply) => {
      const member = await actor(request, 'signal', request.params.id, 'publish', request.body.from);
      await conversations.typing(request.params.id, member, request.body.typing);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Static<typeof DraftParams>; Body: Static<typeof DraftBody> }>(
    '/v1/conversations/:id/drafts/:clientId',
    {
      schema: documented({
        summary: 'Stream a reply: append text to a draft',
        description:
          'Members see the text so far (`message.draft` signals); sending a message with the same `clientId` replaces the draft.',
        params: DraftParams,
        body: DraftBody,
        response: { 202: Type.Object({ seq: Type.Integer(), length: Type.Integer() }), ...problems },
      }),
    },
    async (request, reply) => {
      const member = await actor(request, 'signal', request.params.id, 'publish', request.body.from);
      const result = await conversations.draft(request.params.id, member, request.params.clientId, request.body.text);
      return reply.code(202).send(result);
    },
  );
}
