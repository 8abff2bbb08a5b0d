/**
 * Integrations benchmark (issue 17), in one process on loopback (node and load share a core, so
 * rates are lower bounds): `node --conditions=source --import tsx bench/integrations.ts`. Prints:
 * - token verification cost (µs per verify) for HS256 (node secret), RS256 and ES256 (JWKS issuer,
 *   keys cached), and WebSocket connects per second with each;
 * - webhook delivery to one local receiver: latency p50/p99 from the publication to the receiver at
 *   a paced 200/s, and throughput for a burst;
 * - Python worker (sdks/python, Debian's python3) jobs per second for trivial jobs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import WebSocket from 'ws';
import { Issuers, Tokens, createNode, type NodeOptions } from '@inloop/server';

const load = () =>
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function node(options: NodeOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'inloop-bench-'));
  const n = await createNode({ port: 0, host: '127.0.0.1', processMetrics: false, dataDir: dir, ...options });
  const url = await n.listen();
  return { n, url, close: async () => (await n.close(), rmSync(dir, { recursive: true, force: true })) };
}

async function tokens(): Promise<void> {
  const rs = await generateKeyPair('RS256');
  const es = await generateKeyPair('ES256');
  const keys = [
    { ...(await exportJWK(rs.publicKey)), kid: 'rs', alg: 'RS256' },
    { ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256' },
  ];
  const { n, url, close } = await node({
    tokenIssuers: [
      {
        issuer: 'https://idp/',
        keys: { keys },
        audience: 'app',
        rules: [{ ops: ['subscribe', 'history'], topics: ['user:{sub}:*'] }],
      },
    ],
  });
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims = { iss: 'https://idp/', aud: 'app', sub: 'alice', exp };
  const byAlg = {
    HS256: await n
      .mintToken('alice', [{ ops: ['subscribe', 'history'], topics: ['user:alice:*'] }], 3600)
      .then((t) => t.token),
    RS256: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'rs' }).sign(rs.privateKey),
    ES256: await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'es' }).sign(es.privateKey),
  };
  for (const [alg, token] of Object.entries(byAlg)) {
    // Each token works against the node before it is timed.
    const res = await fetch(`${url}/v1/topics/user:alice:x/messages?after=0`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 200) throw new Error(`${alg} token refused: ${res.status}`);
  }
  // µs per verify: Tokens with the same issuer config, called directly (keys imported once, cached).
  const direct = new Tokens('x'.repeat(32), new Issuers(n.config.tokenIssuers));
  const hs = await direct.mint('alice', [{ ops: ['subscribe'], topics: ['user:alice:*'] }], 3600);
  const inputs = { HS256: hs.token, RS256: byAlg.RS256, ES256: byAlg.ES256 };
  // Two rounds, the first a warm-up of every path (JIT, key import), so the order does not matter.
  for (const round of [1, 2])
    for (const [alg, token] of Object.entries(inputs)) {
      for (let i = 0; i < 200; i++) await direct.verify(token);
      const N = 3000;
      const t0 = performance.now();
      // CPU time as well as wall time: on a shared machine the wall time counts other processes.
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < N; i++) {
        const r = await direct.verify(token);
        if (!r.ok) throw new Error(`${alg}: ${r.code}`);
      }
      const cpu = process.cpuUsage(cpu0);
      const us = ((performance.now() - t0) * 1000) / N;
      const cpuUs = (cpu.user + cpu.system) / N;
      if (round === 2)
        console.log(`verify ${alg}: ${cpuUs.toFixed(1)} µs CPU, ${us.toFixed(1)} µs wall per token (${load()})`);
    }
  // Interleaved rounds (HS, RS, ES, HS, RS, ES ...) after a warm-up one, so no algorithm gets the cold start.
  const rounds: Record<string, number[]> = { HS256: [], RS256: [], ES256: [] };
  for (const round of [0, 1, 2, 3])
    for (const [alg, token] of Object.entries(byAlg)) {
      const N = 1000;
      const CONC = 50;
      let done = 0;
      const t0 = performance.now();
      const one = () =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url.replace('http', 'ws') + '/v1/ws');
          ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', token })));
          ws.on('message', (d) => {
            if (!String(d).includes('"connected"')) return reject(new Error(String(d)));
            ws.close();
            resolve();
          });
          ws.on('error', reject);
        });
      await Promise.all(
        Array.from({ length: CONC }, async () => {
          while (done < N) {
            done++;
            await one();
          }
        }),
      );
      const s = (performance.now() - t0) / 1000;
      if (round > 0) rounds[alg]!.push(N / s);
    }
  for (const [alg, rates] of Object.entries(rounds))
    console.log(
      `connect ${alg}: ${rates.map((r) => r.toFixed(0)).join(' / ')} connects/s (3 rounds of 1,000, 50 at once, ${load()})`,
    );
  await close();
}

async function webhooks(): Promise<void> {
  const arrivals: number[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { data: { ts: number } };
      arrivals.push(Date.now() - body.data.ts);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as { port: number }).port;
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const { n, close } = await node({
    webhooks: [
      { id: 'r', url: `http://127.0.0.1:${port}/`, secrets: [secret], events: ['topic.publication'], concurrency: 8 },
    ],
  });
  const PACED = 2000;
  for (let i = 0; i < PACED; i++) {
    await n.hub.publish('bench', { data: i, from: 'bench' });
    await sleep(5);
  }
  while (arrivals.length < PACED) await sleep(10);
  console.log(
    `webhook latency at 200/s: p50 ${pct(arrivals, 0.5)} ms, p99 ${pct(arrivals, 0.99)} ms (${PACED} events, ${load()})`,
  );
  arrivals.length = 0;
  const BURST = 5000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: BURST }, (_, i) => n.hub.publish('bench', { data: i, from: 'bench' })));
  while (arrivals.length < BURST) await sleep(10);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `webhook throughput to one receiver: ${(BURST / s).toFixed(0)} deliveries/s (burst of ${BURST}, concurrency 8, ${load()})`,
  );
  await close();
  receiver.close();
}

async function python(): Promise<void> {
  const sdk = fileURLToPath(new URL('../sdks/python', import.meta.url));
  const { n, url, close } = await node({ jobTypes: ['noop'] });
  for (const concurrency of [1, 4]) {
    const child = spawn('python3', ['-m', 'word_count'], {
      env: {
        PATH: process.env.PATH,
        PYTHONPATH: `${sdk}/src:${sdk}/examples`,
        INLOOP_URL: url,
        INLOOP_API_KEY: n.apiKey,
        INLOOP_TYPES: 'noop',
        INLOOP_CONCURRENCY: String(concurrency),
        INLOOP_WAIT_MS: '1000',
      },
      stdio: 'inherit',
    });
    const N = 500;
    const ids: string[] = [];
    const headers = { authorization: `Bearer ${n.apiKey}`, 'content-type': 'application/json' };
    await sleep(300);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ type: 'noop', input: i }),
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    for (const id of ids) {
      for (;;) {
        const job = (await (await fetch(`${url}/v1/jobs/${id}`, { headers })).json()) as { status: string };
        if (job.status === 'succeeded') break;
        await sleep(5);
      }
    }
    const s = (performance.now() - t0) / 1000;
    console.log(
      `python worker, concurrency ${concurrency}: ${(N / s).toFixed(0)} trivial jobs/s (${N} jobs, ${load()})`,
    );
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await close();
}

const only = process.argv[2];
if (!only || only === 'tokens') await tokens();
if (!only || only === 'webhooks') await webhooks();
if (!only || only === 'python') await python();
