import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/**
 * An Inloop node (embedded SQLite) for the streams benchmark. The generators run in this process,
 * as an in-process handler would (`ctx.stream(name).append`), against one publication per token
 * through the hub (`node.hub.publish`), the way partial results or a topic would carry them.
 */
const dataDir = benchDataDir('inloop-bench-streams-');
// History holds every publication of the comparison (the default keeps the last 1,000 per topic).
const node = await createNode({
  port,
  host: '127.0.0.1',
  dataDir,
  processMetrics: false,
  apiKey: 'bench-api-key-0123456789',
  historyMaxCount: 10_000,
});
const nowMs = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a generator job does, by its input. */
interface GenInput {
  tokens?: number;
  /** Tokens per second. */
  rate?: number;
  /** Fixed token text; a timestamp token when absent. */
  text?: string;
  /** Hold the job open until released (late-join measurements). */
  hold?: string;
}
const gates = new Map<string, () => void>();
let go: Promise<void> = Promise.resolve();
let release: () => void = () => {};
let stopLoad = false;

node.jobs.handle(
  'gen',
  async (job, ctx) => {
    const input = job.input as GenInput;
    const out = ctx.stream('answer');
    await go;
    const every = 1000 / (input.rate ?? 50);
    // Generators started together spread over one period, as independent clients would.
    if (input.tokens === undefined) await sleep(Math.random() * every);
    const start = performance.now();
    for (let i = 0; i < (input.tokens ?? Infinity) && !stopLoad; i++) {
      const due = start + i * every;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      void out.append(input.text ?? `T${nowMs().toFixed(1)}|`);
    }
    if (input.hold) await new Promise<void>((r) => gates.set(input.hold!, r));
    return null;
  },
  { concurrency: 5000, leaseMs: 600_000 },
);

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(20);
}

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof import('better-sqlite3');
const db = new Database(join(dataDir, 'inloop.db'), { readonly: true });

process.on('message', (m: Record<string, any>) => {
  void (async () => {
    if (m.type === 'storage') {
      // One stream of `tokens` tokens at `rate`/s, against one stored publication per token.
      const { tokens, rate, token } = m as { tokens: number; rate: number; token: string };
      const started = await node.jobs.service.start({
        type: 'gen',
        input: { tokens, rate, text: token },
        size: null,
        idempotencyKey: null,
        createdBy: 'bench',
      });
      const id = started.job.id;
      const every = 1000 / rate;
      const t0 = performance.now();
      for (let i = 0; i < tokens; i++) {
        const wait = t0 + i * every - performance.now();
        if (wait > 1) await sleep(wait);
        await node.hub.publish('bench:tokens', { data: { t: token }, from: 'bench' });
      }
      await waitFor(async () => (await node.jobs.service.get(id))?.status === 'succeeded');
      await node.streams.read({ job: id, name: 'answer' }, 0);
      await sleep(300);
      const chunks = db
        .prepare('SELECT count(*) AS rows, sum(length(CAST(text AS BLOB))) AS bytes FROM stream_chunks WHERE key = ?')
        .get(`job:${id}/answer`) as { rows: number; bytes: number };
      const pubs = db
        .prepare(
          "SELECT count(*) AS rows, sum(length(CAST(data AS BLOB)) + length(publisher) + 16) AS bytes FROM publications WHERE topic = 'bench:tokens'",
        )
        .get() as { rows: number; bytes: number };
      const pages = (name: string) => {
        try {
          return (db.prepare('SELECT sum(pgsize) AS b FROM dbstat WHERE name = ?').get(name) as { b: number }).b;
        } catch {
          return null;
        }
      };
      process.send?.({
        type: 'storage-done',
        chunks,
        pubs,
        chunkPages: pages('stream_chunks'),
        pubPages: pages('publications'),
      });
    } else if (m.type === 'late-setup') {
      // A held-open stream of `chars` characters, and the same text as `pubs` stored publications.
      const { chars, pubs } = m as { chars: number; pubs: number };
      const piece = 'x'.repeat(1023) + ' ';
      const started = await node.jobs.service.start({
        type: 'gen',
        input: { tokens: Math.ceil(chars / 1024), rate: 100_000, text: piece, hold: 'late' },
        size: null,
        idempotencyKey: null,
        createdBy: 'bench',
      });
      const id = started.job.id;
      await waitFor(async () => (await node.streams.read({ job: id, name: 'answer' }, 0)).length >= chars);
      const each = 'y'.repeat(Math.floor(chars / pubs) - 10);
      for (let i = 0; i < pubs; i++) await node.hub.publish('bench:late', { data: { t: each }, from: 'bench' });
      const token = (
        await node.mintToken('bench', [{ ops: ['job:read', 'subscribe'], topics: [`job:${id}`, 'bench:late'] }], 3600)
      ).token;
      process.send?.({ type: 'late-ready', id, token, pubs });
    } else if (m.type === 'load-setup') {
      // `streams` held generators waiting for `load-go`; `topics` mode publishes instead.
      go = new Promise<void>((r) => (release = r));
      stopLoad = false;
      const ids: string[] = [];
      if (m.mode === 'streams') {
        for (let i = 0; i < m.streams; i++) {
          const started = await node.jobs.service.start({
            type: 'gen',
            input: { rate: m.rate },
            size: null,
            idempotencyKey: null,
            createdBy: 'bench',
          });
          ids.push(started.job.id);
        }
      } else for (let i = 0; i < m.streams; i++) ids.push(`bench:s${i}`);
      const token = (
        await node.mintToken('bench', [{ ops: ['job:read', 'subscribe'], topics: ['job:*', 'bench:*'] }], 3600)
      ).token;
      process.send?.({ type: 'load-ready', ids, token });
    } else if (m.type === 'load-go') {
      release();
      if (m.mode === 'topics') {
        const every = 1000 / m.rate;
        const topics = m.ids as string[];
        topics.forEach((topic, k) => {
          void (async () => {
            await sleep((k / topics.length) * every);
            const t0 = performance.now();
            for (let i = 0; !stopLoad; i++) {
              const wait = t0 + i * every - performance.now();
              if (wait > 1) await sleep(wait);
              void node.hub.publish(topic, { data: { t: nowMs() }, from: 'bench' });
            }
          })();
        });
      }
      process.send?.({ type: 'load-going' });
    } else if (m.type === 'load-stop') {
      stopLoad = true;
      await sleep(200);
      process.send?.({ type: 'load-stopped' });
    }
  })();
});

const url = await node.listen();
ready({ port: Number(new URL(url).port), apiKey: node.apiKey });
closeOnSigterm(node, dataDir);
