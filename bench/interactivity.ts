/**
 * Messaging-grade interactivity benchmark (`npm run bench:interactivity`). The Inloop node
 * (embedded SQLite) runs pinned to core 0, this generator to core 1. Prints:
 * - typing: from `keystroke()` on an SDK client to the `typing.start` at each of the other
 *   members' connections, with 1,000 members in the topic (each joined to presence and
 *   subscribed): p50 / p99 over every delivery;
 * - receipts: from `send()` on the sender's SDK to the sender hearing the recipient's automatic
 *   `delivered` receipt, across 20 conversations sending 10 messages/s each: p50 / p99;
 * - presence: 1,000 members joining one topic within one second, every member watching: the
 *   presence messages the node sent, against the naive one message per join per watcher.
 */
import WebSocket from 'ws';
import { createClient, type InloopClient } from '@inloop/client';
import { nowMs, RawWs } from './lib/raw-ws.js';
import { summarize } from './lib/stats.js';
import { spawnPinned, stopServer } from './lib/targets.js';

const MEMBERS = Number(process.env.BENCH_MEMBERS ?? 1000);
const TYPING_ROUNDS = Number(process.env.BENCH_TYPING_ROUNDS ?? 200);
const PAIRS = Number(process.env.BENCH_RECEIPT_PAIRS ?? 20);
const RECEIPT_SECONDS = Number(process.env.BENCH_RECEIPT_SECONDS ?? 15);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const scopes = [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['room:*', 'conv:*'] }];

interface Info {
  port: number;
  apiKey: string;
}

async function api<T>(info: Info, path: string, body: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${info.port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${info.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const token = async (info: Info, subject: string): Promise<string> =>
  (await api<{ token: string }>(info, '/v1/tokens', { subject, ttlSeconds: 3600, scopes })).token;

/** A raw connection as `subject`: connected, then `after` frames sent and `until` seen. */
async function member(info: Info, subject: string, onFrame: (f: Buffer) => void): Promise<RawWs> {
  const t = await token(info, subject);
  let waiter: ((f: Buffer) => void) | undefined;
  const ws = new RawWs(info.port, '/v1/ws', (f) => {
    waiter?.(f);
    onFrame(f);
  });
  await ws.connect();
  await new Promise<void>((resolve) => {
    waiter = (f) => f.includes('"connected"') && resolve();
    ws.send(JSON.stringify({ type: 'connect', token: t }));
  });
  waiter = undefined;
  return ws;
}

function sdk(info: Info, t: string): InloopClient {
  return createClient({ url: `http://127.0.0.1:${info.port}`, token: t, WebSocket: WebSocket as never });
}

const TYPING = Buffer.from('"kind":"typing.start"');

async function typing(info: Info): Promise<void> {
  const topic = 'room:typing';
  let roundStart = 0;
  let got = 0;
  const latencies: number[] = [];
  const receivers: RawWs[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const ws = await member(info, `m${i}`, (f) => {
      if (roundStart > 0 && f.includes(TYPING)) {
        latencies.push(nowMs() - roundStart);
        got++;
      }
    });
    ws.send(JSON.stringify({ type: 'subscribe', id: 1, topic }));
    ws.send(JSON.stringify({ type: 'presence.join', id: 2, topic, meta: { name: `Member ${i}` } }));
    receivers.push(ws);
  }
  // Typists are SDK clients, members too; they take turns so every round is a fresh start.
  const clients: InloopClient[] = [];
  const typists = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const client = sdk(info, await token(info, `typist${i}`));
      clients.push(client);
      await client.connect();
      client.presence(topic);
      return client.typing(topic);
    }),
  );
  await sleep(2000);
  for (let round = 0; round < TYPING_ROUNDS; round++) {
    const typist = typists[round % typists.length]!;
    got = 0;
    roundStart = nowMs();
    typist.keystroke();
    for (let waited = 0; got < receivers.length && waited < 2000; waited += 2) await sleep(2);
    roundStart = 0;
    typist.stop();
    await sleep(30);
  }
  const s = summarize(latencies);
  const expected = TYPING_ROUNDS * receivers.length;
  console.log(
    `typing, ${receivers.length + typists.length} members in the topic: keystroke() -> typing.start at each member  ` +
      `p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  max ${s.max.toFixed(1)} ms  (${s.n} of ${expected} deliveries)`,
  );
  for (const ws of receivers) ws.close();
  await Promise.all(clients.map((c) => c.close()));
}

async function receipts(info: Info): Promise<void> {
  const latencies: number[] = [];
  const clients: InloopClient[] = [];
  const pairs = await Promise.all(
    Array.from({ length: PAIRS }, async (_, i) => {
      const id = `pair-${i}`;
      await api(info, '/v1/conversations', { id, members: [`s${i}`, `r${i}`] });
      const sender = sdk(info, await token(info, `s${i}`));
      const recipient = sdk(info, await token(info, `r${i}`));
      clients.push(sender, recipient);
      const out = sender.conversation(id, { history: 0 });
      const inbox = recipient.conversation(id, { history: 0 });
      await Promise.all([out.ready(), inbox.ready()]);
      const waiting = new Map<number, number>();
      out.on('receipt', (w) => {
        if (w.member !== `r${i}`) return;
        for (const [offset, at] of waiting) {
          if (offset > w.delivered) continue;
          latencies.push(nowMs() - at);
          waiting.delete(offset);
        }
      });
      return { out, waiting };
    }),
  );
  const end = Date.now() + RECEIPT_SECONDS * 1000;
  let sent = 0;
  await Promise.all(
    pairs.map(async ({ out, waiting }, i) => {
      await sleep(i * (100 / PAIRS));
      while (Date.now() < end) {
        const at = nowMs();
        const m = await out.send(`message ${sent++}`);
        if (m.offset > 0) waiting.set(m.offset, at);
        await sleep(Math.max(0, 100 - (nowMs() - at)));
      }
    }),
  );
  await sleep(1000);
  const s = summarize(latencies);
  console.log(
    `receipts, ${PAIRS} conversations at 10 messages/s each: send() -> sender hears "delivered"  ` +
      `p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  max ${s.max.toFixed(1)} ms  (${s.n} of ${sent} messages)`,
  );
  await Promise.all(clients.map((c) => c.close()));
}

const PRESENCE = Buffer.from('"type":"presence.');

async function presence(info: Info): Promise<void> {
  const topic = 'room:crowd';
  let messages = 0;
  let bytes = 0;
  let seenAll = 0;
  const tokens = await Promise.all(Array.from({ length: MEMBERS }, (_, i) => token(info, `crowd${i}`)));
  const sockets: RawWs[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    let done = false;
    const ws = new RawWs(info.port, '/v1/ws', (f) => {
      for (let at = f.indexOf(PRESENCE); at >= 0; at = f.indexOf(PRESENCE, at + 1)) messages++;
      if (f.includes(PRESENCE)) bytes += f.length;
      if (!done && f.includes(`"occupancy":{"members":${MEMBERS},`)) {
        done = true;
        seenAll++;
      }
    });
    await ws.connect();
    ws.send(JSON.stringify({ type: 'connect', token: tokens[i] }));
    sockets.push(ws);
  }
  await sleep(500);
  // All joins within one second: one every (1000 / MEMBERS) ms.
  const started = nowMs();
  for (let i = 0; i < MEMBERS; i++) {
    sockets[i]!.send(JSON.stringify({ type: 'presence.join', id: 1, topic, meta: { name: `Crowd ${i}` } }));
    const due = started + ((i + 1) * 1000) / MEMBERS;
    while (nowMs() < due) await sleep(1);
  }
  const joinedIn = nowMs() - started;
  for (let waited = 0; seenAll < MEMBERS && waited < 10_000; waited += 50) await sleep(50);
  await sleep(500);
  const naive = (MEMBERS * (MEMBERS + 1)) / 2;
  console.log(
    `presence, ${MEMBERS} members joining within ${(joinedIn / 1000).toFixed(2)} s, all watching: ` +
      `${messages.toLocaleString('en')} presence messages (${(bytes / 1e6).toFixed(1)} MB), ` +
      `${seenAll} of ${MEMBERS} saw everyone; naive one-per-join-per-watcher ${naive.toLocaleString('en')} ` +
      `(${(naive / messages).toFixed(0)}x more), N squared ${(MEMBERS * MEMBERS).toLocaleString('en')}`,
  );
  for (const ws of sockets) ws.close();
}

const server = await spawnPinned<Info & { token: string }>('inloop.js', 0);
try {
  await presence(server.info);
  await typing(server.info);
  await receipts(server.info);
} finally {
  await stopServer(server.child);
}
process.exit(0);
