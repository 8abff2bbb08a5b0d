/**
 * When to shard: topic publications through the Redis broker on one redis-server against a Redis
 * Cluster of 3 masters (`npm run bench:shards`). Two brokers stand for two nodes: A publishes
 * `BENCH_SHARDS_PUBLICATIONS` (default 20,000) small publications over 300 topics, 64 in flight;
 * B watches every topic. Prints publications/s to B, and Redis CPU per publication (every
 * redis-server's user + system time, from INFO cpu), in total and per master: in a cluster a
 * topic's append runs on its own master, but a classic PUBLISH is broadcast to every master over
 * the cluster bus.
 */
import { Cluster, Redis } from 'ioredis';
import { Keys, RedisBroker } from '@inloop/redis';
import type { BrokerOptions } from '@inloop/server/ports';
import { startRedis, startRedisCluster } from '@inloop/testing';
import { redisCli } from './lib/redis.js';
import { loadAverage } from './lib/stats.js';

const PUBLICATIONS = Number(process.env.BENCH_SHARDS_PUBLICATIONS ?? 20_000);
const TOPICS = 300;
const IN_FLIGHT = 64;
const options: BrokerOptions = { maxCount: 1000, maxAgeMs: 86_400_000, idempotencyTtlMs: 300_000 };

function cpuSeconds(port: number): number {
  const info = redisCli(port, 'INFO', 'cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
}

async function ready(c: Redis | Cluster): Promise<Redis> {
  c.on('error', () => {});
  if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
  return c as unknown as Redis;
}

/** Publish through A, receive on B; returns publications/s and each server's CPU seconds. */
async function run(
  connect: (subscriber: boolean) => Redis | Cluster,
  ports: number[],
): Promise<{ rate: number; cpu: number[] }> {
  const clients = [connect(false), connect(true), connect(false), connect(true)];
  const [ra, sa, rb, sb] = await Promise.all(clients.map(ready));
  const keys = new Keys(`shards${process.pid}`);
  const a = new RedisBroker({ ...options, redis: ra!, subscriber: sa!, keys });
  const b = new RedisBroker({ ...options, redis: rb!, subscriber: sb!, keys });
  const topics = Array.from({ length: TOPICS }, (_, i) => `topic-${i}`);
  let received = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((r) => (done = r));
  b.onPublication(() => void (++received === PUBLICATIONS && done()));
  for (const topic of topics) await b.watch(topic);
  const cpuBefore = ports.map(cpuSeconds);
  const start = performance.now();
  let sent = 0;
  const worker = async () => {
    while (sent < PUBLICATIONS) {
      const i = sent++;
      await a.appendAndPublish(topics[i % TOPICS]!, { data: { i }, from: 'bench' });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  await all;
  const seconds = (performance.now() - start) / 1000;
  const cpu = ports.map((port, i) => cpuSeconds(port) - cpuBefore[i]!);
  await a.close();
  await b.close();
  for (const c of clients) c.disconnect();
  return { rate: PUBLICATIONS / seconds, cpu };
}

const line = (name: string, r: { rate: number; cpu: number[] }) => {
  const total = r.cpu.reduce((x, y) => x + y, 0);
  const perMaster = r.cpu.map((s) => ((s * 1e6) / PUBLICATIONS).toFixed(0)).join(' / ');
  return (
    `${name}: ${Math.round(r.rate).toLocaleString('en')} publications/s to the other node; Redis CPU ` +
    `${((total * 1e6) / PUBLICATIONS).toFixed(0)} us per publication in total (${perMaster} per server)`
  );
};

const out: string[] = [];
{
  await using single = await startRedis();
  out.push(await loadAverage());
  const r = await run(
    (subscriber) =>
      new Redis(single.port, '127.0.0.1', subscriber ? { maxRetriesPerRequest: null } : { enableOfflineQueue: true }),
    [single.port],
  );
  out.push(line('one redis-server', r));
}
{
  await using cluster = await startRedisCluster({ masters: 3 });
  out.push(await loadAverage());
  const r = await run(
    () => new Cluster(cluster.nodes),
    cluster.nodes.map((n) => n.port),
  );
  out.push(line('Redis Cluster, 3 masters', r));
}
for (const l of out) console.log(l);
