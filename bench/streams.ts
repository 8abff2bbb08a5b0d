/**
 * Streams benchmark (issue 18). The node (embedded SQLite, generators in process) runs pinned to
 * core 0, this watcher side to core 1 (`npm run bench:streams`). Each figure is measured side by
 * side with the way the same text travels without streams, one stored publication per token
 * (what partial results or a topic cost), on the same node in the same run. Prints:
 * - storage: rows and bytes for a 2,000-token stream appended at 50 tokens/s, against 2,000
 *   publications;
 * - late join: from `stream.subscribe` to the full text so far of a 100 KB stream, p50/p99,
 *   against a resubscribe that replays the same 100 KB as 2,000 publications;
 * - 1,000 concurrent streams at 20 appends/s each: delta delivery p50/p99 (append to watcher,
 *   clocks of one machine) and node CPU, against 1,000 topics at 20 stored publications/s each.
 */
import type { ChildProcess } from 'node:child_process';
import { RawWs, nowMs } from './lib/raw-ws.js';
import { cpuOf, loadAverage, summarize } from './lib/stats.js';
import { ask, spawnPinned, stopServer } from './lib/targets.js';

const TOKENS = Number(process.env.BENCH_STREAM_TOKENS ?? 2000);
const TOKEN_RATE = Number(process.env.BENCH_STREAM_RATE ?? 50);
const LATE_CHARS = Number(process.env.BENCH_LATE_CHARS ?? 100_000);
const LATE_TRIALS = Number(process.env.BENCH_LATE_TRIALS ?? 200);
const LOAD_STREAMS = Number(process.env.BENCH_LOAD_STREAMS ?? 1000);
const LOAD_RATE = Number(process.env.BENCH_LOAD_RATE ?? 20);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 100);
/** `storage`, `late`, `load` (comma-separated). */
const PARTS = (process.env.BENCH_STREAMS ?? 'storage,late,load').split(',');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const out: string[] = [];

/** A watcher connection: frames split into JSON messages, handed to `on`. */
async function connection(port: number, token: string, on: (m: any) => void): Promise<RawWs> {
  let connected: () => void = () => {};
  const ready = new Promise<void>((r) => (connected = r));
  const ws = new RawWs(port, '/v1/ws', (payload) => {
    for (const line of payload.toString().split('\n')) {
      const m = JSON.parse(line) as { type: string };
      if (m.type === 'connected') connected();
      else on(m);
    }
  });
  await ws.connect();
  ws.send(JSON.stringify({ type: 'connect', token }));
  await ready;
  return ws;
}

async function storage(child: ChildProcess): Promise<void> {
  const token = 'tok ';
  const r = await ask<any>(child, { type: 'storage', tokens: TOKENS, rate: TOKEN_RATE, token }, 'storage-done');
  const kb = (b: number | null) => (b === null ? 'n/a' : `${(b / 1024).toFixed(1)} KB`);
  out.push(
    `storage, ${TOKENS} tokens of ${token.length} chars at ${TOKEN_RATE}/s (${(TOKENS / TOKEN_RATE).toFixed(0)} s): ` +
      `stream ${r.chunks.rows} rows, ${kb(r.chunks.bytes)} of text, ${kb(r.chunkPages)} of pages; ` +
      `one publication per token ${r.pubs.rows} rows, ${kb(r.pubs.bytes)} stored, ${kb(r.pubPages)} of pages ` +
      `(rows ${(r.pubs.rows / r.chunks.rows).toFixed(0)}x, bytes ${(r.pubs.bytes / r.chunks.bytes).toFixed(1)}x)`,
  );
}

async function late(child: ChildProcess, port: number, apiKey: string): Promise<void> {
  const pubs = 2000;
  const setup = await ask<{ id: string; token: string }>(
    child,
    { type: 'late-setup', chars: LATE_CHARS, pubs },
    'late-ready',
  );
  const page = (await (
    await fetch(`http://127.0.0.1:${port}/v1/topics/bench:late/messages?after=0&limit=1`, {
      headers: { authorization: `Bearer ${apiKey}` },
    })
  ).json()) as { epoch: string };
  let done: () => void = () => {};
  let length = 0;
  let lastOffset = 0;
  const ws = await connection(port, setup.token, (m) => {
    if (m.type === 'stream.text' && m.to >= m.length) {
      length = m.to;
      done();
    } else if (m.type === 'pub' && m.offset !== undefined) {
      lastOffset = m.offset;
      if (m.offset >= pubs) done();
    }
  });
  const stream: number[] = [];
  const topic: number[] = [];
  for (let i = 0; i < LATE_TRIALS; i++) {
    // Side by side: a late joiner of the stream, then one replaying the same text as publications.
    let wait = new Promise<void>((r) => (done = r));
    let t0 = performance.now();
    ws.send(
      JSON.stringify({ type: 'stream.subscribe', id: 2 * i + 1, stream: { job: setup.id, name: 'answer' }, from: 0 }),
    );
    await wait;
    stream.push(performance.now() - t0);
    ws.send(
      JSON.stringify({ type: 'stream.unsubscribe', id: 2 * i + 100_000, stream: { job: setup.id, name: 'answer' } }),
    );
    wait = new Promise<void>((r) => (done = r));
    t0 = performance.now();
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        id: 2 * i + 2,
        topic: 'bench:late',
        since: { epoch: page.epoch, offset: 0 },
      }),
    );
    await wait;
    topic.push(performance.now() - t0);
    ws.send(JSON.stringify({ type: 'unsubscribe', id: 2 * i + 200_000, topic: 'bench:late' }));
    await sleep(5);
  }
  ws.close();
  const s = summarize(stream);
  const p = summarize(topic);
  out.push(
    `late join, ${(length / 1000).toFixed(0)} K chars so far, ${LATE_TRIALS} joins: stream p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms; ` +
      `${pubs} publications (offset ${lastOffset}) p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms (p99 ${(p.p99 / s.p99).toFixed(1)}x)`,
  );
}

async function load(child: ChildProcess, port: number, mode: 'streams' | 'topics'): Promise<void> {
  const setup = await ask<{ ids: string[]; token: string }>(
    child,
    { type: 'load-setup', mode, streams: LOAD_STREAMS, rate: LOAD_RATE },
    'load-ready',
  );
  const latencies: number[] = [];
  let measuring = false;
  let received = 0;
  let subscribed = 0;
  const on = (m: any) => {
    if (m.type === 'stream.text' || m.type === 'subscribed') subscribed++;
    if (!measuring) return;
    const now = nowMs();
    if (m.type === 'stream.delta') {
      for (const t of (m.text as string).split('|')) {
        if (t.length < 2) continue;
        latencies.push(now - Number(t.slice(1)));
        received++;
      }
    } else if (m.type === 'pub' && m.data?.t) {
      latencies.push(now - (m.data.t as number));
      received++;
    }
  };
  const conns: RawWs[] = [];
  for (let c = 0; c < CONNECTIONS; c++) conns.push(await connection(port, setup.token, on));
  setup.ids.forEach((id, i) => {
    const ws = conns[i % CONNECTIONS]!;
    ws.send(
      JSON.stringify(
        mode === 'streams'
          ? { type: 'stream.subscribe', id: i + 1, stream: { job: id, name: 'answer' }, from: 0 }
          : { type: 'subscribe', id: i + 1, topic: id },
      ),
    );
  });
  while (subscribed < setup.ids.length) await sleep(20);
  await ask(child, { type: 'load-go', mode, rate: LOAD_RATE, ids: setup.ids }, 'load-going');
  await sleep(2000); // warm-up
  measuring = true;
  const cpu0 = await cpuOf(child.pid!);
  const t0 = performance.now();
  await sleep(LOAD_SECONDS * 1000);
  const cpu1 = await cpuOf(child.pid!);
  const seconds = (performance.now() - t0) / 1000;
  measuring = false;
  await ask(child, { type: 'load-stop' }, 'load-stopped');
  for (const ws of conns) ws.close();
  const s = summarize(latencies);
  out.push(
    `${mode === 'streams' ? 'streams' : 'topics, one stored publication per token'}: ${LOAD_STREAMS} x ${LOAD_RATE}/s ` +
      `(${CONNECTIONS} connections): ${(received / seconds).toFixed(0)} deliveries/s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms; ` +
      `node CPU ${((100 * (cpu1 - cpu0)) / seconds).toFixed(0)} % of a core`,
  );
}

out.push(await loadAverage());
if (PARTS.includes('storage') || PARTS.includes('late')) {
  const { child, info } = await spawnPinned<{ port: number; apiKey: string }>('inloop-streams.js', 0);
  try {
    if (PARTS.includes('storage')) await storage(child);
    if (PARTS.includes('late')) await late(child, info.port, info.apiKey);
  } finally {
    await stopServer(child);
  }
  out.push(await loadAverage());
}
if (PARTS.includes('load')) {
  // A fresh node for each side, so neither pays for the other's state.
  for (const mode of ['streams', 'topics'] as const) {
    const { child, info } = await spawnPinned<{ port: number; apiKey: string }>('inloop-streams.js', 0);
    try {
      await load(child, info.port, mode);
    } finally {
      await stopServer(child);
    }
    out.push(await loadAverage());
  }
}
console.log(out.join('\n'));
