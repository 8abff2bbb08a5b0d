import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { NodeOptions } from '@inloop/server';
import { exited, freePort, startNode, tempDir, waitFor, type TestNode } from './helpers.js';

const sdk = fileURLToPath(new URL('../../../sdks/python', import.meta.url));

/** The Python SDK's example worker (`python3 -m word_count`), against `t`. */
function pythonWorker(
  t: { url: string; node: { apiKey: string } },
  env: Record<string, string> = {},
): {
  child: ChildProcess;
  output: () => string;
} {
  const child = spawn('python3', ['-m', 'word_count'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PYTHONPATH: `${sdk}/src:${sdk}/examples`,
      PYTHONDONTWRITEBYTECODE: '1',
      INLOOP_URL: t.url,
      INLOOP_API_KEY: t.node.apiKey,
      INLOOP_TYPES: 'word-count,noop,noop-async,tell',
      INLOOP_WAIT_MS: '1000',
      LOG_LEVEL: 'INFO',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function stopWorker(w: { child: ChildProcess }): Promise<void> {
  if (w.child.exitCode !== null) return;
  const done = exited(w.child);
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(timer);
}

async function finished(t: TestNode, id: string, timeoutMs = 15_000): Promise<any> {
  return waitFor(
    async () => {
      const job = (await t.api(`/v1/jobs/${id}`)).body;
      return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : null;
    },
    timeoutMs,
    `job ${id} to finish`,
  );
}

const TEXT = ['the fox and the dog', 'The fox jumps', 'a dog sleeps; the end'].join('\n');
const options: NodeOptions = { jobTypes: ['word-count', 'noop', 'noop-async', 'tell'] };

/**
 * A pass-through proxy in front of the node that counts the requests to job streams, and the
 * most of them on their way at once per stream.
 */
async function countingProxy(target: string) {
  const counts = { requests: 0, inFlight: new Map<string, number>(), maxInFlight: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const stream = /\/streams\/[^/]+$/.test(req.url ?? '') ? req.url! : null;
      if (stream) {
        counts.requests++;
        const n = (counts.inFlight.get(stream) ?? 0) + 1;
        counts.inFlight.set(stream, n);
        counts.maxInFlight = Math.max(counts.maxInFlight, n);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host') headers[k] = v;
      fetch(target + req.url, {
        method: req.method!,
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      })
        .then(async (r) => {
          const body = Buffer.from(await r.arrayBuffer());
          if (stream) counts.inFlight.set(stream, counts.inFlight.get(stream)! - 1);
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(body);
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the Python worker SDK against a real node', () => {
  it('runs a job end to end: stages, progress, partial results, a message and the result', async () => {
    await using t = await startNode(options);
    const worker = pythonWorker(t);
    try {
      const created = await t.api('/v1/jobs', { body: { type: 'word-count', input: { text: TEXT } } });
      assert.equal(created.status, 202);
      const job = await finished(t, created.body.id);
      assert.equal(job.status, 'succeeded', worker.output());
      assert.equal(job.result.words, 13);
      assert.deepEqual(job.result.top[0], ['the', 4]);
      assert.ok(job.partials.some((p: any) => p.leader === 'the'));
      const events = (await t.api(`/v1/topics/${encodeURIComponent(`job:${job.id}`)}/messages?after=0`)).body.messages;
      const stages = events.filter((e: any) => e.data.type === 'job.stage').map((e: any) => e.data.job.stage.name);
      assert.deepEqual(stages, ['fetch', 'count', 'rank']);
      assert.ok(events.some((e: any) => e.data.type === 'job.progress'));
      const said = events.filter((e: any) => e.data.type === 'job.message').map((e: any) => e.data.job.message);
      assert.deepEqual(said, ['13 words, 8 distinct']);
    } finally {
      await stopWorker(worker);
    }
  });

  it('fails a job for good on PermanentError, with its code', async () => {
    await using t = await startNode(options);
    const worker = pythonWorker(t);
    try {
      const created = await t.api('/v1/jobs', { body: { type: 'word-count', input: { url: 'ftp://example.com/x' } } });
      const job = await finished(t, created.body.id);
      assert.equal(job.status, 'failed');
      assert.equal(job.error.code, 'bad_input');
      assert.equal(job.attempt, 1);
    } finally {
      await stopWorker(worker);
    }
  });

  it('stops a job that is cancelled and goes on to the next', async () => {
    await using t = await startNode(options);
    const worker = pythonWorker(t);
    try {
      const text = Array.from({ length: 40 }, (_, i) => `line ${i} of a long text`).join('\n');
      const slow = await t.api('/v1/jobs', { body: { type: 'word-count', input: { text, chunkDelayMs: 300 } } });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${slow.body.id}`)).body.stage?.name === 'count',
        10_000,
        'counting',
      );
      await t.api(`/v1/jobs/${slow.body.id}/cancel`, { method: 'POST', body: {} });
      assert.equal((await finished(t, slow.body.id)).status, 'cancelled');
      const next = await t.api('/v1/jobs', { body: { type: 'noop', input: { n: 1 } } });
      const done = await finished(t, next.body.id);
      assert.equal(done.status, 'succeeded');
      assert.deepEqual(done.result, { n: 1 });
    } finally {
      await stopWorker(worker);
    }
  });

  it('carries on through a node restart and completes the job it was running', async () => {
    const dir = tempDir();
    const port = await freePort();
    const worker = { child: null as ChildProcess | null, output: () => '' };
    try {
      const text = Array.from({ length: 20 }, (_, i) => `word${i} again`).join('\n');
      let id: string;
      {
        await using first = await startNode({ ...options, port, dataDir: dir.path });
        Object.assign(worker, pythonWorker(first));
        const created = await first.api('/v1/jobs', {
          body: { type: 'word-count', input: { text, chunkDelayMs: 150 } },
        });
        id = created.body.id;
        await waitFor(async () => (await first.api(`/v1/jobs/${id}`)).body.stage?.name === 'count', 10_000, 'counting');
      }
      await using second = await startNode({ ...options, port, dataDir: dir.path });
      const job = await finished(second, id, 30_000);
      assert.equal(job.status, 'succeeded', worker.output());
      assert.equal(job.result.words, 40);
      assert.equal(job.attempt, 1, 'the same attempt finished: the lease outlived the restart');
    } finally {
      if (worker.child) await stopWorker(worker as { child: ChildProcess });
      dir.remove();
    }
  });

  it('gives up an attempt whose lease was lost, and the retry completes the job', async () => {
    await using t = await startNode({ ...options, jobLeaseMs: 1000 });
    const worker = pythonWorker(t, { INLOOP_CONCURRENCY: '2', INLOOP_HEARTBEAT_MS: '600000' });
    try {
      const created = await t.api('/v1/jobs', {
        body: { type: 'word-count', input: { text: TEXT, stallFirstAttemptMs: 2500 } },
      });
      const job = await finished(t, created.body.id, 30_000);
      assert.equal(job.status, 'succeeded', worker.output());
      assert.equal(job.result.attempt, 2, 'the second attempt produced the result');
      await waitFor(
        () => /lease_lost|outcome not accepted/.test(worker.output()),
        10_000,
        'the first attempt to notice',
      );
    } finally {
      await stopWorker(worker);
    }
  });

  describe('ctx.stream(name)', () => {
    it('appends without waiting, one request at a time per stream, and the text is whole when the job ends', async () => {
      await using t = await startNode(options);
      const proxy = await countingProxy(t.url);
      const worker = pythonWorker({ url: proxy.url, node: t.node });
      try {
        // Words with accents and astral characters: offsets are UTF-16 code units, as in JavaScript.
        const text = Array.from({ length: 2000 }, (_, i) => (i % 9 === 0 ? `é🙂${i} ` : `w${i} `)).join('');
        const created = await t.api('/v1/jobs', { body: { type: 'tell', input: { text } } });
        const job = await finished(t, created.body.id);
        assert.equal(job.status, 'succeeded', worker.output());
        assert.equal(job.result.pieces, 2000);
        const read = await t.api(`/v1/jobs/${job.id}/streams/answer`);
        assert.deepEqual([read.body.text === text, read.body.length, read.body.end], [true, text.length, 'finished']);
        assert.equal(proxy.counts.maxInFlight, 1, 'at most one request per stream on its way');
        assert.ok(proxy.counts.requests < 2000, `${proxy.counts.requests} requests for 2,000 appends`);
      } finally {
        await stopWorker(worker);
        await proxy.close();
      }
    });

    it('stops the work when a watcher stops the stream, and the text so far stays', async () => {
      await using t = await startNode(options);
      const worker = pythonWorker(t);
      try {
        const text = Array.from({ length: 400 }, (_, i) => `w${i} `).join('');
        const created = await t.api('/v1/jobs', { body: { type: 'tell', input: { text, wordDelayMs: 20 } } });
        const path = `/v1/jobs/${created.body.id}/streams/answer`;
        await waitFor(async () => (await t.api(path)).body.length > 20, 10_000, 'the first words');
        assert.equal((await t.api(`${path}/stop`, { method: 'POST', body: {} })).status, 200);
        const job = await finished(t, created.body.id);
        assert.equal(job.status, 'cancelled', worker.output());
        const read = await t.api(path);
        assert.equal(read.body.end, 'stopped');
        assert.ok(read.body.length < text.length && text.startsWith(read.body.text), 'a prefix of the text');
        // The worker goes on to the next job.
        const next = await t.api('/v1/jobs', { body: { type: 'noop', input: 2 } });
        assert.equal((await finished(t, next.body.id)).result, 2);
      } finally {
        await stopWorker(worker);
      }
    });
  });

  it('runs an async def handler', async () => {
    await using t = await startNode(options);
    const worker = pythonWorker(t);
    try {
      const created = await t.api('/v1/jobs', { body: { type: 'noop-async', input: 5 } });
      const job = await finished(t, created.body.id);
      assert.deepEqual(job.result, { async: 5 }, worker.output());
    } finally {
      await stopWorker(worker);
    }
  });

  it('runs many trivial jobs with several threads', async () => {
    await using t = await startNode(options);
    const worker = pythonWorker(t, { INLOOP_CONCURRENCY: '4' });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await t.api('/v1/jobs', { body: { type: 'noop', input: i } })).body.id);
      const results = await Promise.all(ids.map((id) => finished(t, id)));
      assert.deepEqual(
        results.map((r) => r.result),
        Array.from({ length: 20 }, (_, i) => i),
      );
    } finally {
      await stopWorker(worker);
    }
  });
});
