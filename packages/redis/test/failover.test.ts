import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import type { Publication } from '@inloop/client';
import { rawSession, sleep, waitFor, startRedis } from '@inloop/testing';
import { balancer } from './balancer.js';
import { spawnCluster } from './processes.js';

const scopes: Scope[] = [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['room:*'] }];

/** Publish with an idempotency key until a node acknowledges it: no publication is lost or doubled. */
async function publishUntilAcked(
  url: string,
  apiKey: string,
  topic: string,
  data: unknown,
  key: string,
): Promise<{ offset: number; epoch: string }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const res = await fetch(`${url}/v1/topics/${topic}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ data }),
      });
      if (res.status === 201 || res.status === 200) return (await res.json()) as { offset: number; epoch: string };
    } catch {
      // The node died under the request: try again, through the balancer, with the same key.
    }
    await sleep(20);
  }
  throw new Error(`publication ${key} was never acknowledged`);
}

describe('a node dies', () => {
  it('SIGKILL, then SIGTERM: every client resumes on another node with 0 lost and 0 reordered acknowledged publications', async () => {
    await using redis = await startRedis();
    await using cluster = await spawnCluster(redis.url, 3, {
      INLOOP_PRESENCE_TTL_MS: '1500',
      INLOOP_PING_INTERVAL_MS: '1000',
    });
    const lb = await balancer(() => cluster.livePorts());
    try {
      // Nine subscribers spread over the three nodes by the balancer.
      const received: Publication[][] = [];
      for (let i = 0; i < 9; i++) {
        const client = cluster.client(lb.url, await cluster.token(`sub-${i}`, scopes));
        const seen: Publication[] = [];
        received.push(seen);
        const sub = client.subscribe('room:feed');
        sub.on('publication', (p) => seen.push(p));
        await new Promise((resolve) => sub.on('subscribed', resolve));
      }
      // A member connected straight to the node that will die, watched from another node.
      const doomed = cluster.nodes[0]!;
      const member = await rawSession(doomed.url, await cluster.token('doomed-member', scopes));
      assert.equal((await member.request({ type: 'presence.join', id: 1, topic: 'room:feed' })).type, 'presence.state');
      const watcher = cluster.client(cluster.nodes[1]!.url, await cluster.token('watcher', scopes));
      const view = watcher.presence('room:feed');
      await waitFor(() => view.members.has('doomed-member'), 5000, 'the member to show on node 1');

      const acked: { offset: number; data: string }[] = [];
      let publishing = true;
      const publishers = [0, 1].map(async (p) => {
        for (let i = 0; publishing; i++) {
          const data = `p${p}-${i}`;
          const { offset } = await publishUntilAcked(lb.url, cluster.apiKey, 'room:feed', data, data);
          acked.push({ offset, data });
          await sleep(5);
        }
      });
      await sleep(1000);
      await cluster.kill(0);
      const killedAt = Date.now();
      await waitFor(() => !view.members.has('doomed-member'), 1500 + 3000, "the dead node's member to leave");
      const leftAfterMs = Date.now() - killedAt;
      await sleep(500);
      // Then a clean stop (SIGTERM drains) of another node: its clients move to the last one.
      // The watcher sits on node 1; watch from node 2 instead, with a member on node 1.
      const watcher2 = cluster.client(cluster.nodes[2]!.url, await cluster.token('watcher-2', scopes));
      const view2 = watcher2.presence('room:feed');
      const leaving = await rawSession(cluster.nodes[1]!.url, await cluster.token('leaving-member', scopes));
      await leaving.request({ type: 'presence.join', id: 1, topic: 'room:feed' });
      await waitFor(() => view2.members.has('leaving-member'), 5000, 'the member on node 1');
      await cluster.kill(1, 'SIGTERM');
      await waitFor(() => !view2.members.has('leaving-member'), 1000, 'a drained node to take its members along');
      await sleep(1000);
      publishing = false;
      await Promise.all(publishers);

      acked.sort((x, y) => x.offset - y.offset);
      assert.ok(acked.length > 50, `published ${acked.length}`);
      // Offsets form one sequence with no holes: every stored publication was acknowledged.
      assert.deepEqual(
        acked.map((a) => a.offset),
        Array.from({ length: acked.length }, (_, i) => i + 1),
      );
      const last = acked.at(-1)!.offset;
      await waitFor(
        () => received.every((seen) => seen.at(-1)?.offset === last),
        10_000,
        'every subscriber to catch up',
      );
      for (const seen of received) {
        assert.deepEqual(
          seen.map((p) => [p.offset, p.data]),
          acked.map((a) => [a.offset, a.data]),
          'each subscriber saw every acknowledged publication once, in order',
        );
      }
      assert.ok(leftAfterMs < 1500 + 3000, `member left ${leftAfterMs} ms after the kill`);
    } finally {
      await lb.close();
    }
  });
});

describe('Redis trouble', () => {
  it('FLUSHALL: resuming clients are told recovered: false, never handed a silent gap', async () => {
    await using redis = await startRedis();
    await using cluster = await spawnCluster(redis.url, 2);
    const [a, b] = cluster.nodes;
    const client = cluster.client(b!.url, await cluster.token('ana', scopes));
    const sub = client.subscribe('room:f');
    const resets: unknown[] = [];
    sub.on('reset', (e) => resets.push(e));
    const seen: Publication[] = [];
    sub.on('publication', (p) => seen.push(p));
    await new Promise((resolve) => sub.on('subscribed', resolve));
    for (let i = 0; i < 5; i++) await publishUntilAcked(a!.url, cluster.apiKey, 'room:f', i, `f${i}`);
    await waitFor(() => seen.length === 5, 5000, 'the first five');

    await redis.cli('FLUSHALL');
    // New publications after the loss: a live subscriber is told its state is stale, then continues.
    await publishUntilAcked(a!.url, cluster.apiKey, 'room:f', 'after', 'after-1');
    await waitFor(() => resets.length === 1, 5000, 'a reset for the live subscriber');
    await waitFor(() => seen.at(-1)?.data === 'after', 5000, 'the publication after the flush');
    assert.equal(seen.at(-1)!.offset, 1);

    // A client resuming from before the flush, on the other node: recovered false.
    const late = cluster.client(a!.url, await cluster.token('bob', scopes));
    const resumed = late.subscribe('room:f', { since: { epoch: seen[0]!.epoch!, offset: 3 } });
    const subscribed = await new Promise<{ recovered: boolean }>((resolve) => resumed.on('subscribed', resolve));
    assert.equal(subscribed.recovered, false);
  });

  it('Redis unreachable: publishes fail fast with `unavailable`, and the nodes recover by themselves', async () => {
    await using redis = await startRedis({ durable: true });
    await using cluster = await spawnCluster(redis.url, 2);
    const [a, b] = cluster.nodes;
    const client = cluster.client(b!.url, await cluster.token('ana', scopes));
    const sub = client.subscribe('room:o');
    const seen: Publication[] = [];
    sub.on('publication', (p) => seen.push(p));
    await new Promise((resolve) => sub.on('subscribed', resolve));
    await publishUntilAcked(a!.url, cluster.apiKey, 'room:o', 'before', 'o-before');
    await waitFor(() => seen.length === 1, 5000, 'the first publication');
    // Presence across the outage: ana on A leaves and bob on A joins while Redis is away.
    const view = client.presence('room:o');
    const ana = cluster.client(a!.url, await cluster.token('ana-on-a', scopes));
    ana.presence('room:o');
    await waitFor(() => view.members.has('ana-on-a'), 5000, 'ana on A seen from B');

    await redis.stop();
    await ana.close();
    const bob = cluster.client(a!.url, await cluster.token('bob-on-a', scopes));
    bob.presence('room:o');
    const started = Date.now();
    const refused = await cluster.api(a!.url, '/v1/topics/room:o/messages', { data: 'during' });
    const tookMs = Date.now() - started;
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'unavailable');
    assert.ok(tookMs < 3000, `failed in ${tookMs} ms`);
    assert.equal((await cluster.api(a!.url, '/readyz')).status, 503, 'not ready while Redis is away');
    await sleep(2000);

    await redis.start();
    await waitFor(async () => (await cluster.api(a!.url, '/readyz')).status === 200, 10_000, 'node A ready again');
    await waitFor(async () => (await cluster.api(b!.url, '/readyz')).status === 200, 10_000, 'node B ready again');
    const after = await publishUntilAcked(a!.url, cluster.apiKey, 'room:o', 'after', 'o-after');
    assert.equal(after.offset, 2, 'the refused publication was never stored');
    await waitFor(() => seen.length === 2, 10_000, 'the subscriber on B to get the next publication');
    await waitFor(
      () => view.members.has('bob-on-a') && !view.members.has('ana-on-a'),
      10_000,
      'B to learn what changed on A while Redis was away',
    );
    assert.deepEqual(
      seen.map((p) => p.data),
      ['before', 'after'],
    );
  });
});
