import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startRedis, type TestRedis } from '@inloop/testing';
import { startNode, waitFor } from './helpers.js';
import { gatedJobs } from './console-jobs.js';
import { axeViolations, jobsLive, launch, listReads, signedIn } from './console-browser.js';

/** Two nodes on a redis-server of the test's own: the console of one shows the work of the other. */
describe('the console on a two-node cluster', () => {
  let browser: Browser;
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await redis?.[Symbol.asyncDispose]();
  });

  it('shows a job run on one node on the console of the other, and both nodes', async () => {
    const shared = { redis: redis.url, redisPrefix: `console${randomBytes(3).toString('hex')}` };
    await using a = await startNode(shared);
    await using b = await startNode(shared);
    const release = gatedJobs(a.node, 'render');
    b.node.jobs.define('render');

    let reads!: ReturnType<typeof listReads>;
    const page = await signedIn(browser, b.url, b.node.apiKey, (p) => (reads = listReads(p)));
    await jobsLive(page, reads);
    const before = reads.started;
    const { id } = (await a.api('/v1/jobs', { body: { type: 'render' } })).body;
    const row = page.locator(`tr[data-job="${id}"]`);
    await waitFor(async () => (await row.getAttribute('data-status').catch(() => null)) === 'running', 15_000, 'row');
    // Node a's changes reached node b's Jobs page by the stream, not by a read of the list.
    assert.equal(reads.started, before);

    await row.getByRole('link', { name: id }).click();
    const timeline = page.locator('table.timeline');
    await timeline.getByRole('cell', { name: 'job.stage' }).waitFor();
    release();
    await timeline.getByRole('cell', { name: 'job.succeeded' }).waitFor();
    // On a cluster the job's record is saved just after its terminal event: a read between the two
    // shows the event with the status before it, and the page's next read (at most 5 s) the rest.
    await page
      .getByTestId('job-status')
      .filter({ hasText: /^succeeded$/ })
      .waitFor({ timeout: 15_000 });

    await page.getByRole('link', { name: 'Nodes', exact: true }).click();
    for (const t of [a, b]) await page.locator(`tr[data-node="${t.node.nodeId}"]`).waitFor();
    assert.equal(await page.locator('table.nodes tbody tr').count(), 2);
    assert.deepEqual(await axeViolations(page), []);
  });

  it('shows on the Types page of one node a type only the other defines, with its runs', async () => {
    const shared = { redis: redis.url, redisPrefix: `console${randomBytes(3).toString('hex')}` };
    await using a = await startNode(shared);
    await using b = await startNode(shared);
    a.node.jobs.handle('alpha', async () => null);
    const { id } = (await a.api('/v1/jobs', { body: { type: 'alpha' } })).body;
    await waitFor(async () => (await b.api(`/v1/jobs/${id}`)).body.status === 'succeeded', 10_000, 'the run');
    const page = await signedIn(browser, b.url, b.node.apiKey);
    await page.goto(`${b.url}/console#/types/alpha`);
    await page.locator('ic-chart#durations').getByText('Durations of the last 1 run').waitFor({ timeout: 15_000 });
    // Listed once node a's report with the type is on the board (posted every 5 s).
    await page.getByRole('link', { name: 'alpha', exact: true }).waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole('alert').count(), 0);
  });

  it('marks on the Nodes page a node that stopped reporting, with the age of its last report', async () => {
    const prefix = `console${randomBytes(3).toString('hex')}`;
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
    // A node killed 12 s ago: its last report is still on the board (it drops out after 20 s).
    const own = (await a.api('/v1/console/nodes')).body.nodes[0];
    const at = Date.now() - 12_000;
    const report = { ...own, node: 'killed', at, series: [], topics: [], presence: [], cadenceMs: 1000 };
    await redis.cli('HSET', `${prefix}:console:nodes`, 'killed', `${at} ${JSON.stringify(report)}`);
    const page = await signedIn(browser, a.url, a.node.apiKey);
    await page.getByRole('link', { name: 'Nodes', exact: true }).click();
    const killed = page.locator('tr[data-node="killed"]');
    await killed.waitFor();
    assert.equal(await killed.getByTestId('node-health').textContent(), 'not reporting');
    assert.match((await killed.getByTestId('node-report-age').textContent())!, /^1\d(\.\d)? s ago$/);
    const self = page.locator(`tr[data-node="${a.node.nodeId}"]`);
    assert.equal(await self.getByTestId('node-health').textContent(), 'ready');
    assert.deepEqual(await axeViolations(page), []);
  });

  it('lists jobs from Redis newest first, page by page, on any node', async () => {
    const shared = { redis: redis.url, redisPrefix: `console${randomBytes(3).toString('hex')}` };
    await using a = await startNode(shared);
    await using b = await startNode(shared);
    a.node.jobs.define('waits');
    b.node.jobs.define('waits');
    a.node.jobs.define('other');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await (i % 2 ? b : a).api('/v1/jobs', { body: { type: 'waits' } })).body.id);
    await a.api('/v1/jobs', { body: { type: 'other' } });
    const seen: string[] = [];
    let cursor = '';
    for (let page = 0; page < 6; page++) {
      const r = await b.api(`/v1/jobs?type=waits&status=queued&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200);
      seen.push(...r.body.jobs.map((j: { id: string }) => j.id));
      if (!r.body.next) break;
      cursor = r.body.next;
    }
    assert.deepEqual(seen, [...ids].sort().reverse());
    assert.equal((await b.api('/v1/jobs?status=succeeded')).body.jobs.length, 0);
  });
});
