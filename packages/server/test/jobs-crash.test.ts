import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWorker } from '@inloop/worker';
import { createNode } from '@inloop/server';
import { exited, freePort, readSse, spawnFixture, spawnNode, startNode, tempDir, waitFor } from './helpers.js';

const TERMINAL = ['job.succeeded', 'job.failed', 'job.cancelled'];
type Event = { event: string; id?: string; data: any };

describe('jobs under failure', () => {
  describe('when a worker process dies mid-job', () => {
    it(
      'lets the lease lapse, retries the job on another worker, and shows the watcher one terminal event',
      { timeout: 60_000 },
      async () => {
        await using t = await startNode({ jobTypes: ['crunch'], jobLeaseMs: 1500 });
        const doomed = spawnFixture('slow-worker.ts', [t.url, t.node.apiKey, 'crunch']);
        const created = await t.api('/v1/jobs', { body: { type: 'crunch', input: 7 } });
        const watching = readSse(await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`));
        await waitFor(
          () => doomed.output().includes(`leased ${created.body.id}`),
          20_000,
          'the doomed worker to take the job',
        );
        doomed.child.kill('SIGKILL');
        const rescuer = createWorker({
          url: t.url,
          apiKey: t.node.apiKey,
          types: ['crunch'],
          waitMs: 1000,
          handler: async (job) => (job.input as number) * 6,
        });
        rescuer.start();
        const events = await watching;
        await rescuer.stop();
        assert.equal(events.filter((e) => TERMINAL.includes(e.event)).length, 1);
        const last = events.at(-1)!.data.job;
        assert.deepEqual([last.status, last.result, last.attempt], ['succeeded', 42, 2]);
        const retry = events.find((e) => e.event === 'job.retrying')!;
        assert.match(retry.data.retry.reason, /stopped responding/);
      },
    );
  });

  describe('when the node is killed with SIGKILL while jobs run', () => {
    it('loses no job, and contradicts no event a watcher already saw', { timeout: 90_000 }, async () => {
      const dir = tempDir();
      const port = await freePort();
      const env = {
        PORT: String(port),
        INLOOP_HOST: '127.0.0.1',
        INLOOP_DATA_DIR: dir.path,
        INLOOP_JOB_TYPES: 'crunch',
        INLOOP_JOB_LEASE_MS: '2000',
      };
      let node = await spawnNode(env);
      const apiKey = (await import('node:fs')).readFileSync(`${dir.path}/api-key`, 'utf8').trim();
      const api = async (path: string, body?: unknown) => {
        const res = await fetch(node.url + path, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return (await res.json()) as any;
      };
      const worker = createWorker({
        url: node.url,
        apiKey,
        types: ['crunch'],
        concurrency: 4,
        waitMs: 1000,
        heartbeatMs: 300,
        handler: async (job, ctx) => {
          for (let i = 1; i <= 4; i++) {
            await new Promise((r) => setTimeout(r, 100));
            await ctx.progress(i / 4);
          }
          return (job.input as number) * 2;
        },
      });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await api('/v1/jobs', { type: 'crunch', input: i })).id);
      // Watch a few jobs and keep what they saw before the crash.
      const seen = new Map<string, Event[]>();
      for (const id of ids.slice(0, 8)) {
        const events: Event[] = [];
        seen.set(id, events);
        void fetch(`${node.url}/v1/jobs/${id}/stream`, { headers: { authorization: `Bearer ${apiKey}` } })
          .then((res) => readSse(res, (e) => (events.splice(0, events.length, ...e), false)))
          .catch(() => {});
      }
      worker.start();
      await waitFor(
        async () =>
          (await Promise.all(ids.map((id) => api(`/v1/jobs/${id}`)))).filter((j) => j.status === 'succeeded').length >=
          4,
        20_000,
        'some jobs to finish',
      );
      node.child.kill('SIGKILL');
      await exited(node.child);
      node = await spawnNode(env);
      try {
        await waitFor(
          async () =>
            (await Promise.all(ids.map((id) => api(`/v1/jobs/${id}`)))).every((j) =>
              TERMINAL.includes(`job.${j.status}`),
            ),
          60_000,
          'every job to finish',
        );
        for (const [i, id] of ids.entries()) {
          const job = await api(`/v1/jobs/${id}`);
          assert.equal(job.status, 'succeeded', `job ${i}`);
          assert.equal(job.result, i * 2);
          const history = (await api(`/v1/topics/job:${id}/messages?after=0&limit=1000`)).messages as {
            offset: number;
            data: any;
          }[];
          assert.equal(
            history.filter((m) => TERMINAL.includes(m.data.type)).length,
            1,
            `job ${i}: exactly one terminal event`,
          );
          // What a watcher saw before the crash is exactly what history still says.
          for (const e of seen.get(id)?.filter((x) => x.id) ?? []) {
            const offset = Number(e.id!.split(':')[1]);
            const stored = history.find((m) => m.offset === offset);
            assert.ok(stored, `job ${i}: offset ${offset} vanished`);
            assert.equal(stored.data.type, e.event, `job ${i}: offset ${offset} changed`);
          }
        }
      } finally {
        await worker.stop();
        node.child.kill('SIGTERM');
        await exited(node.child);
        dir.remove();
      }
    });

    it(
      'retries a job that was running in the killed process when the node comes back',
      { timeout: 60_000 },
      async () => {
        const dir = tempDir();
        const port = await freePort();
        const first = spawnFixture('handler-node.ts', [dir.path, String(port)]);
        await waitFor(() => first.output().includes('ready'), 20_000, 'the node');
        const url = `http://127.0.0.1:${port}`;
        const headers = { authorization: 'Bearer test-api-key-0123456789', 'content-type': 'application/json' };
        const created = (await (
          await fetch(`${url}/v1/jobs`, { method: 'POST', headers, body: '{"type":"render"}' })
        ).json()) as { id: string };
        await waitFor(
          async () => {
            const job = (await (await fetch(`${url}/v1/jobs/${created.id}`, { headers })).json()) as {
              stage: { name: string } | null;
            };
            return job.stage?.name === 'draw';
          },
          10_000,
          'the handler to report',
        );
        first.child.kill('SIGKILL');
        await exited(first.child);

        await using node = await createNode({
          dataDir: dir.path,
          port,
          host: '127.0.0.1',
          apiKey: 'test-api-key-0123456789',
          processMetrics: false,
        });
        node.jobs.handle('render', async () => 'rendered');
        await node.listen();
        await waitFor(
          async () => (await node.jobs.service.get(created.id))?.status === 'succeeded',
          10_000,
          'the retry',
        );
        const job = (await node.jobs.service.snapshot(created.id))!;
        assert.equal(job.attempt, 2);
        assert.equal(job.result, 'rendered');
        await node.close();
        dir.remove();
      },
    );
  });
});
