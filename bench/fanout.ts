/**
 * Fan-out benchmark: Inloop, a bare `ws` broadcast loop and Socket.IO side by side in one run.
 * 1,000 WebSocket subscribers of one topic, 100-byte payloads, loopback. Each server is pinned to
 * core 0, this load generator to core 1 (run it with `taskset -c 1`, as `npm run bench` does).
 *
 * Prints: p50/p99 publish-to-receive latency at 75 and 200 publications/s, delivered messages/s at
 * saturation, and the load generator's own CPU so a saturated generator is visible.
 */
import type { RawWs } from './lib/raw-ws.js';
import { nowMs } from './lib/raw-ws.js';
import { cpuOf, summarize } from './lib/stats.js';
import { startServer, stopServer, targets, type Target } from './lib/targets.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const SAMPLED = 50;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 5000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 3000);
const SERVER_CPU = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 100-byte JSON payload carrying its send time. */
function payload(): string {
  const head = `{"t":${nowMs().toFixed(3)},"p":"`;
  return head + 'x'.repeat(Math.max(0, 100 - head.length - 2)) + '"}';
}

/** Publish at `rate`/s for `ms`, spreading sends over 1 ms ticks. Returns how many were sent. */
async function publishAt(publish: (data: string) => void, rate: number, ms: number): Promise<number> {
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < ms) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (sent < due) {
      publish(payload());
      sent++;
    }
    await sleep(1);
  }
  return sent;
}

interface Result {
  name: string;
  latency75: ReturnType<typeof summarize>;
  latency200: ReturnType<typeof summarize>;
  saturation: number;
  saturationOffered: number;
  generatorCpu: number;
  serverCpu: number;
}

async function run(target: Target): Promise<Result> {
  const { child, info } = await startServer(target, SERVER_CPU);
  let delivered = 0;
  let recording: number[] | null = null;
  const sockets: RawWs[] = [];
  for (let i = 0; i < SUBSCRIBERS; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(SUBSCRIBERS, i + 100); j++) {
      const sampled = j % Math.floor(SUBSCRIBERS / SAMPLED) === 0;
      batch.push(
        target.subscribe(info.port, info, {
          count: (n) => (delivered += n),
          ...(sampled ? { latency: (t: number) => recording?.push(nowMs() - t) } : {}),
        }),
      );
    }
    sockets.push(...(await Promise.all(batch)));
  }
  const publish = await target.publisher(info.port, info);

  const latencyAt = async (rate: number) => {
    await publishAt(publish, rate, 1000); // warm-up
    await sleep(300);
    recording = [];
    await publishAt(publish, rate, PHASE_MS);
    await sleep(500);
    const sample = recording;
    recording = null;
    return summarize(sample);
  };
  const latency75 = await latencyAt(75);
  const latency200 = await latencyAt(200);

  // Saturation: raise the offered rate until delivery falls clearly behind it; keep the best.
  let saturation = 0;
  let saturationOffered = 0;
  let generatorCpu = 0;
  let serverCpu = 0;
  for (const rate of [100, 200, 400, 700, 1000, 1500, 2000, 3000, 4000, 6000]) {
    const before = delivered;
    const cpu0 = process.cpuUsage();
    const server0 = await cpuOf(child.pid!);
    const t0 = performance.now();
    await publishAt(publish, rate, STEP_MS);
    const elapsed = (performance.now() - t0) / 1000;
    const got = (delivered - before) / elapsed;
    const cpu = process.cpuUsage(cpu0);
    if (got > saturation) {
      saturation = got;
      saturationOffered = rate * SUBSCRIBERS;
      generatorCpu = (cpu.user + cpu.system) / 1e6 / elapsed;
      serverCpu = ((await cpuOf(child.pid!)) - server0) / elapsed;
    }
    // Let the backlog drain before the next step.
    for (let last = -1, waited = 0; last !== delivered && waited < 10_000; waited += 300) {
      last = delivered;
      await sleep(300);
    }
    if (got < 0.85 * rate * SUBSCRIBERS) break;
  }
  for (const s of sockets) s.close();
  await stopServer(child);
  return { name: target.name, latency75, latency200, saturation, saturationOffered, generatorCpu, serverCpu };
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const results: Result[] = [];
for (const target of targets) {
  process.stdout.write(`running ${target.name} ...\n`);
  results.push(await run(target));
}
process.stdout.write(
  `\nFan-out: ${SUBSCRIBERS} subscribers, one topic, 100-byte payloads, loopback; server on core ${SERVER_CPU}\n\n`,
);
process.stdout.write(
  '| server | p50 / p99 ms at 75/s | p99 ms at 200/s (p50) | saturation deliveries/s | server CPU | generator CPU | deliveries per server core-second |\n|---|---|---|---|---|---|---|\n',
);
for (const r of results) {
  process.stdout.write(
    `| ${r.name} | ${fmt(r.latency75.p50)} / ${fmt(r.latency75.p99)} | ${fmt(r.latency200.p99)} (${fmt(r.latency200.p50)}) | ${Math.round(r.saturation).toLocaleString('en')} | ${(r.serverCpu * 100).toFixed(0)} % | ${(r.generatorCpu * 100).toFixed(0)} % | ${Math.round(r.saturation / Math.max(r.serverCpu, 0.01)).toLocaleString('en')} |\n`,
  );
}
const [mine, ws, sio] = results;
const perCore = (r: Result) => r.saturation / Math.max(r.serverCpu, 0.01);
process.stdout.write(
  `\nsaturation ratio: inloop / ws = ${(mine!.saturation / ws!.saturation).toFixed(2)}x, inloop / socket.io = ${(mine!.saturation / sio!.saturation).toFixed(2)}x` +
    ` (per server core-second: ${(perCore(mine!) / perCore(ws!)).toFixed(1)}x and ${(perCore(mine!) / perCore(sio!)).toFixed(1)}x)\n` +
    (mine!.generatorCpu > 0.9
      ? 'note: the load generator was above 90 % CPU in the inloop run: its saturation figure is a lower bound\n'
      : ''),
);
