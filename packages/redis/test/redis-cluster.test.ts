import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster, type Redis } from 'ioredis';
import { jobTopic, type Json, type Scope } from '@inloop/protocol';
import type { JobRecord } from '@inloop/server';
import type { BrokerOptions, ReplicaChange } from '@inloop/server/ports';
import {
  connectSubscriber,
  connectTo,
  createRedisBackend,
  JobConflictError,
  Keys,
  RedisBroker,
  RedisConversationStore,
  RedisJobStore,
  RedisPresenceReplica,
  RedisPresenceStore,
  whenReady,
} from '@inloop/redis';
import {
  apiRequest,
  describeBrokerConformance,
  describeConversationStoreConformance,
  describeJobStoreConformance,
  describePresenceStoreConformance,
  exited,
  jobRecord,
  readSse,
  spawnNode,
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

/** A redis-cli reply through the cluster (the last line: after any redirection notice). */
const read = async (...args: string[]): Promise<string> => (await cluster.cli(0, ...args)).split('\n').at(-1)!;

/** The cluster's masters as `redisCluster` takes them (`host:port`). */
const clusterNodes = (): string[] => cluster.nodes.map((node) => `${node.host}:${node.port}`);

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

describeBrokerConformance('redis cluster', async (options) => {
  const first = await openBroker(options);
  const reopened: RedisBroker[] = [];
  return {
    broker: first.broker,
    reopen: async () => {
      const again = (await openBroker(options, first.prefix)).broker;
      reopened.push(again);
      return again;
    },
    dispose: async () => {
      await first.broker.close();
      for (const broker of reopened) await broker.close();
    },
  };
});

describeJobStoreConformance('redis cluster', async (options) => ({
  store: new RedisJobStore(await clusterClient(), new Keys(`j${++n}`), options),
  dispose: async () => {},
}));

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

  it('keeps the epoch of topics on every master when a node opens its broker again', async () => {
    const prefix = `e${++n}`;
    const first = await openBroker(defaults, prefix);
    const topics = Array.from({ length: 6 }, (_, i) => `kept-${i}`);
    const owners = new Set<string>();
    for (const topic of topics)
      owners.add(slotOwner(await cluster.cli(0, 'cluster', 'keyslot', new Keys(prefix).topicMeta(topic))));
    assert.equal(owners.size, 3, 'the topics are on every master');
    const written = await Promise.all(topics.map((t) => first.broker.appendAndPublish(t, { data: 1, from: 'a' })));
    await first.broker.close();
    const again = await openBroker(defaults, prefix);
    for (const [i, topic] of topics.entries()) {
      assert.deepEqual(await again.broker.position(topic), { epoch: written[i]!.publication.epoch, offset: 1 });
      const appended = await again.broker.appendAndPublish(topic, { data: 2, from: 'b' });
      assert.deepEqual(
        [appended.publication.epoch, appended.publication.offset],
        [written[i]!.publication.epoch, 2],
        `${topic} continues its epoch`,
      );
    }
    await again.broker.close();
  });

  it('moves only the topics of a master that restarted to a new epoch, keeping what it persisted', async () => {
    // A cluster of its own whose masters keep their data (an AOF): a restarted master comes back
    // with its topics, as another process.
    await using persisted = await startRedisCluster({ masters: 3, appendOnly: true });
    const target = { cluster: persisted.nodes.map((node) => `${node.host}:${node.port}`) };
    const redis = connectTo(target);
    const subscriber = connectSubscriber(target);
    await Promise.all([whenReady(redis), whenReady(subscriber)]);
    const keys = new Keys(`r${++n}`);
    const broker = new RedisBroker({ ...defaults, redis, subscriber, keys });
    try {
      const topics = Array.from({ length: 6 }, (_, i) => `kept-${i}`);
      const owners = new Map<string, string>();
      for (const topic of topics)
        owners.set(topic, slotOwner(await persisted.cli(0, 'cluster', 'keyslot', keys.topicMeta(topic))));
      assert.equal(new Set(owners.values()).size, 3, 'the topics are on every master');
      const epochs = new Map<string, string>();
      for (const topic of topics)
        epochs.set(topic, (await broker.appendAndPublish(topic, { data: 1, from: 'a' })).publication.epoch);
      // The first master (slots 0-5460) stops and starts again; calls to its slots fail meanwhile.
      await persisted.restart(0);
      for (const topic of topics) {
        const position = (await waitFor(
          () => broker.position(topic).catch(() => null),
          20_000,
          `${topic} served again`,
        ))!;
        assert.equal(position.offset, 1, `${topic} keeps its history`);
        if (owners.get(topic) === 'first')
          assert.notEqual(position.epoch, epochs.get(topic), `${topic}, on the restarted master: a new epoch`);
        else assert.equal(position.epoch, epochs.get(topic), `${topic}, on another master: its epoch`);
      }
    } finally {
      await broker.close();
      redis.disconnect();
      subscriber.disconnect();
    }
  });
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

describe('two nodes on a Redis Cluster of 3 masters', () => {
  it('fan a publication made on one node out to WebSocket subscribers on the other, for topics on every master', async () => {
    const prefix = `node${++n}`;
    const shared = { apiKey: 'cluster-test-api-key-0123456789', tokenSecret: 'cluster-test-token-secret-0123456789ab' };
    const nodes: TestNode[] = [];
    try {
      for (let i = 0; i < 2; i++)
        nodes.push(await startNode({ ...shared, redisCluster: clusterNodes(), redisPrefix: prefix }));
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

const bounds = { maxCount: 1000, maxAgeMs: 3_600_000, idempotencyTtlMs: 300_000 };

/** A queued job whose input looks like the fields a careless script would match in its JSON. */
function record(id: string): JobRecord {
  const now = Date.now();
  return jobRecord(id, {
    type: 'work',
    input: { note: '"status":"succeeded","epoch":"x","lastOffset":99}' },
    createdAt: now,
    runAfter: now,
    createdBy: 'test',
  });
}

/** One node's view of the backend `createRedisBackend({ cluster })` gives: broker, job store, locks. */
async function jobNodeOn(prefix: string) {
  const backend = await createRedisBackend({ cluster: clusterNodes(), prefix });
  const store = backend.jobStore();
  const broker = backend.broker(bounds);
  /** Append the job's event with its record in one step (what the job service does on Redis). */
  const step = async (job: JobRecord, type: string) => {
    const { publication } = await broker.appendAndPublish(jobTopic(job.id), {
      data: { type, job: { status: job.status } } as Json,
      from: 'inloop',
      job,
    });
    job.epoch = publication.epoch;
    job.lastOffset = publication.offset;
  };
  const lease = async (id: string, token: string) => {
    const job = (await store.get(id))!;
    job.status = 'running';
    job.attempt++;
    job.fence++;
    job.lease = { token, fence: job.fence, worker: token, expiresAt: Date.now() + 1000 };
    await step(job, 'job.started');
    return job;
  };
  return {
    broker,
    store,
    step,
    lease,
    async [Symbol.asyncDispose]() {
      await broker.close();
      await backend.close();
    },
  };
}

describe('job changes on a Redis Cluster of 3 masters', () => {
  it('keep each job’s keys in one slot, spread jobs over the masters, and fence a stale worker out', async () => {
    const prefix = `js${++n}`;
    await using a = await jobNodeOn(prefix);
    await using b = await jobNodeOn(prefix);
    assert.equal(a.broker.savesJobs, true);
    const keys = new Keys(prefix);
    const owners = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const id = `spread-${i}`;
      const slots = new Set<string>();
      for (const key of [keys.job(id), keys.topicMeta(jobTopic(id)), keys.topicLog(jobTopic(id))])
        slots.add(await cluster.cli(0, 'cluster', 'keyslot', key));
      assert.equal(slots.size, 1, `${id}: record, meta and log in one slot`);
      owners.add(slotOwner([...slots][0]!));
      const job = record(id);
      await a.store.insert(job);
      await a.step(job, 'job.queued');
    }
    assert.equal(owners.size, 3, 'jobs on every master');

    for (let i = 0; i < 6; i++) {
      const id = `spread-${i}`;
      await a.lease(id, 'first');
      // The first worker's node holds its view (fence 1) while the job is retried and leased
      // again on B (fence 2).
      const stale = (await a.store.get(id))!;
      const retried = (await b.store.get(id))!;
      Object.assign(retried, { status: 'queued', lease: null, message: 'Retrying' });
      await b.step(retried, 'job.retrying');
      const second = await b.lease(id, 'second');
      assert.equal(second.fence, 2);
      // The stale worker's finish: refused, nothing written.
      Object.assign(stale, { status: 'succeeded', result: 'stale', lease: null });
      await assert.rejects(a.step(stale, 'job.succeeded'), (err: unknown) => err instanceof JobConflictError);
      // Nor does a renewal of its lease (a save without an event) take the record back.
      await a.store.save({
        ...stale,
        status: 'running',
        lease: { token: 'first', fence: 1, worker: 'w', expiresAt: 1 },
      });
      const stored = (await b.store.get(id))!;
      assert.deepEqual(
        [stored.status, stored.fence, stored.lease?.token, stored.lastOffset],
        ['running', 2, 'second', 4],
      );
      // The holder finishes: one terminal event, and the job leaves the unfinished set.
      Object.assign(second, { status: 'succeeded', result: 'second', lease: null });
      await b.step(second, 'job.succeeded');
      const page = await a.broker.history(jobTopic(id), 0, 100);
      assert.deepEqual(
        page.publications.map((p) => (p.data as { type: string }).type),
        ['job.queued', 'job.started', 'job.retrying', 'job.started', 'job.succeeded'],
      );
    }
    assert.deepEqual(await a.store.unfinished(), []);
    assert.equal(await read('scard', keys.jobsUnfinished), '0');
    assert.equal(await read('zcard', keys.jobsOutbox), '0');
  });
});

describe('jobs on two nodes of a Redis Cluster of 3 masters (configured by redisCluster)', () => {
  const shared = { apiKey: 'cluster-test-api-key-0123456789', tokenSecret: 'cluster-test-token-secret-0123456789ab' };
  const prefix = `jn${randomBytes(3).toString('hex')}`;
  let a: TestNode;
  let b: TestNode;
  before(async () => {
    const options = { ...shared, redisCluster: clusterNodes(), redisPrefix: prefix, jobLeaseMs: 1000 };
    a = await startNode(options);
    b = await startNode(options);
    for (const t of [a, b]) t.node.jobs.define('work', { backoffMs: 50 });
  });
  after(async () => {
    await a?.[Symbol.asyncDispose]();
    await b?.[Symbol.asyncDispose]();
  });

  type Event = { data: { type: string; job: { status: string } } };
  const history = async (node: TestNode, id: string) =>
    ((await node.api(`/v1/topics/job:${id}/messages?after=0`)).body.messages as Event[]).map((e) => e.data.type);
  /** Lease the job through `node` (a long lease: the test's steps never outlast it). */
  const leaseThrough = (node: TestNode, id: string) =>
    waitFor(
      async () => {
        const res = await node.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 1000, leaseMs: 60_000 } });
        return res.status === 200 && res.body.job.id === id ? res.body : null;
      },
      20_000,
      `job ${id} leased`,
    );

  it('runs a job created on one node through the other, watched from the first to its one terminal event', async () => {
    const created = await b.api('/v1/jobs', { body: { type: 'work', input: 21 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const id = created.body.id as string;
    const watch = await fetch(`${b.url}/v1/jobs/${id}/stream`, {
      headers: { authorization: `Bearer ${shared.apiKey}` },
    });
    assert.equal(watch.status, 200);
    const watched = readSse(watch, (events) => events.some((e) => e.event === 'job.succeeded'));
    const leased = await leaseThrough(a, id);
    assert.equal(leased.job.attempt, 1);
    const token = leased.lease.token as string;
    // Inloop's queue holds it under the lease's token, in the type's one slot (`{q:work}`).
    assert.equal(await read('hget', `${prefix}:{q:work}:jobs`, id), token);
    const progress = await a.api(`/v1/jobs/${id}/progress`, {
      body: { lease: token, progress: 0.5, partial: { line: 1 } },
    });
    assert.equal(progress.status, 200, JSON.stringify(progress.body));
    const done = await a.api(`/v1/jobs/${id}/complete`, { body: { lease: token, result: 42 } });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const events = (await watched).map((e) => e.event);
    assert.equal(events[0], 'job.snapshot');
    for (const type of ['job.started', 'job.partial', 'job.succeeded'])
      assert.ok(events.includes(type), `${type} in ${events.join(' ')}`);
    assert.equal(events.filter((e) => ['job.succeeded', 'job.failed', 'job.cancelled'].includes(e)).length, 1);
    assert.equal(events.at(-1), 'job.succeeded');
    const job = await b.api(`/v1/jobs/${id}`);
    assert.deepEqual([job.body.status, job.body.result], ['succeeded', 42]);
    // And lets it go once it ended.
    assert.equal(await read('hexists', `${prefix}:{q:work}:jobs`, id), '0');
  });

  it('retries a failed attempt on another node, cancels a queued job, and keeps an idempotency key across nodes', async () => {
    const created = await a.api('/v1/jobs', { body: { type: 'work', input: 1 } });
    const id = created.body.id as string;
    const first = await leaseThrough(b, id);
    const failed = await b.api(`/v1/jobs/${id}/fail`, {
      body: { lease: first.lease.token, error: { message: 'flaky' } },
    });
    assert.deepEqual([failed.status, failed.body.status], [200, 'queued'], JSON.stringify(failed.body));
    const second = await leaseThrough(a, id);
    assert.equal(second.job.attempt, 2);
    assert.equal(second.lease.fence, first.lease.fence + 1);
    const done = await b.api(`/v1/jobs/${id}/complete`, { body: { lease: second.lease.token, result: 'again' } });
    assert.equal(done.body.status, 'succeeded', JSON.stringify(done.body));
    assert.deepEqual(await history(a, id), [
      'job.queued',
      'job.started',
      'job.retrying',
      'job.started',
      'job.succeeded',
    ]);

    const queued = await b.api('/v1/jobs', { body: { type: 'work', input: 2 } });
    const cancelled = await a.api(`/v1/jobs/${queued.body.id}/cancel`, { body: {} });
    assert.deepEqual([cancelled.status, cancelled.body.status], [202, 'cancelled'], JSON.stringify(cancelled.body));
    assert.equal((await b.api(`/v1/jobs/${queued.body.id}`)).body.status, 'cancelled');
    assert.deepEqual(await history(b, queued.body.id as string), ['job.queued', 'job.cancelled']);
    const none = await a.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 300 } });
    assert.equal(none.status, 204, 'the cancelled job is out of the queue');

    const key = { 'idempotency-key': `order-${n}` };
    const once = await a.api('/v1/jobs', { body: { type: 'work', input: 3 }, headers: key });
    const twice = await b.api('/v1/jobs', { body: { type: 'work', input: 3 }, headers: key });
    assert.equal(once.status, 202);
    assert.equal(twice.body.id, once.body.id, 'the same key names the same job through either node');
    await a.api(`/v1/jobs/${once.body.id}/cancel`, { body: {} });
  });

  it('refuses a stale worker through either node once its job was leased again on the other', async () => {
    // The tests above leased 'work' for 60 s first; this lease is the node's 1 s, and lapses in
    // about that (BullMQ's lock follows each lease's own length, not the first one asked).
    const created = await a.api('/v1/jobs', { body: { type: 'work', input: 1 } });
    const id = created.body.id as string;
    const first = await waitFor(
      async () => {
        // The node's lease (1 s): the worker goes silent and the lease lapses.
        const res = await a.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 1000 } });
        return res.status === 200 && res.body.job.id === id ? res.body : null;
      },
      20_000,
      'the first lease',
    );
    const stale = first.lease.token as string;
    const second = await leaseThrough(b, id);
    assert.equal(second.lease.fence, first.lease.fence + 1);
    for (const node of [a, b]) {
      const progress = await node.api(`/v1/jobs/${id}/progress`, { body: { lease: stale, progress: 0.9 } });
      assert.deepEqual([progress.status, progress.body.code], [409, 'lease_lost']);
      const complete = await node.api(`/v1/jobs/${id}/complete`, { body: { lease: stale, result: 'stale' } });
      assert.deepEqual([complete.status, complete.body.code], [409, 'lease_lost']);
    }
    const done = await a.api(`/v1/jobs/${id}/complete`, { body: { lease: second.lease.token, result: 'second' } });
    assert.equal(done.body.status, 'succeeded', JSON.stringify(done.body));
    const types = await history(b, id);
    assert.deepEqual(types.slice(0, 2), ['job.queued', 'job.started']);
    assert.ok(types.includes('job.retrying'), types.join(' '));
    assert.equal(types.filter((t) => ['job.succeeded', 'job.failed', 'job.cancelled'].includes(t)).length, 1);
    assert.equal(types.at(-1), 'job.succeeded');
    assert.ok(!types.includes('job.progress'), types.join(' '));
  });
});

describe('the inloop command on a Redis Cluster (INLOOP_REDIS_CLUSTER)', () => {
  it('serves a topic and a job from the cluster', async () => {
    const apiKey = randomBytes(18).toString('base64url');
    const prefix = `cli${++n}`;
    const started = await spawnNode({
      INLOOP_REDIS_CLUSTER: clusterNodes().join(','),
      INLOOP_REDIS_PREFIX: prefix,
      INLOOP_PORT: '0',
      INLOOP_HOST: '127.0.0.1',
      INLOOP_API_KEY: apiKey,
      INLOOP_JOB_TYPES: 'work',
    });
    try {
      assert.match(started.output(), /redis cluster: 127\.0\.0\.1:\d+/);
      const api = (path: string, body?: unknown) => apiRequest(started.url, apiKey, path, { body });
      const published = await api('/v1/topics/room:cli/messages', { data: { hello: 1 } });
      assert.deepEqual([published.status, published.body.offset], [201, 1], JSON.stringify(published.body));
      const page = await api('/v1/topics/room:cli/messages?after=0');
      assert.deepEqual(
        (page.body.messages as { data: unknown }[]).map((m) => m.data),
        [{ hello: 1 }],
      );
      assert.equal(await read('hget', new Keys(prefix).topicMeta('room:cli'), 'last'), '1');

      const created = await api('/v1/jobs', { type: 'work', input: 2 });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const id = created.body.id as string;
      const leased = await api('/v1/workers/lease', { types: ['work'], waitMs: 5000 });
      assert.equal(leased.body.job.id, id);
      const done = await api(`/v1/jobs/${id}/complete`, { lease: leased.body.lease.token, result: 4 });
      assert.equal(done.body.status, 'succeeded', JSON.stringify(done.body));
      assert.deepEqual(
        [
          (await api(`/v1/jobs/${id}`)).body.result,
          (JSON.parse(await read('get', new Keys(prefix).job(id))) as JobRecord).status,
        ],
        [4, 'succeeded'],
      );
    } finally {
      started.child.kill('SIGTERM');
      await exited(started.child);
    }
  });
});

/** The master serving `slot`: redis-cli --cluster create gives 3 masters 0-5460, 5461-10922, 10923-16383. */
function slotOwner(slot: string): string {
  const s = Number(slot);
  return s <= 5460 ? 'first' : s <= 10922 ? 'second' : 'third';
}
