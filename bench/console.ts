/**
 * The console's own cost (`npm run bench:console`). The Inloop node of the jobs bench runs pinned
 * to core 0 and takes `POST /v1/jobs` at 1,000 jobs/s from this generator (core 1); in alternate
 * rounds a headless Chromium (also on core 1) has the console open on its Jobs page, which reads
 * the newest 50 jobs every second. Prints the 202 p50/p99 of each round with the load average,
 * the node's CPU time per 1,000 jobs (robust where latency is not: on a busy machine the node
 * waits for a core), the median p99 and CPU with and without the console side by side; the
 * node's CPU per second with the console open and no jobs against none open; and the size of the
 * console's JavaScript and CSS, gzipped.
 */
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { Agent, setGlobalDispatcher } from 'undici';
import { cpuOf, loadAverage, summarize } from './lib/stats.js';
import { spawnPinned, stopServer } from './lib/targets.js';

setGlobalDispatcher(new Agent({ connections: 2048, pipelining: 1, keepAliveTimeout: 60_000 }));

const RATE = Number(process.env.BENCH_JOBS_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_CONSOLE_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 6);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `POST /v1/jobs` at `RATE` per second for `SECONDS`, open loop; latency to the 202. */
async function accept(base: string, apiKey: string) {
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  let sent = 0;
  const pending: Promise<void>[] = [];
  while (performance.now() - start < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (sent < due) {
      sent++;
      const t0 = performance.now();
      pending.push(
        fetch(`${base}/v1/jobs`, { method: 'POST', headers, body: '{"type":"noop"}' }).then(
          async (res) => {
            await res.arrayBuffer();
            if (res.status === 202) latencies.push(performance.now() - t0);
            else errors++;
          },
          () => void errors++,
        ),
      );
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return { ...summarize(latencies), errors };
}

const consoleDir = fileURLToPath(new URL('../../packages/server/console/assets/', import.meta.url));
const gz = (ext: string) =>
  readdirSync(consoleDir)
    .filter((f) => f.endsWith(ext))
    .reduce((n, f) => n + gzipSync(readFileSync(join(consoleDir, f)), { level: 9 }).length, 0);
const js = gz('.js');
const css = gz('.css');

const { child, info } = await spawnPinned<{ port: number; apiKey: string }>('inloop-jobs.js', 0);
const base = `http://127.0.0.1:${info.port}`;
// Chromium on the generator's core, so the node's core only pays for serving the console.
const wrapper = join(tmpdir(), `chromium-core1-${process.pid}.sh`);
writeFileSync(wrapper, `#!/bin/sh\nexec taskset -c 1 ${CHROMIUM} "$@"\n`);
chmodSync(wrapper, 0o755);
let browser: Browser | undefined;
const p99: Record<'without' | 'with', number[]> = { without: [], with: [] };
const cpuPerK: Record<'without' | 'with', number[]> = { without: [], with: [] };
const idle: Record<'without' | 'with', number[]> = { without: [], with: [] };
const pid = child.pid!;
const lines: string[] = [];
try {
  browser = await chromium.launch({
    executablePath: wrapper,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // Warm-up: the node's first jobs, the type's first estimates.
  await accept(base, info.apiKey);
  for (let round = 0; round < ROUNDS; round++) {
    const open = round % 2 === 1;
    const page = open ? await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage() : null;
    if (page) {
      await page.goto(`${base}/console`);
      await page.getByLabel('API key or admin token').fill(info.apiKey);
      await page.keyboard.press('Enter');
      await page.locator('table.jobs tbody tr').first().waitFor();
    }
    // The console alone, no jobs: what its reads cost the node per second.
    const idle0 = await cpuOf(pid);
    await sleep(10_000);
    const idleMsPerS = ((await cpuOf(pid)) - idle0) * 100;
    const cpu0 = await cpuOf(pid);
    const r = await accept(base, info.apiKey);
    const perK = (((await cpuOf(pid)) - cpu0) * 1e6) / Math.max(1, r.n);
    await page?.context().close();
    const mode = open ? 'with' : 'without';
    p99[mode].push(r.p99);
    cpuPerK[mode].push(perK);
    idle[mode].push(idleMsPerS);
    lines.push(
      `round ${round + 1} ${open ? 'console open  ' : 'console closed'}: 202 p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.n} jobs, ${r.errors} errors, node CPU ${perK.toFixed(0)} ms per 1,000 jobs, idle ${idleMsPerS.toFixed(1)} ms CPU/s; ${await loadAverage()}`,
    );
    console.log(lines.at(-1));
  }
} finally {
  await browser?.close();
  await stopServer(child);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
console.log(
  `\n202 p99 at ${RATE} jobs/s, median of ${ROUNDS / 2} rounds each: without the console ${median(p99.without).toFixed(1)} ms, with it open ${median(p99.with).toFixed(1)} ms (${(median(p99.with) / median(p99.without)).toFixed(2)}x); ${await loadAverage()}`,
);
console.log(
  `node CPU per 1,000 jobs, median: without ${median(cpuPerK.without).toFixed(0)} ms, with ${median(cpuPerK.with).toFixed(0)} ms (${(median(cpuPerK.with) / median(cpuPerK.without)).toFixed(2)}x); idle node CPU per second: without ${median(idle.without).toFixed(1)} ms, with the console open ${median(idle.with).toFixed(1)} ms`,
);
console.log(`console assets, gzipped: JavaScript ${(js / 1024).toFixed(1)} KiB, CSS ${(css / 1024).toFixed(1)} KiB`);
