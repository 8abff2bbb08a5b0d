import type { RawWs } from './raw-ws.js';
import { nowMs } from './raw-ws.js';
import { cpuOf, cpuSplitOf, median, summarize } from './stats.js';
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
/** Subscribe `s.subscribers` sockets, 100 at a time; `sinkFor(i)` says what subscriber `i` reports. */
async function subscribeAll(s: FanoutSetup, sinkFor: (i: number) => Sink): Promise<RawWs[]> {
  const sockets: RawWs[] = [];
  for (let i = 0; i < s.subscribers; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(s.subscribers, i + 100); j++) batch.push(s.subscribe(j, sinkFor(j)));
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

export async function measureFanout(s: FanoutSetup): Promise<FanoutResult> {
  const sampled = s.sampled ?? 50;
  let delivered = 0;
  let recording: number[] | null = null;
  const sockets = await subscribeAll(s, (j) => ({
    count: (n) => (delivered += n),
    ...(j % Math.floor(s.subscribers / sampled) === 0 ? { latency: (t: number) => recording?.push(nowMs() - t) } : {}),
  }));
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

/** One round of {@link interleavedCpu} for one server: CPU per delivery, in microseconds. */
export interface CpuRound {
  perDelivery: number;
  user: number;
  system: number;
  /** Deliveries in the round, and the server's CPU over it in microseconds (for totals). */
  deliveries: number;
  cpuUs: number;
  /**
   * The share of the round's deliveries that came two or more to a frame. A server that batches
   * (Inloop) does so when its core is busy, and then pays less per delivery: a round with a high
   * share measured a loaded machine more than the server.
   */
  shared: number;
}

/**
 * Server CPU per delivery at `rate` publications/s for several servers set up side by side, in
 * alternating rounds (A, B, A, B, ...). One window per server, one after the other, puts whatever
 * the machine does meanwhile (frequency, another process) on one side only: on this machine two
 * 5 s windows of the same server differ by up to 20 %. Alternating spreads it over both, and the
 * medians and per-round ratios show how wide the noise is. User and kernel time are kept apart:
 * the kernel's share is the write syscalls, the same for any server that writes once per delivery.
 *
 * The rounds are measured once per entry of `warmupsMs`, each time after every server has been
 * driven at `rate` for that long in all (its earlier rounds count): the result holds one set of
 * rounds per entry. At a low rate a server's code is called too rarely for V8 to have compiled it
 * after a few seconds: an Inloop node at 75/s compiled 9-33 functions per 10 s in its first 30 s
 * and 1-8 in most 10 s windows after, 23 in one at 110 s (`--trace-opt`), as rare events (a keepalive ping, a sweep, a second chunk
 * in one tick) and garbage collections (which discard code not run lately) send parts of its path
 * back to the interpreter. There is no point where this ends; a set early and one later show how
 * far the figure moves with it.
 */
export async function interleavedCpu(
  setups: FanoutSetup[],
  rate: number,
  rounds: number,
  roundMs: number,
  warmupsMs: readonly number[],
): Promise<CpuRound[][][]> {
  const live = [];
  for (const s of setups) {
    let delivered = 0;
    let shared = 0;
    const sockets = await subscribeAll(s, () => ({
      count: (n) => {
        delivered += n;
        if (n > 1) shared += n;
      },
    }));
    const publish = await s.publisher();
    live.push({ s, sockets, publish, delivered: () => delivered, shared: () => shared, drivenMs: 0 });
  }
  const cpu = async (pids: number[]) => {
    const all = await Promise.all(pids.map(cpuSplitOf));
    return { user: all.reduce((a, c) => a + c.user, 0), system: all.reduce((a, c) => a + c.system, 0) };
  };
  const stages: CpuRound[][][] = [];
  for (const warmupMs of warmupsMs) {
    for (const l of live) {
      if (l.drivenMs >= warmupMs) continue;
      await publishAt(l.publish, rate, warmupMs - l.drivenMs);
      l.drivenMs = warmupMs;
    }
    const results: CpuRound[][] = setups.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [i, l] of live.entries()) {
        const before = l.delivered();
        const sharedBefore = l.shared();
        const cpu0 = await cpu(l.s.serverPids);
        await publishAt(l.publish, rate, roundMs);
        l.drivenMs += roundMs;
        await sleep(300);
        const cpu1 = await cpu(l.s.serverPids);
        const n = Math.max(1, l.delivered() - before);
        const user = ((cpu1.user - cpu0.user) * 1e6) / n;
        const system = ((cpu1.system - cpu0.system) * 1e6) / n;
        results[i]!.push({
          perDelivery: user + system,
          user,
          system,
          deliveries: n,
          cpuUs: (cpu1.user - cpu0.user + cpu1.system - cpu0.system) * 1e6,
          shared: (l.shared() - sharedBefore) / n,
        });
      }
    }
    stages.push(results);
  }
  for (const l of live) for (const socket of l.sockets) socket.close();
  return stages;
}

/** What {@link interleavedCpu} measured, as the lines a bench prints: `a` against the baseline `b`. */
export function cpuComparison(
  names: [string, string],
  [a, b]: CpuRound[][],
  rate: number,
  roundMs: number,
  /** What one unit measured is: with one subscriber, a delivery is a publication. */
  unit = 'delivery',
  /** How long each server had been driven at `rate` before the rounds. */
  warmedMs?: number,
): string {
  const med = (rs: CpuRound[], k: keyof CpuRound) => median(rs.map((r) => r[k])).toFixed(2);
  const ratios = a!.map((r, i) => r.perDelivery / b![i]!.perDelivery);
  const total = (rs: CpuRound[]) =>
    rs.reduce((t, r) => t + r.cpuUs, 0) /
    Math.max(
      1,
      rs.reduce((t, r) => t + r.deliveries, 0),
    );
  const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %`;
  const line = (name: string, rs: CpuRound[]) =>
    `  ${name}: ${med(rs, 'perDelivery')} µs (user ${med(rs, 'user')}, kernel ${med(rs, 'system')}); ` +
    `all rounds together ${total(rs).toFixed(2)} µs; sharing a frame: ${pct(median(rs.map((r) => r.shared)))} ` +
    `(most in a round ${pct(Math.max(...rs.map((r) => r.shared)))})\n`;
  return (
    `server CPU per ${unit} at ${rate} publications/s, medians of ${a!.length} alternating rounds of ${roundMs / 1000} s` +
    (warmedMs === undefined ? '' : `, after ${warmedMs / 1000} s at that rate`) +
    ':\n' +
    line(names[0], a!) +
    line(names[1], b!) +
    `  ${names[0]} / ${names[1]}: median of the per-round ratios ${median(ratios).toFixed(2)}x ` +
    `(rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')}); all rounds together ${(total(a!) / total(b!)).toFixed(2)}x\n`
  );
}
