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
 *   Redis (library API) against BullMQ used directly, with Redis pinned to the node's core and on
 *   a core of its own (Inloop also with Redis's `stream-node-max-bytes` at 2048, as operations.md
 *   recommends); per job: Redis commands and their µs (INFO commandstats), Redis CPU (INFO cpu),
 *   node CPU (/proc), the memory Redis holds after the run (INFO memory: finished jobs are kept),
 *   and the calls on the wire by command (MONITOR, a short separate run);
 * - `POST /v1/jobs` to 202 at 1,000 jobs/s on a node on Redis: p50/p99.
 *
 * `BENCH_CLUSTER=jobs` runs the jobs part alone; `BENCH_CLUSTER=accept` only the `202` at 1,000/s.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { fanoutTable, measureFanout, type FanoutResult } from './lib/fanout.js';
import { acceptLatency } from './lib/accept-load.js';
import { redisPid, withPinnedRedis, withStreamNodeMaxBytes } from './lib/redis.js';
import { costDelta, countCalls, redisCost, type CallCount, type RedisCost } from './lib/redis-cost.js';
import { cpuOf, loadAverage } from './lib/stats.js';
import { ask, inloop, socketIo, spawnPinned, stopServer, type ServerInfo, type Target } from './lib/targets.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 3000);
const THROUGHPUT_JOBS = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 10_000);
const SERVER_CPU = 0;
const COUNT_JOBS = Number(process.env.BENCH_COUNT_JOBS ?? 1000);
const ACCEPT_RATE = Number(process.env.BENCH_JOBS_RATE ?? 1000);
const ACCEPT_SECONDS = Number(process.env.BENCH_JOBS_SECONDS ?? 30);
/** `fanout`, `jobs` or both (comma-separated). @default 'fanout,jobs' */
const PARTS = (process.env.BENCH_CLUSTER ?? 'fanout,jobs').split(',');

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

interface JobsRun {
  rate: number;
  /** Node CPU milliseconds per job (the Inloop node, or BullMQ's process). */
  nodeCpuMs: number;
  redis: RedisCost;
}

/** Inloop with each of its queues (`redisJobQueue`), or BullMQ used directly. */
/** `bullmq-kept`: BullMQ keeping finished jobs for seven days, as Inloop keeps their records. */
type Side = 'inloop' | 'inloop-bullmq' | 'bullmq' | 'bullmq-kept';

/** The environment of an Inloop node on the Redis at `redisPort` with the side's queue. */
const inloopEnv = (side: Side, redisPort: number) => ({
  BENCH_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  BENCH_JOB_QUEUE: side === 'inloop' ? 'inloop' : 'bullmq',
});

/** Created to completed, trivial handler, 100 in flight: one side, on the Redis at `redisPort`. */
async function jobsRun(side: Side, redisPort: number, n: number): Promise<JobsRun> {
  const bull = side === 'bullmq' || side === 'bullmq-kept';
  const server = bull
    ? await spawnPinned('bullmq.js', SERVER_CPU, { REDIS_PORT: String(redisPort) })
    : await spawnPinned('inloop-jobs.js', SERVER_CPU, inloopEnv(side, redisPort));
  try {
    const pid = server.child.pid!;
    const cpu0 = await cpuOf(pid);
    const redis0 = redisCost(redisPort);
    const { seconds } = bull
      ? await ask<{ seconds: number }>(
          server.child,
          { type: 'run', n, inFlight: 100, keep: side === 'bullmq-kept' },
          'done',
        )
      : await ask<{ seconds: number }>(server.child, { type: 'inproc', n, inFlight: 100 }, 'inproc-done');
    const redis = costDelta(redis0, redisCost(redisPort));
    return { rate: n / seconds, nodeCpuMs: (((await cpuOf(pid)) - cpu0) * 1000) / n, redis };
  } finally {
    await stopServer(server.child);
  }
}

/** Calls per job on the wire (a script counts once), from MONITOR over a short run. */
async function callsPerJob(side: Side, redisPort: number, n: number): Promise<CallCount> {
  const { count } = await countCalls(redisPort, () => jobsRun(side, redisPort, n));
  return count;
}

const per = (x: number, n: number) => (x / n).toFixed(1);

/**
 * The `stream-node-max-bytes` operations.md recommends for Redis under Inloop's jobs: each job has
 * a stream of its own, and Redis 6.2 and later allocate a stream's first node at this size (up to
 * 4 KiB, its default), which costs Redis a page's worth of memory per job and CPU per new stream.
 */
const TUNED_STREAM_NODE_BYTES = 2048;

/** Job throughput and what it costs, Inloop on Redis and BullMQ alone, on one Redis pinned to `redisCpu`. */
async function jobRows(redisCpu: number, where: string): Promise<string[]> {
  const rows: string[] = [];
  const result = await withPinnedRedis(redisCpu, async (port) => {
    const load = await loadAverage();
    const inloopRun = await jobsRun('inloop', port, THROUGHPUT_JOBS);
    const tunedRun = await withStreamNodeMaxBytes(port, TUNED_STREAM_NODE_BYTES, () =>
      jobsRun('inloop', port, THROUGHPUT_JOBS),
    );
    const throughBull = await jobsRun('inloop-bullmq', port, THROUGHPUT_JOBS);
    const bullRun = await jobsRun('bullmq', port, THROUGHPUT_JOBS);
    const keptRun = await jobsRun('bullmq-kept', port, THROUGHPUT_JOBS);
    for (const [name, r] of [
      ["Inloop on Redis, Inloop's queue (library API)", inloopRun],
      [
        `Inloop on Redis, Inloop's queue, Redis with stream-node-max-bytes ${TUNED_STREAM_NODE_BYTES} (operations.md)`,
        tunedRun,
      ],
      ['Inloop on Redis, BullMQ queue (library API)', throughBull],
      ['BullMQ directly', bullRun],
      ['BullMQ directly, finished jobs kept 7 days (as Inloop keeps records)', keptRun],
    ] as const) {
      const redisCpuUs = (r.redis.cpuSeconds * 1e6) / THROUGHPUT_JOBS;
      rows.push(
        `| ${where} | ${name} | ${Math.round(r.rate).toLocaleString('en')} | ${per(r.redis.calls, THROUGHPUT_JOBS)} | ` +
          `${per(r.redis.commandUs, THROUGHPUT_JOBS)} | ${redisCpuUs.toFixed(0)} | ${(r.nodeCpuMs * 1000).toFixed(0)} | ` +
          `${Math.round(r.redis.usedMemory / THROUGHPUT_JOBS).toLocaleString('en')} |`,
      );
    }
    rows.push(`| ${where} | ratio Inloop / BullMQ | ${(inloopRun.rate / bullRun.rate).toFixed(2)}x | | | | | |`);
    rows.push(
      `| ${where} | ratio Inloop / BullMQ, stream-node-max-bytes ${TUNED_STREAM_NODE_BYTES} | ${(tunedRun.rate / bullRun.rate).toFixed(2)}x | | | | | |`,
    );
    rows.push(
      `| ${where} | ratio Inloop / BullMQ keeping finished jobs | ${(inloopRun.rate / keptRun.rate).toFixed(2)}x | | | | | |`,
    );
    rows.push(
      `| ${where} | ratio Inloop on BullMQ / BullMQ | ${(throughBull.rate / bullRun.rate).toFixed(2)}x | | | | | |`,
    );
    rows.push(`| ${where} | (${load}) | | | | | | |`);
  });
  if (result === null) rows.push(`| ${where} | redis-server did not start | | | | | | |`);
  return rows;
}

/** `POST /v1/jobs` -> 202 at 1,000/s on a node on Redis (Redis on its own core), with the side's queue. */
async function acceptOnRedis(side: Side): Promise<string> {
  const out = await withPinnedRedis(1, async (port) => {
    const node = await spawnPinned<{ port: number; apiKey: string }>(
      'inloop-jobs.js',
      SERVER_CPU,
      inloopEnv(side, port),
    );
    try {
      const load = await loadAverage();
      const cpu0 = await cpuOf(node.child.pid!);
      const s = await acceptLatency(
        `http://127.0.0.1:${node.info.port}`,
        node.info.apiKey,
        ACCEPT_RATE,
        ACCEPT_SECONDS,
      );
      // Every request of the run, warm-up included (200, then 5 s at the rate): each is a job the
      // node also runs, one at a time as they arrive.
      const requests = 200 + 5 * ACCEPT_RATE + s.n + s.errors;
      const cpuUs = (((await cpuOf(node.child.pid!)) - cpu0) * 1e6) / requests;
      return (
        `POST /v1/jobs -> 202 at ${ACCEPT_RATE}/s for ${ACCEPT_SECONDS} s on a node on Redis, ${side === 'inloop' ? "Inloop's queue" : 'BullMQ queue'} (node on core ${SERVER_CPU}, ` +
        `Redis on core 1): ${s.n} accepted, ${s.errors} errors${s.errors ? ` (${s.why})` : ''}; p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, ` +
        `max ${s.max.toFixed(1)} ms; node CPU ${cpuUs.toFixed(0)} µs per job accepted and run (${load})`
      );
    } finally {
      await stopServer(node.child);
    }
  });
  return out ?? 'accept latency: redis-server did not start';
}

async function jobsReport(): Promise<void> {
  const lines: string[] = [
    `Jobs on Redis, ${THROUGHPUT_JOBS.toLocaleString('en')} trivial jobs created to completed, 100 in flight, ` +
      `node (or BullMQ's process) on core ${SERVER_CPU}`,
    '',
    "| Redis | side | jobs/s | Redis commands/job (scripts' inner included) | Redis command µs/job | Redis CPU µs/job | node CPU µs/job | Redis memory kept/job (B) |",
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  // Each part is printed as soon as it is measured.
  const print = (from: number) => process.stdout.write(lines.slice(from).join('\n') + '\n');
  print(0);
  let at = lines.length;
  lines.push(...(await jobRows(SERVER_CPU, `pinned to core ${SERVER_CPU} (same core)`)));
  print(at);
  at = lines.length;
  lines.push(...(await jobRows(1, 'on core 1 (own core)')));
  print(at);
  at = lines.length;
  const counts = await withPinnedRedis(1, async (port) => ({
    inloop: await callsPerJob('inloop', port, COUNT_JOBS),
    throughBull: await callsPerJob('inloop-bullmq', port, COUNT_JOBS),
    bullmq: await callsPerJob('bullmq', port, COUNT_JOBS),
  }));
  if (counts) {
    const breakdown = (c: CallCount) =>
      [...c.byCommand.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([name, k]) => `${name} ${per(k, COUNT_JOBS)}`)
        .join(', ');
    const calls = (c: CallCount) => `${per(c.client, COUNT_JOBS)} (+ ${per(c.inner, COUNT_JOBS)} inside scripts)`;
    lines.push(
      '',
      `Calls per job on the wire (MONITOR, ${COUNT_JOBS} jobs; a script is one call): Inloop's queue ${calls(counts.inloop)}, ` +
        `BullMQ queue ${calls(counts.throughBull)}, BullMQ directly ${calls(counts.bullmq)}`,
      `Inloop's queue, per job by command: ${breakdown(counts.inloop)}`,
      `BullMQ queue, per job by command: ${breakdown(counts.throughBull)}`,
    );
  }
  print(at);
  at = lines.length;
  lines.push('', await acceptOnRedis('inloop'), await acceptOnRedis('inloop-bullmq'));
  print(at);
}

if (PARTS.length === 1 && PARTS[0] === 'accept') {
  process.stdout.write(
    `${await loadAverage()}\n\n${await acceptOnRedis('inloop')}\n${await acceptOnRedis('inloop-bullmq')}\n`,
  );
  process.exit(0);
}

if (PARTS.includes('jobs') && !PARTS.includes('fanout')) {
  process.stdout.write(`${await loadAverage()}\n\n`);
  await jobsReport();
  process.exit(0);
}

const outcome = await withPinnedRedis(SERVER_CPU, async (redisPort) => {
  const results: FanoutResult[] = [];
  for (const s of scenarios) {
    process.stdout.write(`running ${s.name} ...\n`);
    results.push(await runFanout(s, redisPort));
  }
  return { results, load: await loadAverage() };
});
if (!outcome) throw new Error('redis-server did not start');

process.stdout.write(
  `\nCluster fan-out: ${SUBSCRIBERS} subscribers spread over the nodes, one topic, 100-byte payloads, loopback; ` +
    `every node and Redis on core ${SERVER_CPU} (server CPU includes Redis); ${outcome.load}\n\n`,
);
process.stdout.write(fanoutTable(outcome.results));
if (PARTS.includes('jobs')) {
  process.stdout.write('\n');
  await jobsReport();
}
process.exit(0);
