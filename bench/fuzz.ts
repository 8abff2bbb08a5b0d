/**
 * Fuzz soak (`npm run bench:fuzz`): an Inloop node with its shipped defaults (embedded SQLite),
 * pinned to core 0, takes at least 1,000,000 hostile WebSocket frames and 100,000 hostile HTTP
 * requests (bench/lib/hostile.ts) from a load process on core 1, while a well-behaved client
 * publishes 20/s to a topic it subscribes to. First a baseline phase with no hostile load, then
 * the soak, each `BENCH_FUZZ_SECONDS` long (the soak runs on until both targets are met).
 *
 * Prints: frames and requests sent, crashes (the node process exiting), answers outside the error
 * catalog (each listed with an example), the WebSocket close codes, the well-behaved client's
 * publish-to-receive p50 / p99 with and without the soak and what it lost, and the load average.
 * Exits non-zero on a crash, an answer outside the catalog, or a lost publication.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { payload } from './lib/fanout.js';
import type { LoadPlan, LoadReport } from './lib/hostile-load.js';
import { nowMs } from './lib/raw-ws.js';
import { cpuOf, loadAverage, summarize } from './lib/stats.js';
import { inloop, spawnPinned, stopServer } from './lib/targets.js';
import { nodeApi } from './lib/node-api.js';

const SECONDS = Number(process.env.BENCH_FUZZ_SECONDS ?? 100);
const FRAMES = Number(process.env.BENCH_FUZZ_FRAMES ?? 1_000_000);
const REQUESTS = Number(process.env.BENCH_FUZZ_REQUESTS ?? 100_000);
const CONNECTIONS = Number(process.env.BENCH_FUZZ_CONNECTIONS ?? 32);
const GOOD_RATE = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Info {
  port: number;
  token: string;
  apiKey: string;
}

const { child: server, info } = await spawnPinned<Info>('inloop-defaults.js', 0);
let crash: string | null = null;
server.once('exit', (code, signal) => (crash = `the node exited with ${signal ?? `code ${code}`}`));
const base = `http://127.0.0.1:${info.port}`;

const api = nodeApi(base, info.apiKey);
const mint = async (subject: string, ops: string[], topics: string[], ttlSeconds = 3600) =>
  (await api<{ token: string }>('/v1/tokens', { subject, ttlSeconds, scopes: [{ ops, topics }] })).token;

// What the hostile side may use: its own subjects, never the well-behaved client's.
const everything = ['subscribe', 'publish', 'presence', 'history', 'job:read', 'job:cancel', 'job:create'];
const expired = await mint('expired', everything, ['*'], 1);
const wide = await mint('fuzzer', everything, ['*']);
const narrow = await mint('narrow', ['subscribe'], ['fz']);
await api('/v1/conversations', { id: 'fz', members: ['fuzzer', 'narrow'] });
const openapi = await api<unknown>('/openapi.json');
await sleep(2000); // let the short token expire

// The well-behaved client: a subscriber of `bench` and a publisher to it, over WebSocket.
let recording: number[] | null = null;
let delivered = 0;
// The hostile side publishes to `bench` too: only payloads carrying a send time count as delivered.
const subscriber = await inloop.subscribe(info.port, info, {
  count: () => {},
  latency: (t) => {
    delivered++;
    recording?.push(nowMs() - t);
  },
});
const publish = await inloop.publisher(info.port, info);
let published = 0;

/** Publish at the steady rate until `done()`; returns the latencies and how many never arrived. */
async function wellBehaved(done: () => boolean): Promise<{ latency: ReturnType<typeof summarize>; lost: number }> {
  recording = [];
  const start = performance.now();
  const first = published;
  while (!done() && !crash) {
    const due = Math.floor(((performance.now() - start) / 1000) * GOOD_RATE);
    while (published - first < due) {
      publish(payload());
      published++;
    }
    await sleep(5);
  }
  for (let waited = 0; delivered < published && waited < 5000 && !crash; waited += 50) await sleep(50);
  const sample = recording;
  recording = null;
  return { latency: summarize(sample), lost: published - delivered };
}

process.stdout.write(`baseline: ${SECONDS} s of the well-behaved client alone ...\n`);
const baselineStart = performance.now();
const baseline = await wellBehaved(() => performance.now() - baselineStart > SECONDS * 1000);
delivered = published = 0;

process.stdout.write(
  `soak: at least ${FRAMES.toLocaleString('en')} frames and ${REQUESTS.toLocaleString('en')} requests ...\n`,
);
const plan: LoadPlan = {
  port: info.port,
  // Mostly a valid token: a refused connect costs a connection for one frame.
  tokens: [wide, wide, wide, wide, wide, wide, wide, narrow, expired, 'not-a-token'],
  credentials: [
    undefined,
    `Bearer ${info.apiKey}`,
    `Bearer ${wide}`,
    `Bearer ${wide}`,
    `Bearer ${narrow}`,
    `Bearer ${expired}`,
    'Bearer x',
  ],
  topics: ['fz', 'fz-2', 'bench', 'room:1'],
  openapi,
  connections: CONNECTIONS,
  httpConcurrency: 16,
  ms: SECONDS * 1000,
  frames: FRAMES,
  requests: REQUESTS,
  seed: 11,
};
const load = fork(fileURLToPath(new URL('./lib/hostile-load.js', import.meta.url)), [], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const report = new Promise<LoadReport>((resolve, reject) => {
  load.on('message', (m: { type: string; report: LoadReport }) => m.type === 'done' && resolve(m.report));
  load.once('exit', (code) => code && reject(new Error(`the load process exited with ${code}`)));
});
server.once('exit', () => load.connected && load.send({ type: 'stop' }));
const serverCpu0 = await cpuOf(server.pid!);
load.send({ type: 'start', plan });
let loadDone = false;
void report.finally(() => (loadDone = true));
const soak = await wellBehaved(() => loadDone);
const r = await report;
const serverCpu = crash === null ? ((await cpuOf(server.pid!)) - serverCpu0) / (r.elapsedMs / 1000) : NaN;
const alive =
  crash === null &&
  (await fetch(`${base}/healthz`).then(
    (res) => res.ok,
    () => false,
  ));
// Taken before the node is stopped: its exit on SIGTERM is not a crash.
const crashed = crash ?? (alive ? null : 'the node stopped answering /healthz');
subscriber.close();
if (crash === null) await stopServer(server);

const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '-');
const sorted = (m: Record<string, number>) =>
  Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} x${n.toLocaleString('en')}`)
    .join(', ');
const outside = r.outside.reduce((n, o) => n + o.count, 0);
process.stdout.write(
  `\nFuzz soak: node with default limits on core 0, hostile load and the well-behaved client on core 1; ${await loadAverage()}\n\n` +
    `| | |\n|---|---|\n` +
    `| hostile WebSocket frames | ${(r.frames - r.unanswered).toLocaleString('en')} read by the node over ${r.connections.toLocaleString('en')} connections (${r.unanswered.toLocaleString('en')} more sent as it closed them) |\n` +
    `| hostile HTTP requests | ${r.requests.toLocaleString('en')} |\n` +
    `| soak duration | ${(r.elapsedMs / 1000).toFixed(1)} s (baseline ${SECONDS} s); node CPU ${Number.isFinite(serverCpu) ? `${(serverCpu * 100).toFixed(0)} %` : '-'} of its core |\n` +
    `| crashes | ${crashed === null ? 0 : `1 (${crashed})`} |\n` +
    `| answers outside the catalog | ${outside} |\n` +
    `| well-behaved publish-to-receive, no soak | p50 ${ms(baseline.latency.p50)} / p99 ${ms(baseline.latency.p99)} (${baseline.latency.n} publications, ${baseline.lost} lost) |\n` +
    `| well-behaved publish-to-receive, during the soak | p50 ${ms(soak.latency.p50)} / p99 ${ms(soak.latency.p99)} (${soak.latency.n} publications, ${soak.lost} lost) |\n` +
    `\nWebSocket close codes: ${sorted(r.closeCodes)}\n` +
    `WebSocket error codes: ${sorted(r.errorCodes)}\n` +
    `HTTP statuses: ${sorted(r.httpStatuses)}\n`,
);
for (const o of r.outside) process.stdout.write(`outside the catalog: ${o.kind} (x${o.count})\n    ${o.example}\n`);
const ok = crashed === null && outside === 0 && baseline.lost === 0 && soak.lost === 0;
process.exit(ok ? 0 : 1);
