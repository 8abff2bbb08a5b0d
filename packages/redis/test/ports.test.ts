import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BrokerOptions, JobQueue, JobRecord, Publication } from '@inloop/server/ports';
import {
  BullJobQueue,
  connect,
  connectSubscriber,
  Keys,
  RedisJobQueue,
  RedisBroker,
  RedisConversationStore,
  RedisJobStore,
  RedisPresenceStore,
  whenReady,
} from '@inloop/redis';
import {
  describeBrokerConformance,
  describeConversationStoreConformance,
  describeJobQueueConformance,
  describeJobStoreConformance,
  describePresenceStoreConformance,
  waitFor,
  describeWebhookOutboxConformance,
  startRedis,
  type TestRedis,
} from '@inloop/testing';
import { RedisWebhookOutbox } from '../src/webhook-outbox.js';

let redis: TestRedis;
let n = 0;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis[Symbol.asyncDispose]();
});

async function open(options: BrokerOptions, prefix = `t${++n}`) {
  const command = connect(redis.url);
  const subscriber = connectSubscriber(redis.url);
  await Promise.all([whenReady(command), whenReady(subscriber)]);
  const broker = new RedisBroker({ ...options, redis: command, subscriber, keys: new Keys(prefix) });
  return {
    broker,
    prefix,
    close: async () => {
      await broker.close();
      command.disconnect();
      subscriber.disconnect();
    },
  };
}

describeBrokerConformance('redis', async (options) => {
  const first = await open(options);
  const reopened: (() => Promise<void>)[] = [];
  return {
    broker: first.broker,
    reopen: async () => {
      const again = await open(options, first.prefix);
      reopened.push(again.close);
      return again.broker;
    },
    dispose: async () => {
      await first.close();
      for (const close of reopened) await close();
    },
  };
});

async function command() {
  const redisConnection = connect(redis.url);
  await whenReady(redisConnection);
  return redisConnection;
}

describeConversationStoreConformance('redis', async (options) => {
  const c = await command();
  return { store: new RedisConversationStore(c, new Keys(`s${++n}`), options), dispose: async () => c.disconnect() };
});

describePresenceStoreConformance('redis', async (options) => {
  const c = await command();
  return { store: new RedisPresenceStore(c, new Keys(`p${++n}`), options), dispose: async () => c.disconnect() };
});

describeJobStoreConformance('redis', async (options) => {
  const c = await command();
  return { store: new RedisJobStore(c, new Keys(`j${++n}`), options), dispose: async () => c.disconnect() };
});

const defaults: BrokerOptions = { maxCount: 1000, maxAgeMs: 86_400_000, idempotencyTtlMs: 300_000 };

describe('redis broker across nodes', () => {
  it('hands every node the publications of another, in offset order', async () => {
    const prefix = `x${++n}`;
    const a = await open(defaults, prefix);
    const b = await open(defaults, prefix);
    const seen: Publication[] = [];
    b.broker.onPublication((p) => seen.push(p));
    await b.broker.watch('room');
    // Two publishers on two nodes at once: B must still see 1..40 in order.
    await Promise.all([
      (async () => {
        for (let i = 0; i < 20; i++) await a.broker.appendAndPublish('room', { data: `a${i}`, from: 'a' });
      })(),
      (async () => {
        for (let i = 0; i < 20; i++) await b.broker.appendAndPublish('room', { data: `b${i}`, from: 'b' });
      })(),
    ]);
    await waitFor(() => seen.length === 40, 5000, 'all 40 publications on node B');
    assert.deepEqual(
      seen.map((p) => (p as { offset: number }).offset),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    await a.close();
    await b.close();
  });

  it('repairs a gap from the stream when a message never arrived on the channel', async () => {
    const prefix = `g${++n}`;
    const a = await open(defaults, prefix);
    const b = await open(defaults, prefix);
    const seen: Publication[] = [];
    b.broker.onPublication((p) => seen.push(p));
    await b.broker.watch('feed');
    await a.broker.appendAndPublish('feed', { data: 1, from: 'a' });
    await waitFor(() => seen.length === 1, 5000, 'the first publication');
    // Append two entries behind the channel's back (as if their messages were lost in transit),
    // then one more through the broker: B notices offsets 2 and 3 missing and reads them back.
    const raw = connect(redis.url);
    await whenReady(raw);
    const keys = new Keys(prefix);
    for (const offset of [2, 3]) {
      await raw.hincrby(keys.topicMeta('feed'), 'last', 1);
      await raw.xadd(
        keys.topicLog('feed'),
        `${offset}-0`,
        'p',
        JSON.stringify({ topic: 'feed', data: offset, from: 'x' }),
        't',
        Date.now(),
      );
    }
    raw.disconnect();
    await a.broker.appendAndPublish('feed', { data: 4, from: 'a' });
    await waitFor(() => seen.length === 4, 5000, 'the repaired publications');
    assert.deepEqual(
      seen.map((p) => p.data),
      [1, 2, 3, 4],
    );
    await a.close();
    await b.close();
  });

  it('starts a new epoch when Redis lost the topic (FLUSHALL), never reusing offsets silently', async () => {
    const { broker, close } = await open(defaults);
    const before = await broker.appendAndPublish('e', { data: 1, from: 'a' });
    await redis.cli('FLUSHALL');
    const afterFlush = await broker.appendAndPublish('e', { data: 2, from: 'a' });
    assert.notEqual(afterFlush.publication.epoch, before.publication.epoch);
    assert.equal(afterFlush.publication.offset, 1);
    const page = await broker.history('e', 0, 10);
    assert.deepEqual(
      page.publications.map((p) => p.data),
      [2],
    );
    await close();
  });
});

describe('redis broker whose subscriber connection is cut', () => {
  it(
    'takes every watch made while it reconnects, and each topic is heard from then on',
    { timeout: 60_000 },
    async () => {
      const prefix = `k${++n}`;
      const a = await open(defaults, prefix);
      const b = await open(defaults, prefix);
      const admin = await command();
      const seen = new Set<string>();
      b.broker.onPublication((p) => seen.add(p.topic));
      try {
        for (let round = 0; round < 5; round++) {
          // Cut, then a watch every millisecond while ioredis reconnects (it writes a SUBSCRIBE made
          // in the middle of its handshake at once).
          await admin.client('KILL', 'TYPE', 'pubsub');
          // Each watch's outcome as it settles: refused (or unanswered) is an error.
          const watches: Promise<Error | null>[] = [];
          for (let i = 0; i < 300; i++) {
            const topic = `cut${round}-${i}`;
            // Refused, or unanswered after 10 s (the way the unfixed connection failed them too).
            const unanswered = new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error('no answer')), 10_000).unref(),
            );
            watches.push(
              Promise.race([b.broker.watch(topic), unanswered]).then(
                () => null,
                (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
              ),
            );
            await new Promise((r) => setTimeout(r, 1));
          }
          const refused = (await Promise.all(watches)).filter((e) => e !== null);
          assert.equal(refused.length, 0, `round ${round}: ${refused.length} of 300 watches refused`);
          // A publication on A reaches B on a topic watched in the middle of the reconnection.
          const topic = `cut${round}-100`;
          await a.broker.appendAndPublish(topic, { data: round, from: 'a' });
          await waitFor(() => seen.has(topic), 5000, `a publication on ${topic}`);
        }
      } finally {
        admin.disconnect();
        await a.close();
        await b.close();
      }
    },
  );
});

describe('redis broker retention', () => {
  it('writes nothing to Redis when new topic names are only read', async () => {
    const { broker, prefix, close } = await open(defaults);
    const raw = await command();
    const keys = async () => (await raw.keys(`${prefix}*`)).length;
    await broker.appendAndPublish('kept', { data: 1, from: 'a' });
    const before = await keys();
    for (let i = 0; i < 100; i++) await broker.history(`new-${i}`, 0, 10);
    assert.equal(await keys(), before);
    raw.disconnect();
    await close();
  });
});

describe('redis broker when Redis restarts', () => {
  it('moves a topic to a new epoch after a restart (its last writes may be gone), keeping its history', async () => {
    await using durable = await startRedis({ durable: true });
    const command = connect(durable.url);
    const subscriber = connectSubscriber(durable.url);
    await Promise.all([whenReady(command), whenReady(subscriber)]);
    const broker = new RedisBroker({ ...defaults, redis: command, subscriber, keys: new Keys('r') });
    const first = await broker.appendAndPublish('log', { data: 1, from: 'a' });
    await durable.stop();
    await durable.start();
    await waitFor(() => command.status === 'ready', 10_000, 'the reconnect');
    const position = await broker.position('log');
    assert.notEqual(position.epoch, first.publication.epoch, 'a client at the old epoch is told recovered: false');
    assert.equal(position.offset, 1, 'offsets go on');
    assert.deepEqual(
      (await broker.history('log', 0, 10)).publications.map((p) => p.data),
      [1],
    );
    assert.equal((await broker.position('log')).epoch, position.epoch, 'and stays on the new epoch while Redis runs');
    await broker.close();
    command.disconnect();
    subscriber.disconnect();
  });
});

describeWebhookOutboxConformance('redis', async () => {
  const c = await command();
  return { outbox: new RedisWebhookOutbox(c, new Keys(`o${++n}`)), dispose: async () => c.disconnect() };
});

/** A queue shared by nodes that each have their own connections, on one prefix. */
function sharedQueue(kind: 'bullmq' | 'inloop') {
  return async () => {
    const keys = new Keys(`q${++n}`);
    const connections: ReturnType<typeof connect>[] = [];
    const connection = async (options = {}) => {
      const c = connect(redis.url, options);
      connections.push(c);
      await whenReady(c);
      return c;
    };
    const storeConnection = await connection();
    const store = new RedisJobStore(storeConnection, keys);
    const queues: JobQueue[] = [];
    return {
      async node() {
        const [c, subscriber] = [await connection({ enableAutoPipelining: true }), connectSubscriber(redis.url)];
        connections.push(subscriber);
        await whenReady(subscriber);
        const queue =
          kind === 'inloop'
            ? new RedisJobQueue({ redis: c, subscriber, keys, store })
            : new BullJobQueue({
                redis: c,
                subscriber,
                keys,
                store,
                bullConnection: () => {
                  const b = connect(redis.url, { maxRetriesPerRequest: null, enableOfflineQueue: true });
                  connections.push(b);
                  return b;
                },
              });
        queues.push(queue);
        return queue;
      },
      insert: async (job: JobRecord) => void (await store.insert(job)),
      async dispose() {
        await Promise.allSettled(queues.map((q) => q.close()));
        for (const c of connections) c.disconnect();
      },
    };
  };
}

describeJobQueueConformance('redis (inloop)', sharedQueue('inloop'));
describeJobQueueConformance('redis (bullmq)', sharedQueue('bullmq'));
