/**
 * Server memory per idle WebSocket: 10,000 connections (authenticated where the protocol has
 * it, no subscriptions, no traffic), RSS after a forced GC, minus the RSS before them.
 */
import type { RawWs } from './lib/raw-ws.js';
import { loadAverage, rssOf } from './lib/stats.js';
import { gc, startServer, stopServer, targets } from './lib/targets.js';

const CONNECTIONS = Number(process.env.BENCH_IDLE ?? 10_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.stdout.write(
  `\nIdle connections: ${CONNECTIONS.toLocaleString('en')} per server\n\n| server | RSS before | RSS after | per connection |\n|---|---|---|---|\n`,
);
for (const target of targets) {
  const { child, info } = await startServer(target, 0);
  await sleep(500);
  await gc(child);
  const before = await rssOf(child.pid!);
  const sockets: RawWs[] = [];
  for (let i = 0; i < CONNECTIONS; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(CONNECTIONS, i + 200); j++) batch.push(target.idle(info.port, info));
    sockets.push(...(await Promise.all(batch)));
  }
  await sleep(2000);
  await gc(child);
  await sleep(500);
  const after = await rssOf(child.pid!);
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
  process.stdout.write(
    `| ${target.name} | ${mb(before)} | ${mb(after)} | ${((after - before) / CONNECTIONS / 1024).toFixed(2)} KB |\n`,
  );
  for (const s of sockets) s.close();
  await stopServer(child);
}
process.stdout.write(`\n${await loadAverage()}\n`);
