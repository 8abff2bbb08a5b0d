import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import type { NodeOptions } from '@inloop/server';
import { Redis } from 'ioredis';
import {
  rawSession,
  readSse,
  sleep,
  startNode,
  waitFor,
  type TestNode,
  startRedis,
  type TestRedis,
} from '@inloop/testing';

const scopes: Scope[] = [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['room:*', 'conv:*'] }];

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis[Symbol.asyncDispose]();
});

/** `n` nodes sharing one Redis under a fresh prefix, nothing else shared (no API key, no secret). */
async function cluster(n: number, options: NodeOptions = {}): Promise<TestNode[] & AsyncDisposable> {
  const prefix = `c${randomBytes(4).toString('hex')}`;
  const nodes: TestNode[] = [];
  for (let i = 0; i < n; i++)
    nodes.push(
      await startNode({
        redis: redis.url,
        redisPrefix: prefix,
        presenceTtlMs: 1500,
        pingIntervalMs: 1000,
        presenceFlushMs: 20,
        ...options,
      }),
    );
  return Object.assign(nodes, {
    async [Symbol.asyncDispose]() {
      for (const t of nodes) await t[Symbol.asyncDispose]();
    },
  });
}

describe('three nodes on one Redis', () => {
  it('share one API key and token secret: a token minted on A works on B and C', async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes;
    assert.equal(a!.node.apiKey, b!.node.apiKey);
    assert.ok(a!.node.apiKeyCreated && !b!.node.apiKeyCreated && !c!.node.apiKeyCreated);
    const token = await a!.token('ana', scopes);
    const onC = c!.client(token);
    const sub = onC.subscribe('room:t');
    await new Promise((resolve) => sub.on('subscribed', resolve));
  });

  it('fans a publication on A out to subscribers on B and C, in order, with the same offsets', async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes;
    const received: Record<string, number[]> = { b: [], c: [] };
    for (const [name, t] of [
      ['b', b!],
      ['c', c!],
    ] as const) {
      const client = t.client(await t.token(`watcher-${name}`, scopes));
      const sub = client.subscribe('room:1');
      sub.on('publication', (p) => received[name]!.push(p.offset!));
      await new Promise((resolve) => sub.on('subscribed', resolve));
    }
    const offsets: number[] = [];
    for (let i = 0; i < 20; i++) {
      // Publishers on two nodes: offsets still form one sequence.
      const t = i % 2 === 0 ? a! : b!;
      const res = await t.api('/v1/topics/room:1/messages', { body: { data: { i } } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      offsets.push(res.body.offset);
    }
    assert.deepEqual(
      offsets,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await waitFor(() => received.b!.length === 20 && received.c!.length === 20, 5000, 'both nodes to deliver');
    assert.deepEqual(received.b, offsets);
    assert.deepEqual(received.c, offsets);
    // History is the same from any node.
    const history = await c!.api('/v1/topics/room:1/messages?after=10&limit=5');
    assert.deepEqual(
      history.body.messages.map((m: { data: { i: number } }) => m.data.i),
      [10, 11, 12, 13, 14],
    );
  });

  it('shows presence and typing across nodes, and a member on two nodes as one member', async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes;
    const ana = a!.client(await a!.token('ana', scopes));
    const anaPhone = b!.client(await b!.token('ana', scopes));
    const bob = b!.client(await b!.token('bob', scopes));
    const cid = c!.client(await c!.token('cid', scopes));

    const view = cid.presence('room:p');
    await waitFor(() => view.members.has('cid'), 5000, 'cid to see himself');
    ana.presence('room:p', { meta: { name: 'Ana' }, device: 'web' });
    bob.presence('room:p', { meta: { name: 'Bob' } });
    await waitFor(() => view.members.has('ana') && view.members.has('bob'), 5000, 'ana (A) and bob (B) on C');
    assert.deepEqual(view.members.get('ana')!.meta, { name: 'Ana' });
    anaPhone.presence('room:p', { device: 'phone' });
    await waitFor(() => view.members.get('ana')?.connections === 2, 5000, "ana's phone on B");
    assert.deepEqual([...view.members.get('ana')!.devices].sort(), ['phone', 'web']);
    assert.deepEqual(view.occupancy, { members: 3, connections: 4 });
    const http = await a!.api('/v1/topics/room:p/presence');
    assert.deepEqual(http.body.members.map((m: { id: string }) => m.id).sort(), ['ana', 'bob', 'cid']);

    // Ana closes her web tab on A: still present through her phone on B.
    await ana.close();
    await waitFor(() => view.members.get('ana')?.connections === 1, 5000, 'one connection left');
    assert.ok(view.members.has('ana'));

    // Typing on B is seen on C.
    const bobTyping = bob.typing('room:p');
    const cidTyping = cid.typing('room:p');
    await new Promise((r) => setTimeout(r, 100));
    bobTyping.keystroke();
    await waitFor(() => cidTyping.typers.includes('bob'), 5000, 'cid to see bob typing');
    bobTyping.stop();
    await waitFor(() => cidTyping.typers.length === 0, 5000, 'the indicator to go');
  });

  it('gets receipts right for a conversation whose members sit on different nodes', async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes;
    const created = await a!.api('/v1/conversations', { body: { id: 'team', members: ['ana', 'bob', 'cid'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ana = a!.client(await a!.token('ana', scopes)).conversation('team');
    const bob = b!.client(await b!.token('bob', scopes)).conversation('team');
    const cid = c!.client(await c!.token('cid', scopes)).conversation('team');
    await Promise.all([ana.ready(), bob.ready(), cid.ready()]);

    const sent = await ana.send('Lunch?');
    await waitFor(() => ana.statusOf(sent).counts.delivered === 2, 5000, 'delivered to bob (B) and cid (C)');
    await bob.markRead();
    await waitFor(() => ana.statusOf(sent).counts.read === 1, 5000, "bob's read receipt");
    assert.deepEqual(
      ana.statusOf(sent).recipients.map((r) => [r.member, r.state]),
      [
        ['bob', 'read'],
        ['cid', 'delivered'],
      ],
    );
    await cid.markRead();
    await waitFor(() => ana.statusOf(sent).state === 'read', 5000, 'read by everyone');
    // The receipts are stored, not only signalled: a fresh look from any node agrees.
    const stored = await c!.api('/v1/conversations/team/messages/1');
    assert.equal(stored.status, 200, JSON.stringify(stored.body));
    assert.deepEqual(stored.body.counts, { recipients: 2, delivered: 2, read: 2 });
    assert.ok(stored.body.recipients.every((r: { readAt: number | null }) => typeof r.readAt === 'number'));
  });

  it('ends what a removed member holds on every node: its subscription on B, its presence alone on C', async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes;
    await a!.api('/v1/conversations', { body: { id: 'team', members: ['ana', 'bob'] } });
    const onB = await rawSession(b!.url, await b!.token('bob', scopes));
    const onC = await rawSession(c!.url, await c!.token('bob', scopes));
    assert.equal((await onB.request({ type: 'subscribe', id: 1, topic: 'conv:team' })).type, 'subscribed');
    // On C bob is only present: no one there subscribes to the conversation's topic.
    assert.equal((await onC.request({ type: 'presence.join', id: 1, topic: 'conv:team' })).type, 'presence.state');
    await waitFor(
      async () => (await a!.api('/v1/topics/conv:team/presence')).body.members.length === 1,
      5000,
      'bob present as seen from A',
    );

    assert.equal((await a!.api('/v1/conversations/team/members/bob', { method: 'DELETE' })).status, 204);
    await waitFor(() => onB.frames.find((f) => f.type === 'unsubscribed'), 5000, 'the subscription on B to end');
    const ended = onB.frames.find((f) => f.type === 'unsubscribed');
    assert.deepEqual(ended, { type: 'unsubscribed', topic: 'conv:team', code: 'forbidden' });
    await waitFor(() => onC.frames.find((f) => f.type === 'presence.ended'), 5000, 'the presence on C to end');
    await waitFor(
      async () => (await a!.api('/v1/topics/conv:team/presence')).body.members.length === 0,
      5000,
      'bob gone as seen from A',
    );
    onB.ws.close();
    onC.ws.close();
  });
});

describe("a connection's requests for one topic, on a cluster", () => {
  it('are answered in order: subscribe, unsubscribe, subscribe leaves one live subscription', async () => {
    await using nodes = await cluster(2);
    const [a, b] = nodes;
    const s = await rawSession(b!.url, await b!.token('ann', scopes));
    s.ws.send(JSON.stringify({ type: 'subscribe', id: 3, topic: 'room:race' }));
    s.ws.send(JSON.stringify({ type: 'unsubscribe', id: 4, topic: 'room:race' }));
    assert.equal((await s.request({ type: 'subscribe', id: 5, topic: 'room:race' })).type, 'subscribed');
    const replies = s.frames.filter((f) => f.id !== undefined).map((f) => `${f.type}#${f.id}`);
    assert.deepEqual(replies, ['subscribed#3', 'unsubscribed#4', 'subscribed#5']);
    const publisher = await rawSession(a!.url, await a!.token('bob', scopes));
    assert.equal((await publisher.request({ type: 'publish', id: 1, topic: 'room:race', data: 'hi' })).type, 'ack');
    await waitFor(() => s.frames.some((f) => f.type === 'pub'), 5000, 'the publication on B');
    assert.equal((await s.request({ type: 'unsubscribe', id: 6, topic: 'room:race' })).type, 'unsubscribed');
    assert.equal(s.frames.filter((f) => f.type === 'pub').length, 1);
    s.ws.close();
    publisher.ws.close();
  });
});

describe('jobs on a cluster', () => {
  it('runs a job created on A in a handler on B, and a watcher on C sees its progress and its end', async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes;
    a!.node.jobs.define('render');
    c!.node.jobs.define('render');
    b!.node.jobs.handle('render', async (job, ctx) => {
      await ctx.stage('draw');
      for (const p of [0.3, 0.6, 0.9]) {
        await new Promise((r) => setTimeout(r, 150));
        await ctx.progress(p);
      }
      return { pages: job.input };
    });
    const created = await a!.api('/v1/jobs', { body: { type: 'render', input: 3 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const stream = await fetch(`${c!.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`);
    const text = await stream.text();
    const events = text
      .split('\n\n')
      .map((block) => /^event: (.+)$/m.exec(block)?.[1])
      .filter((e): e is string => e !== undefined);
    assert.ok(events.includes('job.progress'), events.join(' '));
    assert.equal(events.filter((e) => e === 'job.succeeded').length, 1);
    assert.equal(events.at(-1), 'job.succeeded');
    const done = await c!.api(`/v1/jobs/${created.body.id}`);
    assert.deepEqual([done.body.status, done.body.result], ['succeeded', { pages: 3 }]);
  });
});

describe('watchers of one job on a node whose Redis subscriber reconnects', () => {
  it('each hear every event from the snapshot on, whichever of them subscribed first', async () => {
    await using nodes = await cluster(2);
    const [a, b] = [nodes[0]!, nodes[1]!];
    a.node.jobs.define('remote');
    b.node.jobs.define('remote');
    const admin = new Redis(redis.url);
    try {
      /** A job's SSE stream on B: `snapshot@N`, then each event and its offset, until it ends. */
      const watch = async (id: string, signal: AbortSignal): Promise<string[]> => {
        try {
          const res = await fetch(`${b.url}/v1/jobs/${id}/stream`, {
            headers: { authorization: `Bearer ${a.node.apiKey}` },
            signal,
          });
          return (await readSse(res))
            .filter((e) => e.event !== 'job.tick')
            .map((e) =>
              e.event === 'job.snapshot' ? `snapshot@${e.data.offset}` : `${e.event}@${e.id?.split(':')[1]}`,
            );
        } catch {
          return ['(cut)'];
        }
      };
      for (let round = 0; round < 3; round++) {
        const { id } = (await a.api('/v1/jobs', { body: { type: 'remote' } })).body as { id: string };
        const leased = await a.api('/v1/workers/lease', { body: { types: ['remote'], waitMs: 1000 } });
        const lease = leased.body.lease.token as string;
        await a.api(`/v1/jobs/${id}/progress`, { body: { lease, message: 'one' } });
        const stop = new AbortController();
        const timer = setTimeout(() => stop.abort(), 15_000);
        // B's subscriber connection is cut (it reconnects within moments); two watchers open on B
        // meanwhile, the second while the first's subscription is still under way.
        await admin.client('KILL', 'TYPE', 'pubsub');
        const first = watch(id, stop.signal);
        await sleep(15);
        const second = watch(id, stop.signal);
        await sleep(40);
        await a.api(`/v1/jobs/${id}/progress`, { body: { lease, message: 'two' } });
        await sleep(500);
        await a.api(`/v1/jobs/${id}/progress`, { body: { lease, message: 'three' } });
        await a.api(`/v1/jobs/${id}/complete`, { body: { lease, result: 'ok' } });
        const logs = await Promise.all([first, second]);
        clearTimeout(timer);
        for (const seen of logs) {
          // From the snapshot's offset on, every event in order, ending with the job's end.
          const from = Number(/^snapshot@(\d+)$/.exec(seen[0] ?? '')?.[1]);
          assert.ok(from >= 3, seen.join(' '));
          const after = seen.slice(1).map((e) => Number(e.split('@')[1]));
          assert.deepEqual(
            after,
            Array.from({ length: 6 - from }, (_, i) => from + 1 + i),
            `round ${round}: ${seen.join(' ')}`,
          );
          assert.equal(seen.at(-1), 'job.succeeded@6', seen.join(' '));
        }
      }
    } finally {
      admin.disconnect();
    }
  });
});

describe('a node that dies with a job', () => {
  it('leaves it to the survivors: its lock lapses, another node retries it, and it succeeds', async () => {
    await using nodes = await cluster(3, { jobLeaseMs: 1000 });
    const [a, b, c] = nodes;
    a!.node.jobs.define('render');
    // B takes the job and then hangs as a crashed process would: no reports, no end.
    let taken!: () => void;
    const takenByB = new Promise<void>((resolve) => (taken = resolve));
    b!.node.jobs.handle('render', () => {
      taken();
      return new Promise(() => {});
    });
    const created = await a!.api('/v1/jobs', { body: { type: 'render', input: 1 } });
    assert.equal(created.status, 202);
    await takenByB;
    // Stop B without ending the job (its handler never returns), as if it died.
    await b!.node.close();
    c!.node.jobs.handle('render', async (job) => ({ attempt: job.attempt }));
    const done = await waitFor(
      async () => {
        const res = await a!.api(`/v1/jobs/${created.body.id}`);
        return res.body.status === 'succeeded' ? res.body : null;
      },
      15_000,
      'the job to be retried on C and succeed',
    );
    assert.deepEqual(done.result, { attempt: 2 });
    const history = await a!.api(`/v1/topics/job:${created.body.id}/messages?after=0`);
    const types = history.body.messages.map((m: { data: { type: string } }) => m.data.type);
    assert.ok(types.includes('job.retrying'), types.join(' '));
    assert.equal(types.at(-1), 'job.succeeded');
  });
});
