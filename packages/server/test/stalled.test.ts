import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Scope } from '@inloop/protocol';
import { createMemoryBroker } from '../src/adapters/memory-broker.js';
import { Hub } from '../src/domain/hub.js';
import type { Outlet, SubscribedInfo } from '../src/domain/outlet.js';
import { Metrics } from '../src/metrics.js';
import { wsCodec } from '../src/session/codecs.js';
import { rawSession, readSse, startNode, waitFor, type TestNode } from './helpers.js';

const everything: Scope[] = [{ ops: ['subscribe', 'publish', 'history', 'presence'], topics: ['*'] }];
const BUDGET = 1_048_576;
/** Publications of 60 KB: 300 of them are an 18 MB topic, far more than a socket's kernel buffers. */
const PAYLOAD = 'x'.repeat(60_000);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What the process holds in JS and in buffers, after a full collection. */
function held(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function pendingBytes(t: TestNode): Promise<number> {
  return (await t.node.metrics.pendingBytes.get()).values[0]?.value ?? 0;
}

async function metric(t: TestNode, pattern: RegExp): Promise<boolean> {
  return pattern.test(await t.node.metrics.registry.metrics());
}

/** A raw HTTP request whose response is never read: the socket is paused before a byte arrives. */
async function stalledRequest(t: TestNode, path: string, headers: Record<string, string>): Promise<Socket> {
  const socket = connect(t.node.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.pause();
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines.join('')}\r\n`);
  socket.on('error', () => {});
  return socket;
}

async function bigTopic(t: TestNode, topic: string, count: number): Promise<string> {
  let epoch = '';
  for (let i = 0; i < count; i++) {
    const res = await t.api(`/v1/topics/${topic}/messages`, { body: { data: { i, payload: PAYLOAD } } });
    epoch = res.body.epoch;
  }
  return epoch;
}

const nodeOptions = {
  maxBufferedBytes: BUDGET,
  slowConsumerTimeoutMs: 500,
  publishRatePerSec: 100_000,
  publishBurst: 100_000,
};

describe('stalled readers', () => {
  describe('when clients resume a large topic and stop reading', () => {
    it(
      'holds at most the budget for each, cuts them off (WebSocket 4001, SSE end) and releases their memory',
      { timeout: 120_000 },
      async () => {
        await using t = await startNode(nodeOptions);
        const token = await t.token('reader', everything);
        const epoch = await bigTopic(t, 'big', 300);
        const before = held();

        const sessions = await Promise.all(Array.from({ length: 4 }, () => rawSession(t.url, token)));
        for (const s of sessions) {
          (s.ws as unknown as { _socket: Socket })._socket.pause();
          s.ws.send(JSON.stringify({ type: 'subscribe', id: 1, topic: 'big', since: { epoch, offset: 0 } }));
        }
        const streams = await Promise.all(
          Array.from({ length: 4 }, () =>
            stalledRequest(t, '/v1/topics/big/stream', {
              authorization: `Bearer ${token}`,
              'last-event-id': `${epoch}:0`,
            }),
          ),
        );

        // While they are stalled, the node holds no more than the budget for any of them.
        let most = 0;
        for (let i = 0; i < 40; i++) {
          most = Math.max(most, await pendingBytes(t));
          if (await metric(t, /inloop_drops_total\{reason="slow_consumer"\} 8\b/)) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(most <= 8 * (BUDGET + 65_536), `${most} bytes pending for 8 stalled readers`);

        await waitFor(
          () => metric(t, /inloop_drops_total\{reason="slow_consumer"\} 8\b/),
          20_000,
          'every stalled reader to be cut off as a slow consumer',
        );
        await waitFor(
          async () =>
            (await metric(t, /inloop_connections\{transport="ws"\} 0/)) &&
            (await metric(t, /inloop_connections\{transport="sse"\} 0/)),
          10_000,
          'their connections to close',
        );
        assert.equal(await pendingBytes(t), 0);
        // Measured before the clients (in this process too) read what their kernels kept for them.
        const after = held();
        assert.ok(after - before < 8 * 1_048_576, `${after - before} bytes still held after the cut-off`);
        // The WebSocket clients, reading again, find the slow-consumer close code.
        for (const s of sessions) (s.ws as unknown as { _socket: Socket })._socket.resume();
        const codes = await Promise.all(sessions.map((s) => s.closeCode));
        for (const code of codes) assert.ok(code === 4001 || code === 1006, `closed with ${code}`);
        for (const s of streams) s.destroy();
      },
    );

    it('still replays everything, in order and once, to a client that reads', { timeout: 120_000 }, async () => {
      await using t = await startNode(nodeOptions);
      const token = await t.token('reader', everything);
      const epoch = await bigTopic(t, 'big', 60);
      const res = await fetch(`${t.url}/v1/topics/big/stream`, {
        headers: { authorization: `Bearer ${token}`, 'last-event-id': `${epoch}:10` },
      });
      const events = await readSse(res, (e) => e.filter((x) => x.event === 'pub').length === 50);
      assert.equal(events[0]!.event, 'ready');
      assert.equal(events[0]!.data.replayed, 50);
      const offsets = events.filter((e) => e.event === 'pub').map((e) => e.data.offset);
      assert.deepEqual(
        offsets,
        Array.from({ length: 50 }, (_, i) => i + 11),
      );
    });
  });

  describe('when history is trimmed while a replay is under way', () => {
    it('tells the subscriber recovered: false where it continues, never a silent gap', async () => {
      const broker = createMemoryBroker({ maxCount: 20, maxAgeMs: 3_600_000, idempotencyTtlMs: 300_000 });
      // Pages of one publication, so the replay reads history many times.
      const hub = new Hub({ broker, metrics: new Metrics({ defaultMetrics: false }), replayPageBytes: 1 });
      for (let i = 1; i <= 20; i++) await hub.publish('t', { data: i, from: 'x' });
      const announced: SubscribedInfo[] = [];
      const offsets: number[] = [];
      let trimmed = false;
      let resetAt: number | undefined;
      const outlet: Outlet = {
        codec: wsCodec,
        closed: false,
        // Congested once, after the first publications: meanwhile 30 more push the head away.
        get congested() {
          return offsets.length === 3 && !trimmed;
        },
        async drain() {
          trimmed = true;
          for (let i = 21; i <= 50; i++) await hub.publish('t', { data: i, from: 'x' });
        },
        push: (chunk) => {
          for (const line of chunk.toString().split('\n')) offsets.push(JSON.parse(line).offset);
        },
        subscribed: (info) => {
          if (!info.recovered && resetAt === undefined) resetAt = offsets.length;
          announced.push(info);
        },
        subjectFor: () => null,
        revoked: () => {},
      };
      const sub = await hub.subscribe(outlet, 't', 1, {
        epoch: announced[0]?.epoch ?? (await broker.position('t')).epoch,
        offset: 0,
      });
      assert.ok(sub);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(announced[0]!.recovered, true);
      const reset = announced.find((a) => !a.recovered);
      assert.ok(reset, 'the hole was reported');
      // Before the reset, a contiguous run from the resume point; after it, only what follows its
      // position, in order, each once.
      const cut = resetAt ?? offsets.length;
      assert.deepEqual(
        offsets.slice(0, cut),
        Array.from({ length: cut }, (_, i) => i + 1),
      );
      const after = offsets.slice(cut);
      for (const o of after) assert.ok(o > reset.offset, `offset ${o} after a reset at ${reset.offset}`);
      assert.deepEqual(
        after,
        [...after].sort((a, b) => a - b),
      );
      assert.equal(new Set(offsets).size, offsets.length);
      await broker.close();
    });
  });

  describe('HTTP history', () => {
    it('bounds a page by bytes as well as count, with a cursor to the next page', { timeout: 60_000 }, async () => {
      await using t = await startNode({ ...nodeOptions, maxHistoryPageBytes: 200_000 });
      await bigTopic(t, 'paged', 20);
      const first = await t.api('/v1/topics/paged/messages?after=0&limit=1000');
      assert.equal(first.status, 200);
      assert.ok(first.body.messages.length >= 1 && first.body.messages.length <= 4, `${first.body.messages.length}`);
      assert.equal(first.body.more, true);
      assert.equal(first.body.next, first.body.messages.at(-1).offset);
      const offsets: number[] = [];
      let after = 0;
      for (let pages = 0; pages < 40; pages++) {
        const page = await t.api(`/v1/topics/paged/messages?after=${after}&limit=1000`);
        offsets.push(...page.body.messages.map((m: { offset: number }) => m.offset));
        after = page.body.next;
        if (!page.body.more) break;
      }
      assert.deepEqual(
        offsets,
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      // A small limit still applies, and a page of small publications is not cut short.
      const small = await t.api('/v1/topics/paged/messages?after=0&limit=1');
      assert.equal(small.body.messages.length, 1);
      assert.equal(small.body.more, true);
      await t.api('/v1/topics/tiny/messages', { body: { data: 1 } });
      const tiny = await t.api('/v1/topics/tiny/messages?after=0&limit=1000');
      assert.deepEqual([tiny.body.messages.length, tiny.body.more, tiny.body.next], [1, false, 1]);
      // One publication larger than the page bound still comes back, alone.
      const one = await startNode({ ...nodeOptions, maxHistoryPageBytes: 1024 });
      try {
        await bigTopic(one, 'huge', 2);
        const page = await one.api('/v1/topics/huge/messages?after=0&limit=1000');
        assert.deepEqual([page.body.messages.length, page.body.more, page.body.next], [1, true, 1]);
      } finally {
        await one[Symbol.asyncDispose]();
      }
    });

    it(
      'holds about one page for a client that asks for 1,000 publications and stops reading',
      { timeout: 60_000 },
      async () => {
        await using t = await startNode(nodeOptions);
        const token = await t.token('reader', everything);
        await bigTopic(t, 'big', 300);
        const before = held();
        const sockets = await Promise.all(
          Array.from({ length: 8 }, () =>
            stalledRequest(t, '/v1/topics/big/messages?after=0&limit=1000', { authorization: `Bearer ${token}` }),
          ),
        );
        await new Promise((r) => setTimeout(r, 1000));
        const during = held();
        // Before: 164 MB for one such request. Now a page of about maxHistoryPageBytes each.
        assert.ok(during - before < 8 * 4 * 1_048_576, `${during - before} bytes held for 8 stalled history reads`);
        for (const s of sockets) s.destroy();
      },
    );

    it(
      'holds a few pages, not one per request, for a client that pipelines 150 reads and reads no answer',
      { timeout: 60_000 },
      async () => {
        await using t = await startNode(nodeOptions);
        const token = await t.token('reader', everything);
        await bigTopic(t, 'piped', 40);
        const before = held();
        const request = `GET /v1/topics/piped/messages?after=0&limit=1000 HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n\r\n`;
        const sockets: Socket[] = [];
        for (let i = 0; i < 4; i++) {
          const socket = connect(t.node.port, '127.0.0.1');
          await once(socket, 'connect');
          socket.pause();
          socket.on('error', () => {});
          socket.write(request.repeat(150));
          sockets.push(socket);
        }
        await new Promise((r) => setTimeout(r, 1500));
        const during = held();
        // Each answer is a page of about 1 MB: 600 of them would be 600 MB. A connection holds
        // at most two answers (MAX_PIPELINED) besides what its socket buffers.
        assert.ok(during - before < 4 * 8 * 1_048_576, `${during - before} bytes held for 600 pipelined reads`);
        for (const s of sockets) s.destroy();
        // The node still answers, and a well-behaved client's requests one at a time are unaffected.
        for (let i = 0; i < 3; i++) {
          const page = await t.api('/v1/topics/piped/messages?after=0&limit=1', { token });
          assert.equal(page.status, 200);
        }
      },
    );
  });

  describe('job streams', () => {
    it('keep a bounded snapshot of partial results, and a stalled stream is cut off', { timeout: 60_000 }, async () => {
      await using t = await startNode({ ...nodeOptions, jobTypes: ['big'], maxJobPartialsBytes: 200_000 });
      const created = await t.api('/v1/jobs', { body: { type: 'big', input: 1 } });
      const leased = await t.api('/v1/workers/lease', { body: { types: ['big'], worker: 'w', waitMs: 1000 } });
      const lease = leased.body.lease.token;
      for (let i = 0; i < 10; i++) {
        const res = await t.api(`/v1/jobs/${created.body.id}/progress`, { body: { lease, partial: { i, PAYLOAD } } });
        assert.equal(res.status, 200);
      }
      await t.api(`/v1/jobs/${created.body.id}/complete`, { body: { lease, result: 'done' } });
      const snapshot = await t.api(`/v1/jobs/${created.body.id}`);
      assert.deepEqual(
        snapshot.body.partials.map((p: { i: number }) => p.i),
        [0, 1, 2],
        'partials past maxJobPartialsBytes are not kept',
      );
      // A finished job's stream: its snapshot and its terminal event, then it ends.
      const res = await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`);
      const events = await readSse(res);
      assert.equal(events[0]!.event, 'job.snapshot');
      assert.equal(events.at(-1)!.event, 'job.succeeded');
    });
  });

  describe('presence over SSE', () => {
    it(
      'streams the state, then joins and leaves, to a stream opened with ?presence=1',
      { timeout: 30_000 },
      async () => {
        await using t = await startNode({ presenceFlushMs: 20 });
        const watcher = await t.token('watcher', everything);
        const ana = await t.token('ana', everything);
        const res = await fetch(`${t.url}/v1/topics/room/stream?presence=1`, {
          headers: { authorization: `Bearer ${watcher}` },
        });
        assert.equal(res.status, 200);
        const anaSession = await rawSession(t.url, ana);
        let seen: { event: string }[] = [];
        const reading = readSse(res, (events) => {
          seen = events;
          return events.some(
            (e) => e.event === 'presence.diff' && e.data.leaves.some((l: { id: string }) => l.id === 'ana'),
          );
        });
        await waitFor(() => seen.some((e) => e.event === 'presence.state'), 5000, 'the presence state');
        const joined = await anaSession.request({ type: 'presence.join', id: 1, topic: 'room', meta: { name: 'Ana' } });
        assert.equal(joined.type, 'presence.state');
        await waitFor(() => seen.some((e) => e.event === 'presence.diff'), 5000, 'the join');
        await anaSession.request({ type: 'presence.leave', id: 2, topic: 'room' });
        const events = await reading;
        const names = events.map((e) => e.event);
        assert.equal(names[0], 'ready');
        assert.equal(names[1], 'presence.state');
        const joins = events.filter((e) => e.event === 'presence.diff').flatMap((e) => e.data.joins);
        assert.deepEqual(
          joins.map((m: { id: string; meta: unknown }) => [m.id, m.meta]),
          [['ana', { name: 'Ana' }]],
        );
        anaSession.ws.close();
      },
    );

    it('is refused without the presence right', async () => {
      await using t = await startNode();
      const token = await t.token('reader', [{ ops: ['subscribe'], topics: ['*'] }]);
      const res = await fetch(`${t.url}/v1/topics/room/stream?presence=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 403);
      assert.equal((await res.json()).code, 'forbidden');
    });
  });
});
