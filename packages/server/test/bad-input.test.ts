import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { ErrorCatalog, type Scope } from '@inloop/protocol';
import { rawSession, startNode, waitFor } from './helpers.js';

const everything: Scope[] = [{ ops: ['subscribe', 'publish', 'history'], topics: ['*'] }];
const DOCUMENTED_CLOSE_CODES = new Set([
  1000, 1005, 1006, 1009, 4000, 4001, 4002, 4003, 4004, 4100, 4101, 4400, 4401, 4403,
]);

describe('bad input', () => {
  it(
    'survives a fuzz run of random and malformed frames with a catalogued answer to each',
    { timeout: 120_000 },
    async () => {
      await using t = await startNode({ publishRatePerSec: 10_000, publishBurst: 10_000 });
      const token = await t.token('fuzzer', everything);
      const valid = fc.oneof(
        fc.record({ type: fc.constant('subscribe'), id: fc.nat(), topic: fc.string({ maxLength: 5 }) }),
        fc.record({ type: fc.constant('publish'), id: fc.nat(), topic: fc.constant('fz'), data: fc.jsonValue() }),
        fc.record({ type: fc.constant('unsubscribe'), id: fc.nat(), topic: fc.constant('fz') }),
      );
      const frame = fc.oneof(
        fc.string({ maxLength: 300 }).map((s) => ({ text: s })),
        fc.uint8Array({ maxLength: 300 }).map((b) => ({ binary: Buffer.from(b) })),
        fc.anything().map((v) => ({ text: JSON.stringify(v) ?? 'null' })),
        valid.chain((m) =>
          fc
            .record({ k: fc.constantFrom('type', 'id', 'topic', 'data', 'since', 'ephemeral'), v: fc.anything() })
            .map(({ k, v }) => ({
              text: JSON.stringify({ ...m, [k]: v }) ?? '{}',
            })),
        ),
        valid.map((m) => ({ text: JSON.stringify(m) })),
        fc.constant({ text: 'x'.repeat(70_000) }),
      );
      const codes = new Map<string, number>();
      const closes = new Map<number, number>();
      let frames = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 25 }), async (batch) => {
          const s = await rawSession(t.url, token);
          assert.ok(s.connected);
          for (const f of batch) {
            if (s.ws.readyState !== WebSocket.OPEN) break;
            if ('binary' in f) s.ws.send(f.binary, { binary: true });
            else s.ws.send(f.text);
            frames++;
          }
          // A final well-formed request proves the connection (or the node) still answers.
          if (s.ws.readyState === WebSocket.OPEN) {
            const reply = await s.request({ type: 'publish', id: 999_999_999, topic: 'probe', data: 1 });
            if (reply.type !== 'closed')
              assert.ok(reply.type === 'ack' || reply.type === 'error', JSON.stringify(reply));
            s.ws.close();
          }
          const code = await s.closeCode;
          closes.set(code, (closes.get(code) ?? 0) + 1);
          assert.ok(DOCUMENTED_CLOSE_CODES.has(code), `undocumented close code ${code}`);
          for (const m of s.frames) {
            if (m.type !== 'error') continue;
            assert.ok(m.code in ErrorCatalog, `uncatalogued code ${m.code}`);
            assert.doesNotMatch(m.message, /at .*\.(ts|js):\d+/, 'no stack traces on the wire');
            codes.set(m.code, (codes.get(m.code) ?? 0) + 1);
          }
        }),
        { numRuns: 400 },
      );
      assert.ok(frames > 1000, `${frames} frames sent`);
      for (const code of ['invalid_json', 'invalid_message', 'invalid_topic'])
        assert.ok(codes.get(code), `saw ${code}`);
      assert.ok(closes.get(1009), 'oversized frames closed with 1009');
      assert.ok(closes.get(4400), 'binary frames closed with 4400');
      // The node still serves everyone else.
      const after = await t.api('/v1/topics/probe/messages', { body: { data: 'alive' } });
      assert.equal(after.status, 201);
    },
  );

  it('refuses subscriptions past the per-connection limit', async () => {
    await using t = await startNode({ maxSubscriptionsPerConnection: 3 });
    const s = await rawSession(t.url, await t.token('u', everything));
    for (let i = 1; i <= 3; i++)
      assert.equal((await s.request({ type: 'subscribe', id: i, topic: `t${i}` })).type, 'subscribed');
    assert.equal((await s.request({ type: 'subscribe', id: 4, topic: 't4' })).code, 'too_many_subscriptions');
    assert.equal((await s.request({ type: 'subscribe', id: 5, topic: 't1' })).code, 'already_subscribed');
    assert.equal((await s.request({ type: 'unsubscribe', id: 6, topic: 'nope' })).code, 'not_subscribed');
    s.ws.close();
  });

  it('rate-limits a client that publishes too fast, and keeps the connection', async () => {
    await using t = await startNode({ publishRatePerSec: 5, publishBurst: 5 });
    const s = await rawSession(t.url, await t.token('u', everything));
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.request({ type: 'publish', id: i + 1, topic: 'r', data: i })),
    );
    const limited = replies.filter((r) => r.code === 'rate_limited');
    assert.equal(replies.filter((r) => r.type === 'ack').length, 5);
    assert.equal(limited.length, 15);
    assert.match(limited[0]!.message, /retry in \d+ ms/);
    assert.equal(s.ws.readyState, WebSocket.OPEN);
    s.ws.close();
  });

  it('closes a connection that never sends connect with 4101', async () => {
    await using t = await startNode({ connectTimeoutMs: 300 });
    const ws = new WebSocket(t.url.replace('http', 'ws') + '/v1/ws');
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    assert.equal(code, 4101);
  });

  it('answers malformed HTTP requests with problem details', async () => {
    await using t = await startNode();
    const cases: [string, Promise<{ status: number; body: any }>, number, string][] = [
      ['bad topic', t.api('/v1/topics/a%20b/messages', { body: { data: 1 } }), 400, 'invalid_topic'],
      ['bad json', t.api('/v1/topics/a/messages', { body: '{"data":' }), 400, 'invalid_json'],
      ['no data', t.api('/v1/topics/a/messages', { body: {} }), 400, 'bad_request'],
      ['too large', t.api('/v1/topics/a/messages', { body: { data: 'x'.repeat(70_000) } }), 413, 'payload_too_large'],
      ['bad limit', t.api('/v1/topics/a/messages?after=-1'), 400, 'bad_request'],
      ['no credentials', t.api('/v1/topics/a/messages?after=0', { token: '' }), 401, 'unauthorized'],
      ['bad since', t.api('/v1/topics/a/stream?since=zzz'), 400, 'invalid_position'],
      ['unknown path', t.api('/v2/nothing'), 404, 'not_found'],
      [
        'bad token request',
        t.api('/v1/tokens', { body: { subject: 'x', scopes: [{ ops: ['fly'], topics: ['a'] }] } }),
        400,
        'bad_request',
      ],
    ];
    for (const [name, pending, status, code] of cases) {
      const res = await pending;
      assert.equal(res.status, status, name);
      assert.equal(res.body.code, code, name);
      assert.equal(typeof res.body.title, 'string', name);
      assert.ok(!JSON.stringify(res.body).includes('node_modules'), `${name}: no internals on the wire`);
    }
  });

  describe('when a subscriber stops reading', () => {
    it(
      'cuts it off once its buffer passes the bound, and it resumes with nothing lost',
      { timeout: 60_000 },
      async () => {
        await using t = await startNode({
          maxBufferedBytes: 1_048_576,
          publishRatePerSec: 100_000,
          publishBurst: 100_000,
        });
        const token = await t.token('slow', everything);
        const slow = await rawSession(t.url, token);
        const sub = await slow.request({ type: 'subscribe', id: 1, topic: 'firehose' });
        assert.equal(sub.type, 'subscribed');
        (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
        const payload = 'p'.repeat(32_000);
        let published = 0;
        let dropped = false;
        const metrics = async () => (await t.api('/metrics')).body as string;
        for (let i = 0; i < 2000 && !dropped; i++) {
          await t.api('/v1/topics/firehose/messages', { body: { data: { i, payload } } });
          published++;
          if (i % 20 === 0) dropped = /inloop_drops_total\{reason="slow_consumer"\} [1-9]/.test(await metrics());
        }
        assert.ok(dropped, 'the slow consumer was dropped');
        await waitFor(
          async () => /inloop_connections\{transport="ws"\} 0/.test(await metrics()),
          5000,
          'the connection to go',
        );
        // Back again, reading this time: it resumes from where it was and loses nothing.
        const client = t.client(token);
        const resumed = client.subscribe('firehose', { since: { epoch: sub.epoch, offset: 0 } });
        const offsets: number[] = [];
        resumed.on('publication', (p) => offsets.push(p.offset!));
        await waitFor(() => offsets.length === published, 10_000, 'the replay');
        assert.deepEqual(
          offsets,
          Array.from({ length: published }, (_, i) => i + 1),
        );
      },
    );
  });
});
