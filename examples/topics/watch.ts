/**
 * Watch a topic over WebSocket with the SDK and print each publication. The last position is saved
 * to a file after every publication, so you can kill this process, publish more, start it again
 * and see exactly what you missed, in order, with nothing twice.
 *
 *   INLOOP_URL=http://127.0.0.1:8080 INLOOP_API_KEY=$(cat .inloop/api-key) npm run watch -w examples/topics -- room:1
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { createClient } from '@inloop/client';
import type { Position } from '@inloop/protocol';

const topic = process.argv[2] ?? 'room:1';
const url = process.env.INLOOP_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.INLOOP_API_KEY;
if (!apiKey) throw new Error('set INLOOP_API_KEY (the node prints it on first start; it is in .inloop/api-key)');
const positionFile = `.position-${topic.replace(/[^A-Za-z0-9_-]/g, '_')}.json`;

/** A backend mints short-lived client tokens; here the watcher plays both parts. */
async function token(): Promise<string> {
  const res = await fetch(`${url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'watcher', ttlSeconds: 300, scopes: [{ ops: ['subscribe'], topics: [topic] }] }),
  });
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

const since = existsSync(positionFile) ? (JSON.parse(readFileSync(positionFile, 'utf8')) as Position) : undefined;
const client = createClient({ url, token, WebSocket: WebSocket as never });
client.on('state', (s) =>
  process.stderr.write(
    `[${s.to}] ${s.reason.message}${s.retryInMs ? ` (retry in ${Math.round(s.retryInMs)} ms)` : ''}\n`,
  ),
);
const sub = client.subscribe(topic, since ? { since } : {});
const save = () => sub.position && writeFileSync(positionFile, JSON.stringify(sub.position));
sub.on('subscribed', (e) => {
  save();
  process.stderr.write(
    e.recovered
      ? `subscribed; replaying ${e.replayed} missed\n`
      : `history could not fill the gap; now at ${e.epoch}:${e.offset}\n`,
  );
});
for await (const p of sub) {
  process.stdout.write(`${p.offset ?? '-'} ${p.from}: ${JSON.stringify(p.data)}\n`);
  save();
}
