import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster, type Redis } from 'ioredis';
import type { Scope } from '@inloop/protocol';
import { embeddedBackend, loadConfig } from '@inloop/server';
import type { Backend, BrokerOptions, ReplicaChange } from '@inloop/server/ports';
import { Keys, RedisBroker, RedisConversationStore, RedisPresenceReplica, RedisPresenceStore } from '@inloop/redis';
// Jobs are not here: RedisJobStore's scripts take the job's keys together with keys shared by all
// jobs (the unfinished set, the outbox, idempotency keys), which a cluster refuses (CROSSSLOT);
// see "When to shard" in docs/operations.md.
import {
  describeBrokerConformance,
  describeConversationStoreConformance,
  describePresenceStoreConformance,
  startNode,
  startRedisCluster,
  waitFor,
  type TestNode,
  type TestRedisCluster,
} from '@inloop/testing';

let cluster: TestRedisCluster;
let n = 0;
const opened: Cluster[] = [];
const defaults: BrokerOptions = { maxCount: 1000, maxAgeMs: 86_400_000, idempotencyTtlMs: 300_000 };

before(async () => {
  cluster = await startRedisCluster({ masters: 3 });
});
after(async () => {
  for (const c of opened) c.disconnect();
  await cluster[Symbol.asyncDispose]();
});

/** An ioredis Cluster client on the test's cluster, as the adapters' connection type. */
async function clusterClient(options: { subscriber?: boolean } = {}): Promise<Redis> {
  const c = new Cluster(cluster.nodes, {
    enableOfflineQueue: options.subscriber ?? false,
    redisOptions: { maxRetriesPerRequest: options.subscriber ? null : 1 },
  });
  c.on('error', () => {});
  opened.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('end', () => reject(new Error('cluster connection ended')));
  });
  // The adapters use the commands a Cluster client shares with a single-node one.
  return c as unknown as Redis;
}

async function openBroker(options: BrokerOptions, prefix = `t${++n}`) {
  const [redis, subscriber] = await Promise.all([clusterClient(), clusterClient({ subscriber: true })]);
  return { broker: new RedisBroker({ ...options, redis, subscriber, keys: new Keys(prefix) }), prefix };
}

// Without `reopen`: see the todo at the end.
describeBrokerConformance('redis cluster', async (options) => {
  const { broker } = await openBroker(options);
  return { broker, dispose: async () => broker.close() };
});

describeConversationStoreConformance('redis cluster', async (options) => ({
  store: new RedisConversationStore(await clusterClient(), new Keys(`s${++n}`), options),
  dispose: async () => {},
}));

describePresenceStoreConformance('redis cluster', async (options) => ({
  store: new RedisPresenceStore(await clusterClient(), new Keys(`p${++n}`), options),
  dispose: async () => {},
}));

describe('topics on a Redis Cluster of 3 masters', () => {
  it('spreads topics over the masters and hands each node every publication of another, in order', async () => {
    const prefix = `x${++n}`;
    const a = await openBroker(defaults, prefix);
    const b = await openBroker(defaults, prefix);
    const topics = Array.from({ length: 12 }, (_, i) => `room-${i}`);
    const seen = new Map<string, number[]>();
    b.broker.onPublication((p) => {
      const list = seen.get(p.topic) ?? [];
      list.push((p as { offset: number }).offset);
      seen.set(p.topic, list);
    });
    for (const topic of topics) await b.broker.watch(topic);
    for (let i = 0; i < 10; i++) {
      await Promise.all(topics.map((topic) => a.broker.appendAndPublish(topic, { data: i, from: 'a' })));
    }
    await waitFor(() => topics.every((t) => seen.get(t)?.length === 10), 10_000, 'every publication on node B');
    for (const topic of topics) assert.deepEqual(seen.get(topic), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // The topics' keys live on more than one master: the cluster shards them.
    const owners = new Set<string>();
    for (const topic of topics) {
      owners.add(slotOwner(await cluster.cli(0, 'cluster', 'keyslot', new Keys(prefix).topicLog(topic))));
    }
    assert.ok(owners.size > 1, `all topics on one master: ${[...owners].join(', ')}`);
    await a.broker.close();
    await b.broker.close();
  });

  it(
    'keeps a topic’s epoch when a node opens its broker again',
    {
      todo: 'the broker compares every topic with the run id of the one master its INFO reached; topics on the other masters get a new epoch',
    },
    async () => {
      const prefix = `e${++n}`;
      const first = await openBroker(defaults, prefix);
      const topics = Array.from({ length: 6 }, (_, i) => `kept-${i}`);
      const written = await Promise.all(topics.map((t) => first.broker.appendAndPublish(t, { data: 1, from: 'a' })));
      await first.broker.close();
      const again = await openBroker(defaults, prefix);
      for (const [i, topic] of topics.entries()) {
        assert.deepEqual(await again.broker.position(topic), { epoch: written[i]!.publication.epoch, offset: 1 });
      }
      await again.broker.close();
    },
  );
});

describe('presence on a Redis Cluster of 3 masters', () => {
  it('shows each node the members of another on topics in different slots, and drops them when it leaves', async () => {
    const keys = new Keys(`r${++n}`);
    const [ra, sa, rb, sb] = await Promise.all([
      clusterClient(),
      clusterClient({ subscriber: true }),
      clusterClient(),
      clusterClient({ subscriber: true }),
    ]);
    const a = new RedisPresenceReplica(ra, sa, keys, 'node-a', 3000);
    const b = new RedisPresenceReplica(rb, sb, keys, 'node-b', 3000);
    const changes: ReplicaChange[] = [];
    const gone: string[] = [];
    b.onChange((c) => changes.push(c));
    b.onNodeGone((node) => gone.push(node));
    const topics = ['lobby', 'room-7', 'room-42'];
    for (const topic of topics) await b.follow(topic);
    const entry = { meta: null, connections: 1, devices: ['d1'], joinedAt: Date.now() };
    for (const topic of topics) a.publish(topic, 'ana', entry);
    await waitFor(() => topics.every((t) => changes.some((c) => c.topic === t && c.entry)), 10_000, 'ana on node B');
    // A one-off read goes through one MGET of the nodes' liveness keys (one slot).
    for (const topic of topics) {
      assert.deepEqual(
        (await b.read(topic)).map((c) => [c.node, c.member]),
        [['node-a', 'ana']],
      );
    }
    await a.close();
    await waitFor(() => gone.includes('node-a'), 10_000, 'node A gone on node B');
    for (const topic of topics) assert.deepEqual(await b.read(topic), []);
    await b.close();
  });
});

/**
 * A node's backend with topics, presence and conversations on the cluster. Its jobs stay in the
 * node's own memory (see the note at the top): this is what a node configured for a cluster
 * shares with the others today.
 */
async function clusterBackend(prefix: string): Promise<Backend> {
  const keys = new Keys(prefix);
  const [redis, subscriber] = await Promise.all([clusterClient(), clusterClient({ subscriber: true })]);
  const local = embeddedBackend(loadConfig({ overrides: { storage: 'memory' } }));
  return {
    ...local,
    shared: true,
    broker: (options) => new RedisBroker({ ...options, redis, subscriber, keys }),
    conversationStore: (options) => new RedisConversationStore(redis, keys, options),
    presenceStore: (options) => new RedisPresenceStore(redis, keys, options),
    presenceReplica: (node, ttlMs) => new RedisPresenceReplica(redis, subscriber, keys, node, ttlMs),
  };
}

describe('two nodes on a Redis Cluster of 3 masters', () => {
  it('fan a publication made on one node out to WebSocket subscribers on the other, for topics on every master', async () => {
    const prefix = `node${++n}`;
    const shared = { apiKey: 'cluster-test-api-key-0123456789', tokenSecret: 'cluster-test-token-secret-0123456789ab' };
    const nodes: TestNode[] = [];
    try {
      for (let i = 0; i < 2; i++) nodes.push(await startNode({ ...shared, backend: await clusterBackend(prefix) }));
      const [a, b] = nodes as [TestNode, TestNode];
      const scopes: Scope[] = [{ ops: ['subscribe', 'publish', 'history'], topics: ['room:*'] }];
      const client = b.client(await b.token('watcher', scopes));
      const topics = Array.from({ length: 6 }, (_, i) => `room:${i}`);
      const received = new Map<string, unknown[]>();
      for (const topic of topics) {
        const sub = client.subscribe(topic);
        sub.on('publication', (p) => received.set(topic, [...(received.get(topic) ?? []), p.data]));
        await new Promise((resolve) => sub.on('subscribed', resolve));
      }
      for (let i = 0; i < 5; i++) {
        for (const topic of topics) {
          const res = await a.api(`/v1/topics/${topic}/messages`, { body: { data: { i } } });
          assert.equal(res.status, 201, JSON.stringify(res.body));
          assert.equal(res.body.offset, i + 1);
        }
      }
      await waitFor(() => topics.every((t) => received.get(t)?.length === 5), 10_000, 'every publication on node B');
      for (const topic of topics)
        assert.deepEqual(
          received.get(topic),
          [0, 1, 2, 3, 4].map((i) => ({ i })),
        );
      const owners = new Set<string>();
      for (const topic of topics) {
        owners.add(slotOwner(await cluster.cli(0, 'cluster', 'keyslot', new Keys(prefix).topicLog(topic))));
      }
      assert.ok(owners.size > 1, 'the topics live on more than one master');
    } finally {
      for (const t of nodes) await t[Symbol.asyncDispose]();
    }
  });
});

/** The master serving `slot`: redis-cli --cluster create gives 3 masters 0-5460, 5461-10922, 10923-16383. */
function slotOwner(slot: string): string {
  const s = Number(slot);
  return s <= 5460 ? 'first' : s <= 10922 ? 'second' : 'third';
}
