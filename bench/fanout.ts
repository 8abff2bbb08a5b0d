/**
 * Fan-out benchmark: Inloop, a bare `ws` broadcast loop and Socket.IO side by side in one run.
 * 1,000 WebSocket subscribers of one topic, 100-byte payloads, loopback. Each server is pinned to
 * core 0, this load generator to core 1 (run it with `taskset -c 1`, as `npm run bench` does).
 *
 * Prints: p50/p99 publish-to-receive latency at 75 and 200 publications/s, delivered messages/s at
 * saturation, server CPU per delivery at 75 publications/s (against the bare loop's in the same
 * run, measured in alternating rounds with both up), and the load generator's own CPU so a
 * saturated generator is visible.
 */
import { cpuComparison, fanoutTable, interleavedCpu, measureFanout, type FanoutResult } from './lib/fanout.js';
import { loadAverage } from './lib/stats.js';
import { startServer, stopServer, targets, type Target } from './lib/targets.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 3000);
const CPU_ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 7);
const CPU_ROUND_MS = Number(process.env.BENCH_CPU_ROUND_MS ?? 6000);
const SERVER_CPU = 0;
/** BENCH_FANOUT_ONLY=cpu: only the side-by-side CPU at 75 publications/s (about 7 minutes). */
const ONLY_CPU = process.env.BENCH_FANOUT_ONLY === 'cpu';

async function run(target: Target): Promise<FanoutResult> {
  const { child, info } = await startServer(target, SERVER_CPU);
  const result = await measureFanout({
    name: target.name,
    subscribers: SUBSCRIBERS,
    phaseMs: PHASE_MS,
    stepMs: STEP_MS,
    subscribe: (_i, sink) => target.subscribe(info.port, info, sink),
    publisher: () => target.publisher(info.port, info),
    serverPids: [child.pid!],
  });
  await stopServer(child);
  return result;
}

process.stdout.write(`${await loadAverage()}\n`);
const results: FanoutResult[] = [];
for (const target of ONLY_CPU ? [] : targets) {
  process.stdout.write(`running ${target.name} ...\n`);
  results.push(await run(target));
}
if (!ONLY_CPU) printTables(results);

function printTables(results: FanoutResult[]): void {
  process.stdout.write(
    `\nFan-out: ${SUBSCRIBERS} subscribers, one topic, 100-byte payloads, loopback; server on core ${SERVER_CPU}\n\n`,
  );
  process.stdout.write(fanoutTable(results));
  const [mine, ws, sio] = results;
  const perCore = (r: FanoutResult) => r.saturation / Math.max(r.serverCpu, 0.01);
  process.stdout.write(
    `\nsaturation ratio: inloop / ws = ${(mine!.saturation / ws!.saturation).toFixed(2)}x, inloop / socket.io = ${(mine!.saturation / sio!.saturation).toFixed(2)}x` +
      ` (per server core-second: ${(perCore(mine!) / perCore(ws!)).toFixed(1)}x and ${(perCore(mine!) / perCore(sio!)).toFixed(1)}x)\n` +
      `server CPU per delivery at 75 publications/s, one window each: inloop ${mine!.cpuPerDelivery75.toFixed(2)} µs, ws ${ws!.cpuPerDelivery75.toFixed(2)} µs, socket.io ${sio!.cpuPerDelivery75.toFixed(2)} µs (inloop / ws = ${(mine!.cpuPerDelivery75 / ws!.cpuPerDelivery75).toFixed(2)}x)\n` +
      (mine!.generatorCpu > 0.9
        ? 'note: the load generator was above 90 % CPU in the inloop run: its saturation figure is a lower bound\n'
        : ''),
  );
}

// The low-rate cost against the bare loop, both servers up at once and measured in turns: after
// 15 s at the rate and again after 90 s (see interleavedCpu: V8 is still compiling at both). The
// target holds only if both sets are at or below the bare loop, in rounds where Inloop did not
// batch (a busy core makes it put several publications in one frame, which is cheaper).
// BENCH_CPU_WARMUP_MS=a,b,... sets other points.
const WARMUPS_MS = (process.env.BENCH_CPU_WARMUP_MS ?? '15000,90000').split(',').map(Number);
process.stdout.write(`\nrunning inloop and ws side by side for the CPU at 75 publications/s ...\n`);
const pair = [targets[0]!, targets[1]!];
const servers = await Promise.all(pair.map((t) => startServer(t, SERVER_CPU)));
const sideBySide = (subscribers: number, warmupsMs: readonly number[]) =>
  interleavedCpu(
    pair.map((target, i) => ({
      name: target.name,
      subscribers,
      phaseMs: PHASE_MS,
      stepMs: STEP_MS,
      subscribe: (_j, sink) => target.subscribe(servers[i]!.info.port, servers[i]!.info, sink),
      publisher: () => target.publisher(servers[i]!.info.port, servers[i]!.info),
      serverPids: [servers[i]!.child.pid!],
    })),
    75,
    CPU_ROUNDS,
    CPU_ROUND_MS,
    warmupsMs,
  );
const stages = await sideBySide(SUBSCRIBERS, WARMUPS_MS);
for (const [i, rounds] of stages.entries())
  process.stdout.write(`\n${cpuComparison(['inloop', 'ws'], rounds, 75, CPU_ROUND_MS, 'delivery', WARMUPS_MS[i])}`);
// The same with one subscriber: what a publication costs once, whatever its subscribers (decoding
// and checking it, the durable append, the publisher's ack for Inloop; a read and a write for the
// bare loop). Spread over the deliveries above, it is the part of their cost batching cannot share.
// Both servers have run at this rate for minutes by now: 15 s more settle the new connections.
const [once] = await sideBySide(1, [15_000]);
process.stdout.write(`\n${cpuComparison(['inloop', 'ws'], once!, 75, CPU_ROUND_MS, 'publication, one subscriber,')}`);
for (const { child } of servers) await stopServer(child);
process.stdout.write(`\n${await loadAverage()}\n`);
