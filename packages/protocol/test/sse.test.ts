import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '@inloop/protocol';

const STREAM =
  'retry: 1000\n\n' +
  ': hb\n\n' +
  'event: ready\ndata: {"topic":"t"}\n\n' +
  'id: e:1\nevent: pub\ndata: {"n":1}\n\n' +
  'data: first\r\ndata:second\r\n\r\n' +
  'event: pub\ndata: {"n":2}\rid: e:2\r\r\n';

const EXPECTED: SseEvent[] = [
  { event: 'ready', data: '{"topic":"t"}' },
  { event: 'pub', data: '{"n":1}', id: 'e:1' },
  { event: 'message', data: 'first\nsecond' },
  { event: 'pub', data: '{"n":2}', id: 'e:2' },
];

describe('SseParser', () => {
  it('reads events as an EventSource does: names, ids, multi-line data, comments, any line end', () => {
    assert.deepEqual(new SseParser().feed(STREAM), EXPECTED);
  });

  it('gives the same events however the stream is split into chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: STREAM.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const parser = new SseParser();
        const events: SseEvent[] = [];
        let from = 0;
        for (const p of [...points, STREAM.length]) {
          events.push(...parser.feed(STREAM.slice(from, p)));
          from = p;
        }
        assert.deepEqual(events, EXPECTED);
      }),
    );
  });
});
