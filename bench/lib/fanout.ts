import type { RawWs } from './raw-ws.js';
import { nowMs } from './raw-ws.js';
import { cpuOf, summarize } from './stats.js';
import type { Sink } from './targets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 100-byte JSON payload carrying its send time. */
export function payload(): string {
  const head = `{"t":${nowMs().toFixed(3)},"p":"`;
  return head + 'x'.repeat(Math.max(0, 100 - head.length - 2)) + '"}';
}

/** Publish at `rate`/s for `ms`, spreading sends over 1 ms ticks. Returns how many were sent. */
export async function publishAt(publish: (data: string) => void, rate: number, ms: number): Promise<number> {
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

export interface FanoutResult {
  name: string;
  latency75: ReturnType<typeof summarize>;
  latency200: ReturnType<typeof summarize>;
  saturation: number;
  saturationOffered: number;
  generatorCpu: number;
  /** CPU of all server processes together (nodes, and Redis where there is one), in cores. */
  serverCpu: number;
  /** Server CPU per delivery at 75 publications/s, in microseconds (the cost at a low rate). */
  cpuPerDelivery75: number;
}

export interface FanoutSetup {
  name: string;
  subscribers: number;
  sampled?: number;
  phaseMs: number;
  stepMs: number;
  /** Connect subscriber `i` (the setup spreads them over its nodes). */
  subscribe(i: number, sink: Sink): Promise<RawWs>;
  publisher(): Promise<(data: string) => void>;
  /** Processes whose CPU counts as the server's. */
  serverPids: number[];
}

/**
 * Latency at 75 and 200 publications/s (sampled subscribers, publish-to-receive), then delivered
 * messages/s at saturation: the offered rate rises until delivery falls clearly behind it.
 */
export async function measureFanout(s: FanoutSetup): Promise<FanoutResult> {
  const sampled = s.sampled ?? 50;
  let delivered = 0;
  let recording: number[] | null = null;
  const sockets: RawWs[] = [];
  for (let i = 0; i < s.subscribers; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(s.subscribers, i + 100); j++) {
      const isSampled = j % Math.floor(s.subscribers / sampled) === 0;
      batch.push(
        s.subscribe(j, {
          count: (n) => (delivered += n),
          ...(isSampled ? { latency: (t: number) => recording?.push(nowMs() - t) } : {}),
        }),
      );
    }
    sockets.push(...(await Promise.all(batch)));
  }
  const publish = await s.publisher();
  const serverCpu = async () => (await Promise.all(s.serverPids.map(cpuOf))).reduce((a, b) => a + b, 0);

  let cpuPerDelivery = NaN;
  const latencyAt = async (rate: number) => {
    await publishAt(publish, rate, 1000); // warm-up
    await sleep(300);
    recording = [];
    const before = delivered;
    const server0 = await serverCpu();
    await publishAt(publish, rate, s.phaseMs);
    await sleep(500);
    cpuPerDelivery = (((await serverCpu()) - server0) * 1e6) / Math.max(1, delivered - before);
    const sample = recording;
    recording = null;
    return summarize(sample);
  };
  const latency75 = await latencyAt(75);
  const cpuPerDelivery75 = cpuPerDelivery;
  const latency200 = await latencyAt(200);

  let saturation = 0;
  let saturationOffered = 0;
  let generatorCpu = 0;
  let serverShare = 0;
  for (const rate of [100, 200, 400, 700, 1000, 1500, 2000, 3000, 4000, 6000]) {
    const before = delivered;
    const cpu0 = process.cpuUsage();
    const server0 = await serverCpu();
    const t0 = performance.now();
    await publishAt(publish, rate, s.stepMs);
    const elapsed = (performance.now() - t0) / 1000;
    const got = (delivered - before) / elapsed;
    const cpu = process.cpuUsage(cpu0);
    if (got > saturation) {
      saturation = got;
      saturationOffered = rate * s.subscribers;
      generatorCpu = (cpu.user + cpu.system) / 1e6 / elapsed;
      serverShare = ((await serverCpu()) - server0) / elapsed;
    }
    // Let the backlog drain before the next step.
    for (let last = -1, waited = 0; last !== delivered && waited < 10_000; waited += 300) {
      last = delivered;
      await sleep(300);
    }
    if (got < 0.85 * rate * s.subscribers) break;
  }
  for (const socket of sockets) socket.close();
  return {
    name: s.name,
    latency75,
    latency200,
    saturation,
    saturationOffered,
    generatorCpu,
    serverCpu: serverShare,
    cpuPerDelivery75,
  };
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');

/** The results as a Markdown table. */
export function fanoutTable(results: FanoutResult[]): string {
  let out =
    '| server | p50 / p99 ms at 75/s | p99 ms at 200/s (p50) | saturation deliveries/s | server CPU | generator CPU | deliveries per server core-second |\n|---|---|---|---|---|---|---|\n';
  for (const r of results) {
    out += `| ${r.name} | ${fmt(r.latency75.p50)} / ${fmt(r.latency75.p99)} | ${fmt(r.latency200.p99)} (${fmt(r.latency200.p50)}) | ${Math.round(r.saturation).toLocaleString('en')} | ${(r.serverCpu * 100).toFixed(0)} % | ${(r.generatorCpu * 100).toFixed(0)} % | ${Math.round(r.saturation / Math.max(r.serverCpu, 0.01)).toLocaleString('en')} |\n`;
  }
  return out;
}
