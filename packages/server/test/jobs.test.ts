import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWorker } from '@inloop/worker';
import type { JobSnapshot, Scope } from '@inloop/protocol';
import { PermanentJobError } from '@inloop/server';
import { readSse, sleep, startNode, waitFor } from './helpers.js';

const TERMINAL = ['job.succeeded', 'job.failed', 'job.cancelled'];

describe('jobs', () => {
  describe('an in-process job watched over HTTP and SSE', () => {
    it('answers 202 at once, then streams snapshot, stages, progress, partials and one terminal event', async () => {
      await using t = await startNode();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      t.node.jobs.handle(
        'book',
        async (job, ctx) => {
          await gate;
          await ctx.stage('write', { weight: 1 });
          await ctx.message(`Writing about ${(job.input as { hero: string }).hero}`);
          await ctx.progress(0.5);
          await ctx.partial({ page: 1, text: 'Once upon a time' });
          await ctx.stage('draw', { weight: 3 });
          await ctx.partial({ page: 1, svg: '<svg/>' });
          return { pages: 1 };
        },
        {
          stages: [
            { name: 'write', weight: 1 },
            { name: 'draw', weight: 3 },
          ],
        },
      );

      const created = await t.api('/v1/jobs', { body: { type: 'book', input: { hero: 'a fox' } } });
      assert.equal(created.status, 202);
      assert.equal(created.headers.get('location'), `/v1/jobs/${created.body.id}`);
      assert.match(created.headers.get('retry-after')!, /^\d+$/);
      assert.equal(created.body.status, 'queued');
      assert.equal(created.body.topic, `job:${created.body.id}`);
      assert.deepEqual(created.body.links, {
        self: `/v1/jobs/${created.body.id}`,
        stream: `/v1/jobs/${created.body.id}/stream`,
        cancel: `/v1/jobs/${created.body.id}/cancel`,
      });
      assert.equal(created.body.eta.basis.source, 'default');
      assert.ok(['instant', 'progress', 'engage'].includes(created.body.strategy));

      // The job's own token is enough to watch it, and grants nothing else.
      const token = created.body.token;
      const res = await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${token}`);
      assert.equal(res.status, 200);
      const reading = readSse(res);
      await sleep(50);
      release();
      const events = await reading;
      assert.equal(events[0]!.event, 'job.snapshot');
      // The stream is the snapshot, then exactly the stored events after it (plus ephemeral ticks).
      const history = await t.api(`/v1/topics/job:${created.body.id}/messages?after=0`);
      const stored = history.body.messages.map((m: { data: { type: string } }) => m.data.type);
      assert.deepEqual(stored, [
        'job.queued',
        'job.started',
        'job.stage',
        'job.message',
        'job.progress',
        'job.partial',
        'job.stage',
        'job.partial',
        'job.succeeded',
      ]);
      const streamed = events.slice(1).filter((e) => e.event !== 'job.tick');
      const after = history.body.messages.filter((m: { offset: number }) => m.offset > events[0]!.data.offset);
      assert.deepEqual(
        streamed.map((e) => e.event),
        after.map((m: { data: { type: string } }) => m.data.type),
      );
      assert.ok(streamed.length >= 7, 'the watcher connected before the work began');
      assert.equal(events.filter((e) => TERMINAL.includes(e.event)).length, 1);
      const done = events.at(-1)!.data;
      assert.deepEqual(done.job.result, { pages: 1 });
      assert.equal(done.job.progress.fraction, 1);
      const stage = events.find((e) => e.event === 'job.stage' && e.data.job.stage.name === 'draw')!.data.job;
      assert.deepEqual(stage.stage, { name: 'draw', index: 1, count: 2, plan: ['write', 'draw'] });
      assert.ok(stage.progress.fraction >= 0.25 && stage.progress.fraction < 1, 'weighted: write (1 of 4) done');

      const snapshot = await t.api(`/v1/jobs/${created.body.id}`, { token });
      assert.equal(snapshot.body.status, 'succeeded');
      assert.deepEqual(snapshot.body.partials, [
        { page: 1, text: 'Once upon a time' },
        { page: 1, svg: '<svg/>' },
      ]);
      assert.equal(snapshot.body.attempt, 1);
      assert.equal((await t.api(`/v1/jobs/${created.body.id}`, { token: await t.token('x', []) })).status, 403);
      assert.equal((await t.api('/v1/topics/room:1/messages?after=0', { token })).status, 403);

      // Watching a finished job: its snapshot and its terminal event, once; and 204 after that.
      const again = await readSse(await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${token}`));
      assert.deepEqual(
        again.map((e) => e.event),
        ['job.snapshot', 'job.succeeded'],
      );
      const seen = await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${token}`, {
        headers: { 'last-event-id': again[1]!.id! },
      });
      assert.equal(seen.status, 204);
    });
  });

  describe('a job started and watched from a browser-like client over WebSocket', () => {
    it('gives a live snapshot through the SDK and resolves once with the result', async () => {
      await using t = await startNode();
      t.node.jobs.handle('echo', async (job, ctx) => {
        await ctx.partial('half');
        await sleep(100);
        return { echoed: job.input };
      });
      const scopes: Scope[] = [{ ops: ['job:create'], topics: ['echo'] }];
      const client = t.client(await t.token('browser', scopes));
      await client.connect();
      const started = await client.startJob('echo', { hello: 'world' });
      assert.equal(started.status, 'queued');
      const watch = await client.watchJob(started.id, { token: started.token });
      const updates: string[] = [];
      watch.on('update', (s) => updates.push(s.status));
      let doneCount = 0;
      watch.on('done', () => doneCount++);
      const final: JobSnapshot = await watch.done;
      assert.equal(final.status, 'succeeded');
      assert.deepEqual(final.result, { echoed: { hello: 'world' } });
      assert.deepEqual(final.partials, ['half']);
      assert.equal(doneCount, 1);
      await assert.rejects(client.startJob('other', null), (err: { code: string }) => err.code === 'forbidden');
    });
  });

  describe('a remote worker', () => {
    it('serves a type through the worker SDK, with stages, progress and the result', async () => {
      await using t = await startNode({ jobTypes: ['transcribe'] });
      const worker = createWorker({
        url: t.url,
        apiKey: t.node.apiKey,
        types: ['transcribe'],
        waitMs: 1000,
        handler: async (job, ctx) => {
          await ctx.stage('listen');
          await ctx.progress(0.5);
          await ctx.partial({ words: 'hello' });
          return { text: `transcribed ${(job.size as { value: number }).value} s` };
        },
      });
      worker.start();
      const created = await t.api('/v1/jobs', {
        body: { type: 'transcribe', input: { url: 'x' }, size: { audioSeconds: 240 } },
      });
      const events = await readSse(
        await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`),
      );
      await worker.stop();
      assert.equal(events.at(-1)!.event, 'job.succeeded');
      assert.deepEqual(events.at(-1)!.data.job.result, { text: 'transcribed 240 s' });
      const snapshot = await t.api(`/v1/jobs/${created.body.id}`);
      assert.deepEqual(snapshot.body.partials, [{ words: 'hello' }]);
      assert.equal(snapshot.body.stage.name, 'listen');
    });

    it('is fenced: a worker whose lease lapsed cannot report, and the job is retried by another', async () => {
      await using t = await startNode({ jobTypes: ['slow'], jobLeaseMs: 1000 });
      const created = await t.api('/v1/jobs', { body: { type: 'slow', input: 1 } });
      const first = await t.api('/v1/workers/lease', { body: { types: ['slow'], worker: 'w1', waitMs: 1000 } });
      assert.equal(first.status, 200);
      assert.equal(first.body.job.id, created.body.id);
      const lease1 = first.body.lease;
      assert.equal(
        (await t.api(`/v1/jobs/${created.body.id}/progress`, { body: { lease: lease1.token, progress: 0.2 } })).status,
        200,
      );
      // w1 goes silent; its lease lapses and w2 gets the job (after the retry backoff).
      const second = await t.api('/v1/workers/lease', { body: { types: ['slow'], worker: 'w2', waitMs: 10_000 } });
      assert.equal(second.status, 200);
      assert.equal(second.body.job.attempt, 2);
      assert.ok(second.body.lease.fence > lease1.fence, 'fencing tokens increase');
      const late = await t.api(`/v1/jobs/${created.body.id}/complete`, {
        body: { lease: lease1.token, result: 'stale' },
      });
      assert.equal(late.status, 409);
      assert.equal(late.body.code, 'lease_lost');
      const forged = await t.api(`/v1/jobs/${created.body.id}/heartbeat`, { body: { lease: 'forged' } });
      assert.equal(forged.body.code, 'lease_lost');
      const ok = await t.api(`/v1/jobs/${created.body.id}/complete`, {
        body: { lease: second.body.lease.token, result: 'fresh' },
      });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.status, 'succeeded');
      const history = await t.api(`/v1/topics/job:${created.body.id}/messages?after=0`);
      const types = history.body.messages.map((m: { data: { type: string } }) => m.data.type);
      assert.deepEqual(types, [
        'job.queued',
        'job.started',
        'job.progress',
        'job.retrying',
        'job.started',
        'job.succeeded',
      ]);
      assert.equal(history.body.messages.at(-1).data.job.result, 'fresh');
    });

    it('answers a lease request with 204 when no job arrives in time', async () => {
      await using t = await startNode({ jobTypes: ['idle'] });
      const res = await t.api('/v1/workers/lease', { body: { types: ['idle'], waitMs: 200 } });
      assert.equal(res.status, 204);
      const unknown = await t.api('/v1/workers/lease', { body: { types: ['nope'], waitMs: 0 } });
      assert.equal(unknown.body.code, 'unknown_job_type');
    });
  });

  describe('failures and retries', () => {
    it('retries a failing handler with backoff and fails after the last attempt, with one terminal event', async () => {
      await using t = await startNode();
      let calls = 0;
      t.node.jobs.handle(
        'flaky',
        async () => {
          calls++;
          throw new Error(`boom ${calls}`);
        },
        { maxAttempts: 3, backoffMs: 50 },
      );
      const created = await t.api('/v1/jobs', { body: { type: 'flaky' } });
      const events = await readSse(
        await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`),
      );
      assert.equal(events.at(-1)!.event, 'job.failed');
      assert.equal(calls, 3);
      const history = await t.api(`/v1/topics/job:${created.body.id}/messages?after=0`);
      const types = history.body.messages.map((m: { data: { type: string } }) => m.data.type);
      assert.equal(types.filter((e: string) => e === 'job.retrying').length, 2);
      assert.equal(types.filter((e: string) => TERMINAL.includes(e)).length, 1);
      assert.deepEqual(events.at(-1)!.data.job.error, { code: 'handler_error', message: 'boom 3' });
    });

    it('does not retry a permanent error', async () => {
      await using t = await startNode();
      t.node.jobs.handle('strict', async () => {
        throw new PermanentJobError('input is not a recording', 'bad_input');
      });
      const created = await t.api('/v1/jobs', { body: { type: 'strict' } });
      const events = await readSse(
        await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`),
      );
      assert.equal(events.at(-1)!.event, 'job.failed');
      assert.equal(events.at(-1)!.data.job.attempt, 1);
      assert.equal(events.at(-1)!.data.job.error.code, 'bad_input');
    });
  });

  describe('cancellation', () => {
    it('reaches an in-process handler through its AbortSignal, and the job ends cancelled', async () => {
      await using t = await startNode();
      let sawAbort = false;
      t.node.jobs.handle('long', async (_job, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        sawAbort = true;
        return 'stopped';
      });
      const created = await t.api('/v1/jobs', { body: { type: 'long' } });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'running',
        2000,
        'running',
      );
      const cancel = await t.api(`/v1/jobs/${created.body.id}/cancel`, { method: 'POST', token: created.body.token });
      assert.equal(cancel.status, 202);
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'cancelled',
        2000,
        'cancelled',
      );
      assert.equal(sawAbort, true);
      const again = await t.api(`/v1/jobs/${created.body.id}/cancel`, { method: 'POST' });
      assert.equal(again.status, 409);
      assert.equal(again.body.code, 'job_finished');
    });

    it('reaches a handler that looks at its AbortSignal only after the cancel: it is aborted, with the reason', async () => {
      await using t = await startNode();
      let release!: () => void;
      const cancelAnswered = new Promise<void>((resolve) => (release = resolve));
      let seen: { aborted: boolean; reason: string } | null = null;
      t.node.jobs.handle('late-reader', async (_job, ctx) => {
        await cancelAnswered;
        seen = { aborted: ctx.signal.aborted, reason: (ctx.signal.reason as Error).message };
        return 'stopped';
      });
      const created = await t.api('/v1/jobs', { body: { type: 'late-reader' } });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'running',
        2000,
        'running',
      );
      const cancel = await t.api(`/v1/jobs/${created.body.id}/cancel`, { method: 'POST', token: created.body.token });
      assert.equal(cancel.status, 202);
      release();
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'cancelled',
        2000,
        'cancelled',
      );
      assert.deepEqual(seen, { aborted: true, reason: 'cancelled' });
    });

    it('reaches a remote worker as a flag in its lease reply', async () => {
      await using t = await startNode({ jobTypes: ['remote-long'] });
      let aborted = false;
      const worker = createWorker({
        url: t.url,
        apiKey: t.node.apiKey,
        types: ['remote-long'],
        heartbeatMs: 100,
        waitMs: 1000,
        handler: async (_job, ctx) => {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          aborted = true;
          throw new Error('cancelled by request');
        },
      });
      worker.start();
      const created = await t.api('/v1/jobs', { body: { type: 'remote-long' } });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'running',
        3000,
        'running',
      );
      await t.api(`/v1/jobs/${created.body.id}/cancel`, { method: 'POST' });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'cancelled',
        3000,
        'cancelled',
      );
      await worker.stop();
      assert.equal(aborted, true);
    });

    it('ends a queued job at once', async () => {
      await using t = await startNode({ jobTypes: ['nobody'] });
      const created = await t.api('/v1/jobs', { body: { type: 'nobody' } });
      const cancel = await t.api(`/v1/jobs/${created.body.id}/cancel`, { method: 'POST' });
      assert.equal(cancel.body.status, 'cancelled');
    });
  });

  describe('creation', () => {
    it('returns the same job for the same idempotency key', async () => {
      await using t = await startNode({ jobTypes: ['once'] });
      const headers = { 'idempotency-key': 'upload-77' };
      const a = await t.api('/v1/jobs', { body: { type: 'once', input: 1 }, headers });
      const b = await t.api('/v1/jobs', { body: { type: 'once', input: 1 }, headers });
      assert.equal(a.body.id, b.body.id);
      assert.equal(b.headers.get('idempotent-replayed'), 'true');
      const c = await t.api('/v1/jobs', { body: { type: 'once', input: 1 } });
      assert.notEqual(c.body.id, a.body.id);
    });

    it('refuses bad requests with stable codes and disturbs nothing else', async () => {
      await using t = await startNode({ jobTypes: ['ok'] });
      const cases: [string, Promise<{ status: number; body: any }>, number, string][] = [
        ['unknown type', t.api('/v1/jobs', { body: { type: 'mystery' } }), 400, 'unknown_job_type'],
        [
          'input too large',
          t.api('/v1/jobs', { body: { type: 'ok', input: 'x'.repeat(70_000) } }),
          413,
          'payload_too_large',
        ],
        ['size not an object', t.api('/v1/jobs', { body: { type: 'ok', size: 5 } }), 400, 'invalid_size_hint'],
        [
          'size with two measures',
          t.api('/v1/jobs', { body: { type: 'ok', size: { a: 1, b: 2 } } }),
          400,
          'invalid_size_hint',
        ],
        ['negative size', t.api('/v1/jobs', { body: { type: 'ok', size: { seconds: -3 } } }), 400, 'invalid_size_hint'],
        ['no such job', t.api('/v1/jobs/nope'), 404, 'not_found'],
        ['forged lease', t.api('/v1/jobs/nope/complete', { body: { lease: 'x' } }), 404, 'not_found'],
        [
          'publish to a job topic',
          t.api('/v1/topics/job:abc/messages', { body: { data: { type: 'job.succeeded' } } }),
          403,
          'reserved_topic',
        ],
      ];
      for (const [name, pending, status, code] of cases) {
        const res = await pending;
        assert.deepEqual([res.status, res.body.code], [status, code], name);
      }
      const created = await t.api('/v1/jobs', { body: { type: 'ok' } });
      const other = await t.api('/v1/jobs', { body: { type: 'ok' } });
      const stranger = await t.api(`/v1/jobs/${created.body.id}/cancel`, { method: 'POST', token: other.body.token });
      assert.equal(stranger.status, 403, "one job's token cannot cancel another");
      assert.equal(
        (await t.api(`/v1/jobs/${created.body.id}/complete`, { body: { lease: 'x' }, token: created.body.token }))
          .status,
        403,
      );
      assert.equal((await t.api(`/v1/jobs/${created.body.id}`)).body.status, 'queued');
    });
  });
});
