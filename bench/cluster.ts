/**
 * Cluster benchmark: Inloop on Redis against Socket.IO's Redis adapter and BullMQ, in one run.
 * Every server process and Redis are pinned to core 0, this generator to core 1 (`npm run
 * bench:cluster`). On this 2-core machine two nodes share one core, so the 2-node rows show what
 * the cluster path costs and how the delivery work splits between nodes, not a scale-out.
 *
 * Prints:
 * - fan-out, 1,000 subscribers of one topic (spread evenly over the nodes), 100-byte payloads:
 *   p50/p99 publish-to-receive at 75 and 200 publications/s and deliveries/s at saturation, for
 *   Inloop embedded (1 node, reference), Inloop on Redis with 1 and 2 nodes, and Socket.IO with the
 *   Redis adapter with 1 and 2 nodes;
 * - job throughput, created to completed, trivial handler, 100 in flight, 10,000 jobs: Inloop on
 *   Redis (jobs through BullMQ, library API) against BullMQ used directly, on the same Redis.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { fanoutTable, measureFanout, type FanoutResult } from './lib/fanout.js';
import { redisPid, withPinnedRedis } from './lib/redis.js';
import { ask, inloop, socketIo, spawnPinned, stopServer, type ServerInfo, type Target } from './lib/targets.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 3000);
const THROUGHPUT_JOBS = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 10_000);
const SERVER_CPU = 0;

interface Scenario {
  name: string;
  target: Target;
  nodes: number;
  redis: boolean;
}

const scenarios: Scenario[] = [
  { name: 'inloop, 1 node, embedded SQLite', target: inloop, nodes: 1, redis: false },
  { name: 'inloop, 1 node on Redis', target: inloop, nodes: 1, redis: true },
  { name: 'inloop, 2 nodes on Redis', target: inloop, nodes: 2, redis: true },
  { name: 'socket.io + redis adapter, 1 node', target: socketIo, nodes: 1, redis: true },
  { name: 'socket.io + redis adapter, 2 nodes', target: socketIo, nodes: 2, redis: true },
];

async function runFanout(s: Scenario, redisPort: number): Promise<FanoutResult> {
  const env = {
    BENCH_REDIS_PREFIX: `b${randomBytes(4).toString('hex')}`,
    ...(s.redis ? { BENCH_REDIS_URL: `redis://127.0.0.1:${redisPort}` } : {}),
  };
  const nodes: { child: ChildProcess; info: ServerInfo }[] = [];
  for (let i = 0; i < s.nodes; i++) nodes.push(await spawnPinned(s.target.script, SERVER_CPU, env));
  const pids = nodes.map((n) => n.child.pid!);
  const rp = s.redis ? await redisPid(redisPort) : undefined;
  if (rp) pids.push(rp);
  try {
    return await measureFanout({
      name: s.name,
      subscribers: SUBSCRIBERS,
      phaseMs: PHASE_MS,
      stepMs: STEP_MS,
      // Subscribers alternate between the nodes; the publisher is on the first.
      subscribe: (i, sink) => {
        const { info } = nodes[i % nodes.length]!;
        return s.target.subscribe(info.port, info, sink);
      },
      publisher: () => s.target.publisher(nodes[0]!.info.port, nodes[0]!.info),
      serverPids: pids,
    });
  } finally {
    for (const n of nodes) await stopServer(n.child);
  }
}

async function jobThroughput(redisPort: number): Promise<{ inloop: number; bullmq: number }> {
  const node = await spawnPinned<{ port: number }>('inloop-jobs.js', SERVER_CPU, {
    BENCH_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  });
  const mine = await ask<{ seconds: number }>(
    node.child,
    { type: 'inproc', n: THROUGHPUT_JOBS, inFlight: 100 },
    'inproc-done',
  );
  await stopServer(node.child);
  const bull = await spawnPinned('bullmq.js', SERVER_CPU, { REDIS_PORT: String(redisPort) });
  const theirs = await ask<{ seconds: number }>(bull.child, { type: 'run', n: THROUGHPUT_JOBS, inFlight: 100 }, 'done');
  await stopServer(bull.child);
  return { inloop: THROUGHPUT_JOBS / mine.seconds, bullmq: THROUGHPUT_JOBS / theirs.seconds };
}

const outcome = await withPinnedRedis(SERVER_CPU, async (redisPort) => {
  const results: FanoutResult[] = [];
  for (const s of scenarios) {
    process.stdout.write(`running ${s.name} ...\n`);
    results.push(await runFanout(s, redisPort));
  }
  process.stdout.write('running job throughput ...\n');
  return { results, jobs: await jobThroughput(redisPort) };
});
if (!outcome) throw new Error('redis-server did not start');

process.stdout.write(
  `\nCluster fan-out: ${SUBSCRIBERS} subscribers spread over the nodes, one topic, 100-byte payloads, loopback; ` +
    `every node and Redis on core ${SERVER_CPU} (server CPU includes Redis)\n\n`,
);
process.stdout.write(fanoutTable(outcome.results));
const rate = (n: number) => Math.round(n).toLocaleString('en');
process.stdout.write(
  `\nJobs, ${THROUGHPUT_JOBS.toLocaleString('en')} trivial jobs, 100 in flight, same Redis: ` +
    `Inloop on Redis (through BullMQ) ${rate(outcome.jobs.inloop)} jobs/s; BullMQ directly ${rate(outcome.jobs.bullmq)} jobs/s ` +
    `(${(outcome.jobs.inloop / outcome.jobs.bullmq).toFixed(2)}x)\n`,
);
process.exit(0);
