import { createHash } from 'node:crypto';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  preValidationHookHandler,
} from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { StreamRef, StreamServerMessage, StreamTextReply } from '@inloop/protocol';
import type { Principal } from '../../auth/principal.js';
import type { Access } from '../../auth/access.js';
import type { JobService } from '../../domain/jobs/service.js';
import { streamRefusal } from '../../domain/streams/access.js';
import type { StreamService } from '../../domain/streams/service.js';
import type { PublicationCodec } from '../../domain/outlet.js';
import { sseEvent } from '../../session/codecs.js';
import type { SseTransport } from '../sse.js';
import type { Authenticator } from './authenticate.js';
import { HttpProblem } from './problems.js';
import { documented, problems } from './schemas.js';

interface Deps {
  streams: StreamService;
  jobs: JobService;
  auth: Authenticator;
  access: Access;
  sse: SseTransport;
  /** Longest text one append may carry. */
  maxAppendChars: number;
}

const JobStreamParams = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Stream name (`answer`)' }),
});
const MessageStreamParams = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9_\\-.@=+]{1,100}$', description: 'Conversation id' }),
  message: Type.String({ minLength: 1, maxLength: 128, description: 'The client id of the streamed message' }),
});
const FromQuery = Type.Object({
  from: Type.Optional(Type.Integer({ minimum: 0, description: 'Character offset (UTF-16 code units) the reader has' })),
  token: Type.Optional(Type.String({ description: 'A client token (for EventSource, which cannot send headers)' })),
});
const AppendBody = Type.Object({
  lease: Type.String({ minLength: 1, maxLength: 200, description: 'The lease token from /v1/workers/lease' }),
  append: Type.Optional(Type.String({ minLength: 1, description: 'Text to append (at most maxStreamAppendChars)' })),
  end: Type.Optional(Type.Union([Type.Literal('finished'), Type.Literal('failed')])),
});
const TextReply = Type.Object({
  stream: Type.String(),
  from: Type.Integer(),
  to: Type.Integer(),
  text: Type.String(),
  length: Type.Integer(),
  end: Type.Union([Type.String(), Type.Null()]),
});
const AppendReply = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  length: Type.Integer(),
  end: Type.Union([Type.String(), Type.Null()]),
  cancelRequested: Type.Boolean(),
  leaseExpiresAt: Type.Integer(),
  fence: Type.Integer(),
});
const StopReply = Type.Object({ stream: Type.String(), length: Type.Integer(), end: Type.String() });

/** The `id` of a `stream.end` event: the length and `:end`, so that a watcher that has it is told apart. */
const END_ID = ':end';

/**
 * SSE for a stream watch: a piece's `id` is the offset the watcher has after it, and the end's is
 * `<length>:end`, so a reconnect that has all the text but not the end still gets the end.
 */
const streamSseCodec: PublicationCodec = {
  encode: () => Buffer.alloc(0),
  message(message) {
    const m = message as StreamServerMessage;
    const id =
      m.type === 'stream.text' || m.type === 'stream.delta'
        ? String(m.to)
        : m.type === 'stream.end'
          ? `${m.length}${END_ID}`
          : undefined;
    return Buffer.from(sseEvent(m.type, m, id));
  },
};

/** Where a watcher resumes: `Last-Event-ID` (an offset, or `<offset>:end`) wins over `?from=`. */
function resumeFrom(request: FastifyRequest, query: number | undefined): { offset: number; sawEnd: boolean } {
  const header = request.headers['last-event-id'];
  if (typeof header === 'string' && header.length > 0) {
    const match = /^(\d{1,15})(:end)?$/.exec(header);
    if (!match) throw new HttpProblem('invalid_position', 'Last-Event-ID must be an offset');
    return { offset: Number(match[1]), sawEnd: match[2] !== undefined };
  }
  return { offset: query ?? 0, sawEnd: false };
}

/**
 * `?from=` is a position: anything but a decimal offset is `invalid_position`, as over WebSocket
 * (before the query's own checks, which would say `bad_request`).
 */
const fromIsOffset: onRequestHookHandler = async (request) => {
  const raw = (request.query as Record<string, unknown>).from;
  if (raw === undefined) return;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw) || !Number.isSafeInteger(Number(raw)))
    throw new HttpProblem('invalid_position', 'from must be a character offset (a non-negative integer)');
};

/**
 * An append's fields are strings as sent: the app's validator coerces types (`123` would append
 * the text "123"), so they are checked before it runs.
 */
const appendFieldsAreStrings: preValidationHookHandler = async (request) => {
  const body = request.body as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  for (const field of ['lease', 'append', 'end'])
    if (body[field] !== undefined && typeof body[field] !== 'string')
      throw new HttpProblem('bad_request', `${field} must be a string`);
};

/**
 * The largest append body: `maxAppendChars` characters each escaped as `\uXXXX` (6 bytes, the
 * worst case of JSON), with room for the lease (also escaped) and the rest of the envelope.
 */
export const appendBodyLimit = (maxAppendChars: number): number => 6 * maxAppendChars + 6 * 200 + 1024;

/**
 * Streams over HTTP (docs/streams.md): a worker's appends under its lease, reads from an offset
 * (immutable and cacheable once ended), SSE watches that resume by `Last-Event-ID`, and stop.
 */
export function streamRoutes(app: FastifyInstance, d: Deps): void {
  const allowed = async (principal: Principal, ref: StreamRef, action: 'watch' | 'stop') => {
    const refusal = await streamRefusal(d.access, principal, ref, action);
    if (refusal) throw new HttpProblem(refusal);
  };

  const read = async (request: FastifyRequest, reply: FastifyReply, ref: StreamRef, from: number | undefined) => {
    await allowed(await d.auth.principal(request), ref, 'watch');
    const text = await d.streams.read(ref, from ?? 0);
    return cacheable(request, reply, text);
  };

  const events = async (request: FastifyRequest, reply: FastifyReply, ref: StreamRef, from: number | undefined) => {
    const principal = await d.auth.streamPrincipal(request);
    await allowed(principal, ref, 'watch');
    const { offset, sawEnd } = resumeFrom(request, from);
    // Before the response turns into a stream: 404 for no such stream, and 204 for a watcher
    // that has had the end (a watcher with only the text still gets the `stream.end`).
    const head = await d.streams.read(ref, offset);
    if (head.end !== null && sawEnd) return reply.code(204).send();
    await d.sse.openWatch(request, reply, principal, streamSseCodec, async (conn) => {
      const subject = principal.kind === 'token' ? principal.sub : null;
      const watch = await d.streams.watch(conn, ref, offset, undefined, subject);
      if (watch.revoked) {
        conn.end('forbidden');
        return () => {};
      }
      if (watch.done) {
        conn.finish();
        return () => {};
      }
      watch.onDone = () => conn.finish();
      watch.onRevoke = () => conn.end('forbidden');
      return () => d.streams.watchers.unwatch(watch);
    });
  };

  const stop = async (request: FastifyRequest, ref: StreamRef) => {
    await allowed(await d.auth.principal(request), ref, 'stop');
    const ended = await d.streams.stop(ref);
    return {
      stream: 'job' in ref ? `job:${ref.job}/${ref.name}` : `conv:${ref.conversation}/${ref.message}`,
      ...ended,
    };
  };

  // -- jobs -----------------------------------------------------------------------------------

  app.post<{ Params: Static<typeof JobStreamParams>; Body: Static<typeof AppendBody> }>(
    '/v1/jobs/:id/streams/:name',
    {
      bodyLimit: appendBodyLimit(d.maxAppendChars),
      preValidation: appendFieldsAreStrings,
      schema: documented({
        summary: 'Append to a job’s stream, or end it (remote worker, under its lease)',
        description:
          'Renews the lease like any report. `append` (a string of at most maxStreamAppendChars UTF-16 code units, with no lone surrogate) and `end` may come together (append first). A stopped stream answers 409 `stream_ended`; `cancelRequested` then says to stop the work.',
        params: JobStreamParams,
        body: AppendBody,
        response: { 200: AppendReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.backend(request);
      const { id, name } = request.params;
      const { lease, append, end } = request.body;
      if (append === undefined && end === undefined) throw new HttpProblem('bad_request', 'send append, end, or both');
      if (append !== undefined && append.length > d.maxAppendChars)
        throw new HttpProblem('payload_too_large', `an append carries at most ${d.maxAppendChars} characters`);
      const state = await d.jobs.report(id, lease, { sign: true });
      const ref = { job: id, name };
      let range = { from: 0, to: 0 };
      if (append !== undefined) range = await d.streams.append(ref, append);
      let ended = null;
      if (end !== undefined) ended = await d.streams.end(ref, end);
      const now = await d.streams.read(ref, Number.MAX_SAFE_INTEGER);
      if (append === undefined) range = { from: now.length, to: now.length };
      return { ...range, length: ended?.length ?? now.length, end: ended?.end ?? now.end, ...state };
    },
  );

  app.get<{ Params: Static<typeof JobStreamParams>; Querystring: Static<typeof FromQuery> }>(
    '/v1/jobs/:id/streams/:name',
    {
      onRequest: fromIsOffset,
      schema: documented({
        summary: 'Read a job’s stream from an offset',
        description:
          'At most maxStreamPageChars of text from `from`; read again from `to` while `to < length`. `Cache-Control: no-store` while open; once ended, an ETag and an immutable private Cache-Control. Needs job:read.',
        params: JobStreamParams,
        querystring: FromQuery,
        response: { 200: TextReply, ...problems },
      }),
    },
    (request, reply) => read(request, reply, { job: request.params.id, name: request.params.name }, request.query.from),
  );

  app.get<{ Params: Static<typeof JobStreamParams>; Querystring: Static<typeof FromQuery> }>(
    '/v1/jobs/:id/streams/:name/events',
    {
      onRequest: fromIsOffset,
      schema: documented({
        summary: 'Watch a job’s stream over Server-Sent Events',
        description:
          '`stream.text` (the text from `from`), then `stream.delta`s, each with `id` = the offset after it, and one `stream.end` with `id` = `<length>:end`; `Last-Event-ID` resumes (an offset gets what follows it, the end included); 204 to a `Last-Event-ID` of `<length>:end` once ended. Needs job:read.',
        params: JobStreamParams,
        querystring: FromQuery,
        response: { 200: { type: 'string', description: 'text/event-stream' }, ...problems },
      }),
    },
    (request, reply) =>
      events(request, reply, { job: request.params.id, name: request.params.name }, request.query.from),
  );

  app.post<{ Params: Static<typeof JobStreamParams> }>(
    '/v1/jobs/:id/streams/:name/stop',
    {
      schema: documented({
        summary: 'Stop a job’s stream: it ends `stopped` with what it has, and the job is cancelled',
        description: 'Closing watchers never stops a stream; this does. Needs job:cancel (a job’s token has it).',
        params: JobStreamParams,
        response: { 200: StopReply, ...problems },
      }),
    },
    (request) => stop(request, { job: request.params.id, name: request.params.name }),
  );

  // -- conversation messages --------------------------------------------------------------------

  app.get<{ Params: Static<typeof MessageStreamParams>; Querystring: Static<typeof FromQuery> }>(
    '/v1/conversations/:id/streams/:message',
    {
      onRequest: fromIsOffset,
      schema: documented({
        summary: 'Read a streamed message from an offset',
        description: 'As for a job’s stream; needs membership and subscribe on the conversation.',
        params: MessageStreamParams,
        querystring: FromQuery,
        response: { 200: TextReply, ...problems },
      }),
    },
    (request, reply) =>
      read(request, reply, { conversation: request.params.id, message: request.params.message }, request.query.from),
  );

  app.get<{ Params: Static<typeof MessageStreamParams>; Querystring: Static<typeof FromQuery> }>(
    '/v1/conversations/:id/streams/:message/events',
    {
      onRequest: fromIsOffset,
      schema: documented({
        summary: 'Watch a streamed message over Server-Sent Events',
        params: MessageStreamParams,
        querystring: FromQuery,
        response: { 200: { type: 'string', description: 'text/event-stream' }, ...problems },
      }),
    },
    (request, reply) =>
      events(request, reply, { conversation: request.params.id, message: request.params.message }, request.query.from),
  );

  app.post<{ Params: Static<typeof MessageStreamParams> }>(
    '/v1/conversations/:id/streams/:message/stop',
    {
      schema: documented({
        summary: 'Stop a streamed message: it ends `stopped`, and the writer’s next chunk is refused',
        params: MessageStreamParams,
        response: { 200: StopReply, ...problems },
      }),
    },
    (request) => stop(request, { conversation: request.params.id, message: request.params.message }),
  );
}

/** Once ended a stream's text never changes: an ETag and a long private cache; before, no-store. */
function cacheable(
  request: FastifyRequest,
  reply: FastifyReply,
  text: StreamTextReply,
): StreamTextReply | FastifyReply {
  if (text.end === null) {
    void reply.header('cache-control', 'no-store');
    return text;
  }
  const tag = `"${createHash('sha256').update(`${text.stream}\n${text.from}\n${text.to}\n${text.length}\n${text.end}`).digest('base64url').slice(0, 27)}"`;
  void reply.header('etag', tag).header('cache-control', 'private, max-age=31536000, immutable');
  if (request.headers['if-none-match'] === tag) return reply.code(304).send();
  return text;
}
