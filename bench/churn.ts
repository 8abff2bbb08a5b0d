/**
 * Churn soak: a node with short retention settings (everything expires 10 s after its last use,
 * cleanup every second) under a steady stream of new topic names (published to, read, subscribed
 * to), presence joins and leaves on new topics, conversation messages with receipts, and jobs.
 * Every `CHURN_SAMPLE_SECONDS` it samples the database file (size on disk, and pages in use) and
 * the node's RSS after a forced GC: both should level off once the first retention period has passed.
 *
 * CHURN_SECONDS (default 600), CHURN_SAMPLE_SECONDS (default 30), CHURN_WORKERS (default 4),
 * CHURN_RETENTION_MS (default 10000), CHURN_STORAGE (sqlite | memory).
 */
import { fork } from 'node:child_process';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { loadAverage, rssOf } from './lib/stats.js';

const SECONDS = Number(process.env.CHURN_SECONDS ?? 600);
const SAMPLE_SECONDS = Number(process.env.CHURN_SAMPLE_SECONDS ?? 30);
const WORKERS = Number(process.env.CHURN_WORKERS ?? 4);
const STORAGE = process.env.CHURN_STORAGE === 'memory' ? 'memory' : 'sqlite';
const CONVERSATIONS = 20;
const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof import('better-sqlite3');

interface Info {
  port: number;
  apiKey: string;
  token: string;
  dataDir: string;
}

const child = fork(fileURLToPath(new URL('./servers/inloop-churn.js', import.meta.url)), ['0'], {
  execArgv: ['--expose-gc'],
  env: { ...process.env, CHURN_STORAGE: STORAGE },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const info = await new Promise<Info>((resolve) =>
  child.on('message', (m: { type?: string } & Info) => m.type === 'ready' && resolve(m)),
);
const base = `http://127.0.0.1:${info.port}`;
const file = join(info.dataDir, 'inloop.db');

async function api(path: string, body?: unknown, method?: string): Promise<any> {
  const res = await fetch(base + path, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${info.apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method ?? 'POST'} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A WebSocket that subscribes to new topic names and leaves them again. */
async function subscriber(): Promise<(topic: string) => Promise<void>> {
  const ws = new WebSocket(`ws://127.0.0.1:${info.port}/v1/ws`);
  const waiting = new Map<number, () => void>();
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      const m = JSON.parse(line) as { id?: number };
      if (m.id !== undefined) waiting.get(m.id)?.();
    }
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'connect', token: info.token }));
  let id = 0;
  const request = (message: Record<string, unknown>) =>
    new Promise<void>((resolve) => {
      const n = ++id;
      waiting.set(n, () => {
        waiting.delete(n);
        resolve();
      });
      ws.send(JSON.stringify({ ...message, id: n }));
    });
  return async (topic) => {
    await request({ type: 'subscribe', topic });
    await request({ type: 'unsubscribe', topic });
  };
}

const conversations: string[] = [];
for (let i = 0; i < CONVERSATIONS; i++)
  conversations.push((await api('/v1/conversations', { members: ['ana', 'bob'] })).id as string);

const counts = { topics: 0, reads: 0, subscribes: 0, presence: 0, messages: 0, jobs: 0 };
let name = 0;
const text = 'x'.repeat(500);
const deadline = Date.now() + SECONDS * 1000;

async function worker(w: number): Promise<void> {
  const subscribe = await subscriber();
  for (let i = 0; Date.now() < deadline; i++) {
    const n = ++name;
    await api(`/v1/topics/churn-${n}/messages`, { data: { text } });
    counts.topics++;
    await api(`/v1/topics/read-${n}/messages?after=0`);
    counts.reads++;
    await subscribe(`sub-${n}`);
    counts.subscribes++;
    await api(`/v1/topics/room-${n}/presence/m${w}`, { meta: { text } }, 'PUT');
    await api(`/v1/topics/room-${n}/presence/m${w}`, undefined, 'DELETE');
    counts.presence++;
    const conv = conversations[n % CONVERSATIONS]!;
    const sent = await api(`/v1/conversations/${conv}/messages`, { from: 'ana', text });
    const offset = sent.message.offset as number;
    await api(`/v1/conversations/${conv}/receipts`, { from: 'bob', delivered: offset, read: offset });
    counts.messages++;
    if (i % 4 === 0) {
      await api('/v1/jobs', { type: 'churn', input: { n } });
      counts.jobs++;
    }
  }
}

/** The database file as it stands: bytes on disk (with its WAL) and bytes of pages in use. */
function database(): { disk: number; used: number; wal: number } {
  if (STORAGE === 'memory') return { disk: 0, used: 0, wal: 0 };
  const size = (f: string) => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return { disk: size(file) + size(`${file}-wal`), used: (pages - free) * pageSize, wal: size(`${file}-wal`) };
  } finally {
    db.close();
  }
}

const mb = (b: number) => (b / 1048576).toFixed(1);
const started = Date.now();
process.stdout.write(
  `\nChurn soak: ${SECONDS} s, ${WORKERS} workers, storage ${STORAGE}, retention ${process.env.CHURN_RETENTION_MS ?? 10_000} ms, sampled every ${SAMPLE_SECONDS} s\n${await loadAverage()}\n\n` +
    '| t (s) | new topics | reads | subscribes | presence join+leave | messages+receipts | jobs | DB on disk (MB) | DB in use (MB) | WAL (MB) | RSS after GC (MB) |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|\n',
);
/** Collect garbage in the node first: RSS then shows what is held, not what awaits collection. */
const gc = () =>
  new Promise<void>((resolve) => {
    const done = (m: { type?: string }) => {
      if (m.type !== 'gc-done') return;
      child.off('message', done);
      resolve();
    };
    child.on('message', done);
    child.send({ type: 'gc' });
  });
const sample = async () => {
  const db = database();
  await gc();
  const rss = await rssOf(child.pid!);
  process.stdout.write(
    `| ${Math.round((Date.now() - started) / 1000)} | ${counts.topics} | ${counts.reads} | ${counts.subscribes} | ${counts.presence} | ${counts.messages} | ${counts.jobs} | ${mb(db.disk)} | ${mb(db.used)} | ${mb(db.wal)} | ${mb(rss)} |\n`,
  );
};
await sample();
const timer = setInterval(() => void sample(), SAMPLE_SECONDS * 1000);
try {
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
} catch (err) {
  child.kill('SIGKILL');
  throw err;
}
clearInterval(timer);
await sample();
process.stdout.write(`\n${await loadAverage()}\n`);
const exited = new Promise((r) => child.once('exit', r));
child.kill('SIGTERM');
await exited;
process.exit(0);
