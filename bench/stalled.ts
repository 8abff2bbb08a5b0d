/**
 * Stalled readers (`npm run bench:stalled`): what a client that asks for history and stops reading
 * costs the node. An Inloop node (shipped limits, embedded SQLite) pinned to core 0 holds a topic of
 * 300 publications of 60 KB (18 MB). Then 24 clients ask for it and never read a byte of the answer:
 * 8 WebSocket resumes from offset 0, 8 SSE resumes from offset 0, 8 `GET .../messages?limit=1000`.
 *
 * Prints: the node's RSS before, while they are stalled and after the node has cut them off
 * (each after a forced GC), the RSS added per stalled reader, and a well-behaved client's
 * publish-to-receive p50 / p99 (WebSocket, 20/s) with and without them; and the load average.
 * `BENCH_STALLED_BEFORE=1` runs against a node from before `slowConsumerTimeoutMs` existed.
 */
import { connect, type Socket } from 'node:net';
import { payload } from './lib/fanout.js';
import { nowMs } from './lib/raw-ws.js';
import { loadAverage, rssOf, summarize } from './lib/stats.js';
import { gc, inloop, spawnPinned, stopServer } from './lib/targets.js';
import { nodeApi } from './lib/node-api.js';

const PUBLICATIONS = Number(process.env.BENCH_STALLED_PUBLICATIONS ?? 300);
const PER_PATH = Number(process.env.BENCH_STALLED_PER_PATH ?? 8);
const SECONDS = Number(process.env.BENCH_STALLED_SECONDS ?? 10);
/** The node cuts off a replay that makes no progress for this long (`slowConsumerTimeoutMs`). */
const TIMEOUT_MS = 15_000;
const GOOD_RATE = 20;
const BEFORE = process.env.BENCH_STALLED_BEFORE === '1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Info {
  port: number;
  token: string;
  apiKey: string;
}

const { child: server, info } = await spawnPinned<Info>(
  'inloop-stalled.js',
  0,
  BEFORE ? {} : { BENCH_SLOW_CONSUMER_TIMEOUT_MS: String(TIMEOUT_MS) },
);
const base = `http://127.0.0.1:${info.port}`;

const api = nodeApi(base, info.apiKey);

async function rss(): Promise<number> {
  await gc(server);
  await sleep(300);
  return rssOf(server.pid!);
}

/** A socket that sends `request` and never reads a byte of the answer. */
async function stalled(request: string | Buffer[]): Promise<Socket> {
  const socket = connect(info.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  for (const part of typeof request === 'string' ? [request] : request) socket.write(part);
  return socket;
}

/** A masked (zero key) WebSocket text frame. */
function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const len = body.length;
  const head = Buffer.alloc(len < 126 ? 6 : 8);
  head[0] = 0x81;
  if (len < 126) head[1] = 0x80 | len;
  else {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  }
  return Buffer.concat([head, body]);
}

const wsResume = (epoch: string) =>
  stalled([
    Buffer.from(
      `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
    frame(JSON.stringify({ type: 'connect', token: info.token })),
    frame(JSON.stringify({ type: 'subscribe', id: 1, topic: 'big', since: { epoch, offset: 0 } })),
  ]);
const sseResume = (epoch: string) =>
  stalled(
    `GET /v1/topics/big/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${info.token}\r\n` +
      `Last-Event-ID: ${epoch}:0\r\n\r\n`,
  );
const httpHistory = () =>
  stalled(
    `GET /v1/topics/big/messages?after=0&limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${info.token}\r\n\r\n`,
  );

// The topic: 300 publications of 60 KB.
const big = 'x'.repeat(60_000);
let epoch = '';
for (let i = 0; i < PUBLICATIONS; i++)
  epoch = (await api<{ epoch: string }>('/v1/topics/big/messages', { data: { i, big } })).epoch;

// The well-behaved client: subscribed to `bench`, publishing to it over WebSocket.
let recording: number[] | null = null;
let delivered = 0;
await inloop.subscribe(info.port, info, {
  count: () => {},
  latency: (t) => {
    delivered++;
    recording?.push(nowMs() - t);
  },
});
const publish = await inloop.publisher(info.port, info);
let published = 0;
async function wellBehaved(ms: number): Promise<{ latency: ReturnType<typeof summarize>; lost: number }> {
  recording = [];
  delivered = published = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    const due = Math.floor(((performance.now() - start) / 1000) * GOOD_RATE);
    while (published < due) {
      publish(payload());
      published++;
    }
    await sleep(5);
  }
  for (let waited = 0; delivered < published && waited < 30_000; waited += 50) await sleep(50);
  const sample = recording;
  recording = null;
  return { latency: summarize(sample), lost: published - delivered };
}

const alone = await wellBehaved(SECONDS * 1000);
const before = await rss();
const readers: Socket[] = [];
for (let i = 0; i < PER_PATH; i++) readers.push(await wsResume(epoch), await sseResume(epoch), await httpHistory());
const withThem = await wellBehaved(SECONDS * 1000);
const during = await rss();
// Past the slow-consumer timeout the node has cut them off (HTTP: its idle timeout).
await sleep(Math.max(0, TIMEOUT_MS + 3000 - SECONDS * 1000));
const after = await rss();
for (const r of readers) r.destroy();
await stopServer(server);

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const n = readers.length;
const ms = (x: number) => `${x.toFixed(1)} ms`;
process.stdout.write(
  `\nStalled readers: ${n} clients (${PER_PATH} WebSocket resumes from 0, ${PER_PATH} SSE resumes from 0, ${PER_PATH} GET messages?limit=1000)\n` +
    `of a topic of ${PUBLICATIONS} publications of 60 KB (${mib(PUBLICATIONS * 60_000)}), none of them reading${BEFORE ? ' (node from before the fix)' : ''}\n\n` +
    `| node RSS | before | while stalled | ${TIMEOUT_MS / 1000 + 3} s later |\n|---|---|---|---|\n` +
    `| total | ${mib(before)} | ${mib(during)} | ${mib(after)} |\n` +
    `| added per stalled reader | | ${mib((during - before) / n)} | ${mib((after - before) / n)} |\n\n` +
    `| well-behaved client (WebSocket, ${GOOD_RATE}/s, ${SECONDS} s) | p50 | p99 | lost |\n|---|---|---|---|\n` +
    `| alone | ${ms(alone.latency.p50)} | ${ms(alone.latency.p99)} | ${alone.lost} |\n` +
    `| with ${n} stalled readers | ${ms(withThem.latency.p50)} | ${ms(withThem.latency.p99)} | ${withThem.lost} |\n\n` +
    `${await loadAverage()}\n`,
);
process.exit(0);
