import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeClientMessage,
  decodeServerFrame,
  ErrorCatalog,
  formatEventId,
  parseEventId,
  type ClientMessage,
} from '@inloop/protocol';

const topicChar = fc.constantFrom(...'abcXYZ019_-.:@=+'.split(''));
const topic = fc.string({ unit: topicChar, minLength: 1, maxLength: 40 });
const epoch = fc.string({ unit: fc.constantFrom(...'abcXYZ019_-'.split('')), minLength: 1, maxLength: 12 });
const id = fc.nat({ max: 2 ** 40 });
/** A key the decoder refuses by design (prototype_key, see json-limits.ts): not a well-formed message. */
const hasPrototypeKey = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  (Object.hasOwn(v, '__proto__') ||
    (Object.hasOwn(v, 'constructor') &&
      typeof (v as { constructor: unknown }).constructor === 'object' &&
      (v as { constructor: object | null }).constructor !== null &&
      Object.hasOwn((v as { constructor: object }).constructor, 'prototype')) ||
    Object.values(v).some(hasPrototypeKey));
// fast-check's JSON values include an own `__proto__` key now and then (seed 877425997 did).
const json = fc.jsonValue().filter((v) => v !== undefined && !hasPrototypeKey(v));

const clientMessage = fc.oneof(
  fc.record({ type: fc.constant('connect' as const), token: fc.string({ maxLength: 200 }) }),
  fc.record(
    { type: fc.constant('subscribe' as const), id, topic, since: fc.record({ epoch, offset: fc.nat() }) },
    { requiredKeys: ['type', 'id', 'topic'] },
  ),
  fc.record({ type: fc.constant('unsubscribe' as const), id, topic }),
  fc.record(
    {
      type: fc.constant('publish' as const),
      id,
      topic,
      data: json,
      ephemeral: fc.boolean(),
      idempotencyKey: fc.string({ minLength: 1, maxLength: 128 }),
    },
    { requiredKeys: ['type', 'id', 'topic', 'data'] },
  ),
  fc.record({ type: fc.constant('refresh' as const), id, token: fc.string({ maxLength: 200 }) }),
) as unknown as fc.Arbitrary<ClientMessage>;

describe('the client message decoder', () => {
  it('accepts every well-formed message and returns it unchanged', () => {
    fc.assert(
      fc.property(clientMessage, (message) => {
        const decoded = decodeClientMessage(JSON.stringify(message));
        assert.equal(decoded.ok, true, JSON.stringify(decoded));
        assert.deepEqual(decoded.ok && decoded.message, JSON.parse(JSON.stringify(message)));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws and always names a catalogued code, whatever the text', () => {
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc.anything().map((v) => {
        try {
          return JSON.stringify(v) ?? 'undefined';
        } catch {
          return '{';
        }
      }),
      clientMessage.chain((m) =>
        fc
          .record({
            key: fc.constantFrom('type', 'id', 'topic', 'since', 'token', 'data', 'idempotencyKey', 'ephemeral'),
            value: fc.anything(),
          })
          .map(({ key, value }) => JSON.stringify({ ...m, [key]: value }) ?? '{}'),
      ),
    );
    fc.assert(
      fc.property(text, (raw) => {
        const decoded = decodeClientMessage(raw);
        if (!decoded.ok) assert.ok(decoded.code in ErrorCatalog, decoded.code);
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects bad topics with invalid_topic and echoes the request id', () => {
    fc.assert(
      fc.property(
        id,
        fc.string().filter((s) => !/^[A-Za-z0-9_\-.:@=+]{1,200}$/.test(s)),
        (n, bad) => {
          const decoded = decodeClientMessage(JSON.stringify({ type: 'subscribe', id: n, topic: bad }));
          assert.deepEqual(decoded.ok ? null : [decoded.code, decoded.id], ['invalid_topic', n]);
        },
      ),
    );
  });

  it('names the error for malformed frames', () => {
    assert.equal((decodeClientMessage('{') as { code: string }).code, 'invalid_json');
    assert.equal((decodeClientMessage('[]') as { code: string }).code, 'invalid_json');
    assert.equal((decodeClientMessage('{"type":"dance","id":1}') as { code: string }).code, 'invalid_message');
    assert.equal(
      (decodeClientMessage('{"type":"publish","topic":"a","data":1}') as { code: string }).code,
      'invalid_message',
    );
    assert.equal(
      (
        decodeClientMessage('{"type":"subscribe","id":1,"topic":"a","since":{"epoch":"e:1","offset":1}}') as {
          code: string;
        }
      ).code,
      'invalid_position',
    );
  });
});

describe('server frames', () => {
  it('split into messages and skip lines that are not JSON objects', () => {
    const garbage = fc.string().map((s) => '#' + s.replace(/\n/g, ''));
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.record({ type: fc.string(), n: fc.nat() }), garbage)), (parts) => {
        const { messages, invalid } = decodeServerFrame(
          parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join('\n'),
        );
        assert.deepEqual(messages, JSON.parse(JSON.stringify(parts.filter((p) => typeof p !== 'string'))));
        assert.equal(invalid, parts.filter((p) => typeof p === 'string').length);
      }),
    );
  });
});

describe('SSE event ids', () => {
  it('round-trip epoch:offset and reject anything else', () => {
    fc.assert(
      fc.property(epoch, fc.nat(), (e, o) =>
        assert.deepEqual(parseEventId(formatEventId({ epoch: e, offset: o })), { epoch: e, offset: o }),
      ),
    );
    for (const bad of ['', ':1', 'e:', 'e:-1', 'e:1.5', 'a b:1', 'e:1e3', 'x'.repeat(101)])
      assert.equal(parseEventId(bad), null, bad);
  });
});
