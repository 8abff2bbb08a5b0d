/**
 * Fan-out benchmark: Inloop, a bare `ws` broadcast loop and Socket.IO side by side in one run.
 * 1,000 WebSocket subscribers of one topic, 100-byte payloads, loopback. Each server is pinned to
 * core 0, this load generator to core 1 (run it with `taskset -c 1`, as `npm run bench` does).
 *
 * Prints: p50/p99 publish-to-receive latency at 75 and 200 publications/s, delivered messages/s at
 * saturation, server CPU per delivery at 75 publications/s (against the bare loop's in the same
 * run), and the load generator's own CPU so a saturated generator is visible.
 */
import { fanoutTable, measureFanout, type FanoutResult } from './lib/fanout.js';
import { loadAverage } from './lib/stats.js';
import { startServer, stopServer, targets, type Target } from './lib/targets.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 3000);
const SERVER_CPU = 0;

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

const results: FanoutResult[] = [];
for (const target of targets) {
  process.stdout.write(`running ${target.name} ...\n`);
  results.push(await run(target));
}
process.stdout.write(
  `\nFan-out: ${SUBSCRIBERS} subscribers, one topic, 100-byte payloads, loopback; server on core ${SERVER_CPU}\n\n`,
);
process.stdout.write(fanoutTable(results));
const [mine, ws, sio] = results;
const perCore = (r: FanoutResult) => r.saturation / Math.max(r.serverCpu, 0.01);
process.stdout.write(
  `\nsaturation ratio: inloop / ws = ${(mine!.saturation / ws!.saturation).toFixed(2)}x, inloop / socket.io = ${(mine!.saturation / sio!.saturation).toFixed(2)}x` +
    ` (per server core-second: ${(perCore(mine!) / perCore(ws!)).toFixed(1)}x and ${(perCore(mine!) / perCore(sio!)).toFixed(1)}x)\n` +
    `server CPU per delivery at 75 publications/s: inloop ${mine!.cpuPerDelivery75.toFixed(2)} µs, ws ${ws!.cpuPerDelivery75.toFixed(2)} µs, socket.io ${sio!.cpuPerDelivery75.toFixed(2)} µs (inloop / ws = ${(mine!.cpuPerDelivery75 / ws!.cpuPerDelivery75).toFixed(2)}x)\n` +
    (mine!.generatorCpu > 0.9
      ? 'note: the load generator was above 90 % CPU in the inloop run: its saturation figure is a lower bound\n'
      : ''),
);
process.stdout.write(`\n${await loadAverage()}\n`);
