import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startRedis, type TestRedis } from '@inloop/testing';
import { startNode, waitFor } from './helpers.js';

/** Two nodes on a redis-server of the test's own. */
describe('what a cluster learns of a job type', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.[Symbol.asyncDispose]();
  });

  it('reaches a node that read the type before the runs on another node: its promises and its stats follow', async () => {
    const shared = { redis: redis.url, redisPrefix: `learn${randomBytes(3).toString('hex')}` };
    await using a = await startNode(shared);
    await using b = await startNode(shared);
    a.node.jobs.handle('transcribe', async () => {
      await new Promise((r) => setTimeout(r, 30));
      return null;
    });
    b.node.jobs.define('transcribe');
    // Node b reads the type while nothing has run: the default.
    const cold = (await b.api('/v1/job-types/transcribe')).body;
    assert.equal(cold.estimate.source, 'default');

    for (let i = 0; i < 3; i++) {
      const { id } = (await a.api('/v1/jobs', { body: { type: 'transcribe' } })).body;
      await waitFor(async () => (await a.api(`/v1/jobs/${id}`)).body.status === 'succeeded', 10_000, 'a run on a');
    }
    assert.equal((await a.api('/v1/job-types/transcribe')).body.estimate.source, 'history');
    // Node b learns them from the shared store within a few seconds, not never.
    await waitFor(
      async () => (await b.api('/v1/job-types/transcribe')).body.estimate.source === 'history',
      10_000,
      "node b's estimate from the runs on node a",
    );
    const created = (await b.api('/v1/jobs', { body: { type: 'transcribe' } })).body;
    assert.equal(created.eta.basis.source, 'history');
    assert.ok(created.eta.p50Ms < 5000, `promised ${created.eta.p50Ms} ms for a 30 ms job`);
  });
});
