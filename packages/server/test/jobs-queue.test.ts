import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sleep, startNode, type TestNode } from './helpers.js';

const RUN_MS = 200;

/** A remote HTTP worker that serves one job at a time, each taking about RUN_MS, until stopped. */
function remoteWorker(t: TestNode, type: string): { stop: () => Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const leased = await t.api('/v1/workers/lease', { body: { types: [type], worker: 'w1', waitMs: 200 } });
      if (leased.status !== 200) continue;
      await sleep(RUN_MS);
      await t.api(`/v1/jobs/${leased.body.job.id}/complete`, {
        body: { lease: leased.body.lease.token, result: null },
      });
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function finished(t: TestNode, id: string): Promise<any> {
  for (let i = 0; i < 400; i++) {
    const job = (await t.api(`/v1/jobs/${id}`)).body;
    if (job.status === 'succeeded') return job;
    await sleep(20);
  }
  throw new Error(`job ${id} did not finish`);
}

describe('the wait in line', () => {
  describe('when jobs queue behind each other for one remote worker', () => {
    it('tells each its place and expected start, includes the wait in the ETA, and the promises hold', async () => {
      await using t = await startNode({ jobTypes: ['render'] });
      const worker = remoteWorker(t, 'render');
      // Warm up: the node learns how long a run takes, and that one runs at a time.
      for (let i = 0; i < 12; i++) await finished(t, (await t.api('/v1/jobs', { body: { type: 'render' } })).body.id);

      const running = (await t.api('/v1/jobs', { body: { type: 'render' } })).body;
      for (let i = 0; i < 50 && (await t.api(`/v1/jobs/${running.id}`)).body.status !== 'running'; i++) await sleep(5);
      const created: any[] = [];
      for (let i = 0; i < 3; i++) created.push((await t.api('/v1/jobs', { body: { type: 'render' } })).body);

      assert.deepEqual(
        created.map((c) => c.queue?.position),
        [1, 2, 3],
        'each new job is told its place behind the running one',
      );
      const third = created[2];
      assert.ok(
        third.queue.startsInMs > 2 * RUN_MS * 0.8,
        `the third waits for about three runs: ${third.queue.startsInMs} ms`,
      );
      assert.ok(third.eta.remainingMs > third.queue.startsInMs, 'its time left is the wait and then the run');
      assert.ok(third.eta.remainingP90Ms >= third.eta.remainingMs);

      const watched = (await t.api(`/v1/jobs/${third.id}`)).body;
      assert.equal(watched.status, 'queued');
      assert.ok(
        watched.queue.position >= 1 && watched.queue.position <= 3,
        'its place is in its state for watchers too',
      );

      for (const job of created) {
        const done = await finished(t, job.id);
        const promisedStart = job.createdAt + job.queue.startsInMs;
        const slack = Math.max(RUN_MS, job.queue.startsInMs / 2);
        assert.ok(
          Math.abs(done.startedAt - promisedStart) <= slack,
          `started ${done.startedAt - job.createdAt} ms after creation, promised ${job.queue.startsInMs} ms`,
        );
        assert.ok(
          done.finishedAt - job.createdAt <= job.eta.remainingP90Ms + RUN_MS,
          `done ${done.finishedAt - job.createdAt} ms after creation, promised by ${job.eta.remainingP90Ms} ms`,
        );
      }
      await worker.stop();

      const type = await t.api('/v1/job-types/render');
      assert.equal(type.status, 200);
      assert.equal(type.body.type, 'render');
      assert.ok(type.body.calibration.runs >= 12, 'the calibration counts every finished run');
      assert.ok(type.body.calibration.p90Coverage > 0 && type.body.calibration.p90Coverage <= 1);
      assert.ok(type.body.model.fixedMs > RUN_MS * 0.8, `the model learned the run: ${type.body.model.fixedMs} ms`);
      assert.equal(type.body.line.concurrency, 1, 'one job ran at a time');
      assert.equal((await t.api('/v1/job-types/nope')).status, 404);
      const openapi = (await t.api('/openapi.json')).body;
      assert.ok(openapi.paths['/v1/job-types/{type}']?.get, 'the endpoint is in the OpenAPI document');
      const metrics = (await t.api('/metrics')).body as string;
      assert.match(metrics, /inloop_job_eta_p90_coverage_ratio\{type="render"\} [0-9.]+/);
      assert.match(metrics, /inloop_job_eta_p50_error_ratio\{type="render"\} [0-9.]+/);
    });
  });
});
