/**
 * Jobs benchmark. The Inloop node (embedded SQLite) and BullMQ's worker run pinned to core 0,
 * this generator to core 1 (`npm run bench:jobs`). Prints:
 * - `POST /v1/jobs` to 202: p50/p99 at 1,000 jobs/s sustained for 30 s;
 * - a worker's progress report to a watcher receiving it: p50/p99;
 * - over 1,000 jobs with silent workers, the longest silence any watcher saw (target cadenceMs + 250);
 * - throughput, created to completed, trivial handler, 100 in flight: Inloop over HTTP and through
 *   its library API, against BullMQ used directly on the local Redis.
 */
import { SseParser } from '@inloop/protocol';
import { Agent, setGlobalDispatcher } from 'undici';
import { nowMs } from './lib/raw-ws.js';
import { withPinnedRedis } from './lib/redis.js';
import { acceptLatency } from './lib/accept-load.js';
import { loadAverage, summarize } from './lib/stats.js';
import { ask, spawnPinned } from './lib/targets.js';
import { stopServer } from './lib/targets.js';

setGlobalDispatcher(new Agent({ connections: 2048, pipelining: 1, keepAliveTimeout: 60_000 }));

const ACCEPT_SECONDS = Number(process.env.BENCH_JOBS_SECONDS ?? 30);
const ACCEPT_RATE = Number(process.env.BENCH_JOBS_RATE ?? 1000);
const SILENT_JOBS = Number(process.env.BENCH_SILENT_JOBS ?? 1000);
const THROUGHPUT_JOBS = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 10_000);
const CADENCE_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { child, info } = await spawnPinned<{ port: number; apiKey: string }>('inloop-jobs.js', 0);
const base = `http://127.0.0.1:${info.port}`;
const headers = { authorization: `Bearer ${info.apiKey}`, 'content-type': 'application/json' };
const post = async (path: string, body: unknown) => {
  const res = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as any) };
};
const out: string[] = [];

// -- 1. accept latency at a sustained rate ---------------------------------------------------
{
  const s = await acceptLatency(base, info.apiKey, ACCEPT_RATE, ACCEPT_SECONDS);
  out.push(
    `POST /v1/jobs -> 202 at ${ACCEPT_RATE}/s for ${ACCEPT_SECONDS} s (after 5 s at that rate, not measured): ${s.n} accepted, ` +
      `${s.errors} errors${s.errors ? ` (${s.why})` : ''}; p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms`,
  );
}

// -- 2. progress report to watcher ----------------------------------------------------------
{
  const latencies: number[] = [];
  for (let j = 0; j < 20; j++) {
    const created = (await post('/v1/jobs', { type: 'remote' })).body;
    const lease = (await post('/v1/workers/lease', { types: ['remote'], waitMs: 5000 })).body;
    const sentAt = new Map<number, number>();
    const res = await fetch(`${base}/v1/jobs/${created.id}/stream?token=${created.token}`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const now = nowMs();
        for (const e of parser.feed(decoder.decode(value, { stream: true }))) {
          if (e.event !== 'job.progress') continue;
          const data = JSON.parse(e.data) as { job: { progress: { fraction: number } } };
          const t0 = sentAt.get(Math.round(data.job.progress.fraction * 1000));
          if (t0 !== undefined) latencies.push(now - t0);
        }
      }
    })();
    await sleep(50);
    for (let i = 1; i <= 10; i++) {
      const fraction = i / 11;
      sentAt.set(Math.round(fraction * 1000), nowMs());
      await post(`/v1/jobs/${created.id}/progress`, { lease: lease.lease.token, progress: fraction });
      await sleep(120);
    }
    await post(`/v1/jobs/${created.id}/complete`, { lease: lease.lease.token, result: null });
    await reading;
  }
  const s = summarize(latencies);
  out.push(`progress report -> watcher (SSE), ${s.n} reports: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`);
}

// -- 3. longest silence over many silent jobs -----------------------------------------------
{
  const durationMs = 16_000;
  const jobs = await Promise.all(
    Array.from({ length: SILENT_JOBS }, () => post('/v1/jobs', { type: 'silent', input: { ms: durationMs } })),
  );
  const gaps: number[] = [];
  let maxGap = 0;
  let ticks = 0;
  await Promise.all(
    jobs.map(async ({ body: created }) => {
      const res = await fetch(`${base}/v1/jobs/${created.id}/stream?token=${created.token}`);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      let last = performance.now();
      let first = true;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const now = performance.now();
        for (const e of parser.feed(decoder.decode(value, { stream: true }))) if (e.event === 'job.tick') ticks++;
        if (!first) {
          gaps.push(now - last);
          maxGap = Math.max(maxGap, now - last);
        }
        first = false;
        last = now;
      }
    }),
  );
  const s = summarize(gaps);
  out.push(
    `${SILENT_JOBS} silent jobs of ${durationMs / 1000} s, cadenceMs ${CADENCE_MS}: ${ticks} ticks, watcher gaps p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms, longest ${maxGap.toFixed(0)} ms (target <= ${CADENCE_MS + 250} ms)`,
  );
}

// -- 4. throughput -----------------------------------------------------------------------------
const finishedCount = async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/inloop_jobs_finished_total\{type="noop",status="succeeded"\} (\d+)/.exec(text)?.[1] ?? 0);
};
{
  const before = await finishedCount();
  const start = performance.now();
  let created = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (created < THROUGHPUT_JOBS) {
        created++;
        await post('/v1/jobs', { type: 'noop' });
      }
    }),
  );
  while ((await finishedCount()) < before + THROUGHPUT_JOBS) await sleep(20);
  const seconds = (performance.now() - start) / 1000;
  const inproc = await ask<{ seconds: number }>(
    child,
    { type: 'inproc', n: THROUGHPUT_JOBS, inFlight: 100 },
    'inproc-done',
  );
  await stopServer(child);
  const bullmq = async (redisPort: number) => {
    const bull = await spawnPinned('bullmq.js', 0, { REDIS_PORT: String(redisPort) });
    const run = await ask<{ seconds: number }>(bull.child, { type: 'run', n: THROUGHPUT_JOBS, inFlight: 100 }, 'done');
    await stopServer(bull.child);
    return run.seconds;
  };
  // The machine's Redis runs wherever the scheduler puts it, in effect on a core of its own. For
  // the same CPU budget as the Inloop node, a second run uses a redis-server pinned to core 0 too.
  const floating = await bullmq(Number(process.env.REDIS_PORT ?? 6379));
  const pinned = await withPinnedRedis(0, bullmq);
  const rate = (s: number) => Math.round(THROUGHPUT_JOBS / s).toLocaleString('en');
  out.push(
    `throughput, ${THROUGHPUT_JOBS.toLocaleString('en')} trivial jobs, 100 in flight: Inloop over HTTP ${rate(seconds)} jobs/s, ` +
      `Inloop library API ${rate(inproc.seconds)} jobs/s; BullMQ directly ${rate(floating)} jobs/s (machine's Redis, on a core of its own), ` +
      `${pinned === null ? 'n/a' : rate(pinned)} jobs/s (its Redis pinned to the node's core)`,
  );
}

process.stdout.write(
  '\nJobs (server on core 0, generator on core 1)\n\n' +
    out.map((l) => `- ${l}`).join('\n') +
    `\n\n${await loadAverage()}\n`,
);
process.exit(0);
