import fc from 'fast-check';
import type { ClientMessageType } from '@inloop/protocol';
import { CRASH_DEPTH, hostileJson, nestedArrays, Raw, toJson, wrongType, type FuzzContext } from './fuzz-inputs.js';

/**
 * WebSocket frames for the fuzz suite: every client message type of packages/protocol, valid or
 * with one field spoiled, and frames that are not messages at all (invalid JSON, binary, deep
 * nesting, over the size limit).
 */

/** A frame as sent: text, or binary bytes. */
export type FuzzFrame = { text: string } | { binary: Uint8Array };

type Fields = Record<string, fc.Arbitrary<unknown>>;

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Request ids: mostly valid, sometimes past 2^53, negative, fractional or not a number. */
const id = fc.oneof(
  { weight: 8, arbitrary: fc.nat() },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      -1,
      1.5,
      2 ** 53,
      Number.MAX_VALUE,
      '7',
      null,
      new Raw('1e400'),
      new Raw('1e21'),
      new Raw('-0'),
    ),
  },
);

/** The fields of each client message type, valid values first. */
function messageFields(ctx: FuzzContext): Record<ClientMessageType, Fields> {
  const topic = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.topics) },
    fc.stringMatching(/^[A-Za-z0-9_\-.:@=+]{1,20}$/),
    fc.constantFrom('', 'x'.repeat(201), 'a b', 'job:x', 'conv:fz', '__proto__'),
  );
  const conversation = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.conversations) },
    fc.string({ maxLength: 20 }),
  );
  const tokens = ctx.credentials.filter((c): c is string => !!c).map((c) => c.replace(/^Bearer /, ''));
  const token = fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 40 }), fc.constant('t'.repeat(9000)));
  const data = fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, hostileJson);
  const offset = fc.oneof(fc.nat(100), fc.constantFrom<unknown>(-1, 1.5, new Raw('1e400'), 2 ** 60));
  const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constant('t'.repeat(16_001)));
  const clientId = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constant('c'.repeat(129)));
  const stream = fc.oneof(
    fc.record({ job: fc.string({ maxLength: 12 }), name: fc.constantFrom('answer', '', 'a/b', 'x'.repeat(65)) }),
    fc.record({ conversation, message: clientId }),
    data,
  );
  return {
    connect: { token },
    subscribe: {
      id,
      topic,
      since: opt(fc.record({ epoch: fc.string({ maxLength: 10 }), offset })),
      token: opt(token),
    },
    unsubscribe: { id, topic },
    publish: {
      id,
      topic,
      data,
      ephemeral: opt(fc.boolean()),
      idempotencyKey: opt(fc.string({ minLength: 1, maxLength: 20 })),
    },
    refresh: { id, token },
    'presence.join': { id, topic, meta: opt(data), device: opt(fc.string({ maxLength: 70 })) },
    'presence.update': { id, topic, meta: data },
    'presence.leave': { id, topic },
    'presence.watch': { id, topic },
    'presence.unwatch': { id, topic },
    'typing.start': { id, topic },
    'typing.stop': { id, topic },
    'conversation.send': { id, conversation, text: opt(text), data: opt(data), clientId: opt(clientId) },
    'conversation.draft': { id, conversation, clientId, text },
    'conversation.receipt': { id, conversation, delivered: opt(offset), read: opt(offset) },
    'conversation.get': { id, conversation },
    'stream.subscribe': { id, stream, from: opt(offset), token: opt(token) },
    'stream.unsubscribe': { id, stream },
    'stream.stop': { id, stream, token: opt(token) },
  };
}

/** A message of one type: valid, or with one field replaced by a hostile value or removed. */
function message(type: ClientMessageType, fields: Fields): fc.Arbitrary<Record<string, unknown>> {
  const valid = fc.record(fields).map((m) => ({ type, ...m }));
  const names = ['type', ...Object.keys(fields)];
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    {
      weight: 2,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...names), wrongType)
        .map(([m, k, bad]) => ({ ...m, [k]: bad }) as Record<string, unknown>),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom(...names)).map(([m, k]) => ({ ...m, [k]: undefined })),
    },
    {
      weight: 1,
      arbitrary: valid.map((m) => {
        const out: Record<string, unknown> = { ...m };
        Object.defineProperty(out, '__proto__', { value: { type: 'connect' }, enumerable: true });
        return out;
      }),
    },
  );
}

/** Any frame a hostile or broken client might send. */
export function frameArbitrary(ctx: FuzzContext): fc.Arbitrary<FuzzFrame> {
  const fields = messageFields(ctx);
  const messages = (Object.keys(fields) as ClientMessageType[]).map((type) => message(type, fields[type]));
  return fc.oneof(
    { weight: 10, arbitrary: fc.oneof(...messages).map((m) => ({ text: toJson(m) })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ text })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '',
          '{',
          'null',
          '[]',
          '"publish"',
          '{"type":"publish"',
          '{"type":"publish","id":1,"topic":"fz","data":1}\n{"type":"publish","id":2}',
          nestedArrays(CRASH_DEPTH).text,
          `{"type":"publish","id":1,"topic":"fz","data":${nestedArrays(CRASH_DEPTH).text}}`,
        )
        .map((text) => ({ text })),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })) },
    { weight: 1, arbitrary: fc.constant({ text: 'x'.repeat(70_000) }) },
  );
}

/** A publish of hostile data to the watched topic: the frame of issue 11's crash, and its relatives. */
export function deepPublishArbitrary(topic: string): fc.Arbitrary<FuzzFrame> {
  return fc
    .record({ id: fc.nat(), ephemeral: fc.boolean(), data: hostileJson })
    .map((m) => ({ text: toJson({ type: 'publish', topic, ...m }) }));
}
