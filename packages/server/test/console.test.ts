import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startNode, waitFor } from './helpers.js';
import { gatedJobs } from './console-jobs.js';
import { axeViolations, jobsLive, launch, listReads, signedIn } from './console-browser.js';

/** The console in Chromium against a real node (SQLite in a temp dir) on a loopback port. */
describe('the console in a browser', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  it('refuses to sign in without a key of the node, and keeps the key out of the URL', async () => {
    await using t = await startNode();
    const page = await (await browser.newContext({ bypassCSP: true })).newPage();
    await page.goto(`${t.url}/console`);
    const key = page.getByLabel('API key or admin token');
    await key.fill('not-a-key-of-this-node');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Refused' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.getByRole('navigation', { name: 'Console' }).count(), 0);
    assert.deepEqual(await axeViolations(page), []);

    const reader = await t.token('ann', [{ ops: ['job:read'], topics: ['*'] }]);
    await key.fill(reader);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitFor(async () => (await page.getByRole('alert').textContent())?.includes('Refused'));
    assert.equal(await page.getByRole('navigation', { name: 'Console' }).count(), 0);

    await key.fill(t.node.apiKey);
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Console' }).waitFor();
    assert.ok(!page.url().includes(t.node.apiKey));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('inloop.console.key')), t.node.apiKey);
  });

  it('lists a job created after the page opened and moves its row as it runs, by the stream alone', async () => {
    await using t = await startNode();
    const release = gatedJobs(t.node, 'render');
    let reads!: ReturnType<typeof listReads>;
    const page = await signedIn(browser, t.url, t.node.apiKey, (p) => (reads = listReads(p)));
    await jobsLive(page, reads);
    const before = reads.started;
    await page.getByText('No jobs match.').waitFor();

    const { id } = (await t.api('/v1/jobs', { body: { type: 'render' } })).body;
    const row = page.locator(`tr[data-job="${id}"]`);
    await waitFor(
      async () => (await row.getAttribute('data-status').catch(() => null)) === 'running',
      10_000,
      'running',
    );
    assert.equal(await row.getByRole('cell', { name: 'draft' }).count(), 1);
    release();
    await waitFor(async () => (await row.getAttribute('data-status')) === 'succeeded', 10_000, 'succeeded');
    assert.equal(await page.getByText('No jobs match.').count(), 0);
    // The new type joined the filter without a reload.
    assert.equal(await page.getByLabel('Type').locator('option', { hasText: 'render' }).count(), 1);
    // None of it came from reading the list again.
    assert.equal(reads.started, before);
    assert.deepEqual(await axeViolations(page), []);
  });

  it('shows a running job live, fills its page as events arrive, and Cancel ends it', async () => {
    await using t = await startNode({ cadenceMs: 500 });
    const steps: (() => void)[] = [];
    const step = () => new Promise<void>((r) => steps.push(r));
    t.node.jobs.handle('render', async (_job, ctx) => {
      await ctx.stage('draft', { weight: 1 });
      await step();
      await ctx.partial({ frame: 1 });
      await ctx.stage('polish', { weight: 1 });
      await new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('cancelled'))));
    });
    const page = await signedIn(browser, t.url, t.node.apiKey);
    const { id } = (await t.api('/v1/jobs', { body: { type: 'render', input: { scene: 1 } } })).body;
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    await waitFor(async () => (await row.getAttribute('data-status')) === 'running', 10_000, 'the row to say running');
    assert.deepEqual(await axeViolations(page), []);

    await row.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    const timeline = page.locator('table.timeline');
    await timeline.getByRole('cell', { name: 'job.started' }).waitFor();
    assert.equal(await timeline.getByRole('cell', { name: 'job.partial' }).count(), 0);
    await waitFor(() => steps.length === 1, 5000, 'the handler to wait');
    steps[0]!();
    // Arrives over the job's event stream, without a reload.
    await timeline.getByRole('cell', { name: 'job.partial' }).waitFor();
    await page.locator('ol.partials').getByText('{"frame":1}').waitFor();
    await timeline.getByRole('cell', { name: 'polish' }).first().waitFor();
    assert.deepEqual(await axeViolations(page), []);

    const retry = page.getByRole('button', { name: 'Retry' });
    assert.equal(await retry.isDisabled(), true);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await waitFor(
      async () => (await page.getByTestId('job-status').textContent()) === 'cancelled',
      10_000,
      'cancelled',
    );
    await timeline.getByRole('cell', { name: 'job.cancelled' }).waitFor();
    assert.equal((await t.api(`/v1/jobs/${id}`)).body.status, 'cancelled');
    assert.equal(await retry.isDisabled(), false);
  });

  it('Retry pressed twice starts one job, and the page then shows and follows the new job', async () => {
    await using t = await startNode();
    t.node.jobs.define('remote');
    const { id } = (await t.api('/v1/jobs', { body: { type: 'remote', input: { n: 1 } } })).body;
    await t.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    const page = await signedIn(browser, t.url, t.node.apiKey);
    await page.goto(`${t.url}/console#/jobs/${id}`);
    await waitFor(async () => (await page.getByTestId('job-status').textContent()) === 'cancelled', 10_000, 'ended');

    await page.getByRole('button', { name: 'Retry' }).dblclick();
    const heading = page.getByRole('heading', { level: 1 });
    await waitFor(async () => (await heading.textContent()) !== `Job ${id}`, 10_000, 'the new job’s page');
    const created = (await t.api('/v1/jobs?type=remote&status=queued')).body.jobs as { id: string }[];
    assert.equal(created.length, 1, 'one job for two presses');
    const next = created[0]!.id;
    assert.equal(await heading.textContent(), `Job ${next}`);
    await waitFor(async () => (await page.getByTestId('job-status').textContent()) === 'queued', 10_000, 'queued');
    // The page follows the new job's events: a worker takes it, and the page says running.
    const lease = await t.api('/v1/workers/lease', { body: { types: ['remote'], waitMs: 0 } });
    assert.equal(lease.body.job.id, next);
    await waitFor(async () => (await page.getByTestId('job-status').textContent()) === 'running', 10_000, 'running');
    await page.locator('table.timeline').getByRole('cell', { name: 'job.started' }).waitFor();
  });

  it('shows a message on its own timeline row, not on the later stage rows', async () => {
    await using t = await startNode();
    t.node.jobs.handle('render', async (_job, ctx) => {
      await ctx.stage('draft', { weight: 1 });
      await ctx.message('drafting page 1');
      await ctx.stage('polish', { weight: 1 });
      return { ok: true };
    });
    const { id } = (await t.api('/v1/jobs', { body: { type: 'render' } })).body;
    await waitFor(async () => (await t.api(`/v1/jobs/${id}`)).body.status === 'succeeded', 10_000, 'the run');
    const page = await signedIn(browser, t.url, t.node.apiKey);
    await page.goto(`${t.url}/console#/jobs/${id}`);
    const rows = page.locator('table.timeline tbody tr');
    await rows.filter({ hasText: 'job.succeeded' }).waitFor();
    const withMessage = await rows.filter({ hasText: 'drafting page 1' }).allTextContents();
    assert.equal(withMessage.length, 1, withMessage.join(' | '));
    assert.match(withMessage[0]!, /job\.message/);
  });

  it('moves focus to the page heading after sign-in, after opening a job and after Cancel', async () => {
    await using t = await startNode();
    t.node.jobs.define('remote');
    const { id } = (await t.api('/v1/jobs', { body: { type: 'remote' } })).body;
    const page = await signedIn(browser, t.url, t.node.apiKey);
    const focused = () =>
      page.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent}`);
    await waitFor(async () => (await focused()) === 'H1 Jobs', 5000, 'the Jobs heading focused after sign-in');
    await page.locator(`tr[data-job="${id}"]`).getByRole('link', { name: id }).click();
    await waitFor(async () => (await focused()) === `H1 Job ${id}`, 5000, 'the job heading focused');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await waitFor(async () => (await page.getByTestId('job-status').textContent()) === 'cancelled', 10_000, 'ended');
    assert.equal(await focused(), `H1 Job ${id}`);
  });

  it('can be worked with the keyboard alone: a filter, a job’s link, Cancel', async () => {
    await using t = await startNode();
    t.node.jobs.define('remote');
    t.node.jobs.define('other');
    const { id } = (await t.api('/v1/jobs', { body: { type: 'remote' } })).body;
    const other = (await t.api('/v1/jobs', { body: { type: 'other' } })).body.id;
    const page = await signedIn(browser, t.url, t.node.apiKey);
    const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    const tabTo = async (what: string, check: () => Promise<boolean>) => {
      for (let i = 0; i < 40 && !(await check()); i++) await page.keyboard.press('Tab');
      assert.ok(await check(), `Tab never reached ${what}`);
    };
    await page.locator(`tr[data-job="${other}"]`).waitFor();
    await tabTo('the type filter', () => page.getByLabel('Type').evaluate((el) => el === document.activeElement));
    await page.keyboard.press('ArrowDown');
    await waitFor(async () => (await page.locator('tr[data-job]').count()) === 1, 5000, 'the list filtered');
    assert.equal(await page.locator(`tr[data-job="${id}"]`).count(), 1);
    await tabTo('the job’s link', async () => (await focused()) === id);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    await tabTo('Cancel', async () => (await focused()) === 'Cancel');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await page.getByTestId('job-status').textContent()) === 'cancelled', 10_000, 'ended');
  });

  it('says in the page why Cancel was refused, and moves focus to that message', async () => {
    await using t = await startNode();
    t.node.jobs.define('remote');
    const { id } = (await t.api('/v1/jobs', { body: { type: 'remote' } })).body;
    const admin = await t.token('ops', [{ ops: ['admin'], topics: ['console'] }]);
    const page = await signedIn(browser, t.url, admin);
    await page.goto(`${t.url}/console#/jobs/${id}`);
    await waitFor(async () => (await page.getByTestId('job-status').textContent()) === 'queued', 10_000, 'queued');
    await page.getByRole('button', { name: 'Cancel' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Cancel refused' });
    await alert.waitFor();
    assert.equal(await alert.evaluate((el) => el === document.activeElement), true);
    assert.equal((await t.api(`/v1/jobs/${id}`)).body.status, 'queued');
    assert.deepEqual(await axeViolations(page), []);
  });

  it('says plainly on a fresh node that the budget has measured no watcher yet, chart by chart', async () => {
    await using t = await startNode();
    const page = await signedIn(browser, t.url, t.node.apiKey);
    await page.getByRole('link', { name: 'Budget', exact: true }).click();
    const summary = page.getByTestId('budget-summary');
    await summary.waitFor();
    assert.match((await summary.textContent())!.replace(/\s+/g, ' '), /Over 1 node: no job watcher measured yet\./);
    const charts = page.locator('ic-chart');
    for (const [label, empty] of [
      ['Longest silence per watcher', 'No watcher has left a job’s stream yet.'],
      ['Gaps between updates', 'No update has reached a job watcher yet.'],
      ['First event after the 202', 'No watcher who came with the 202 yet.'],
    ] as const)
      await charts.filter({ hasText: label }).getByText(empty).waitFor();
    assert.equal(await page.locator('ic-chart canvas').count(), 0);
    const text = (await page.locator('main').textContent())!;
    assert.doesNotMatch(text, /NaN|undefined|–/);
    assert.deepEqual(await axeViolations(page), []);
  });

  it('says "no runs yet" on a type without runs, and gives each chart its numbers as a table', async () => {
    await using t = await startNode();
    t.node.jobs.define('never');
    t.node.jobs.handle('once', async () => null);
    await t.api('/v1/jobs', { body: { type: 'once' } });
    await waitFor(async () => (await t.api('/v1/job-types/once/stats')).body.recent.length === 1, 10_000, 'one run');
    const page = await signedIn(browser, t.url, t.node.apiKey);
    await page.goto(`${t.url}/console#/types/never`);
    await page.getByRole('heading', { name: 'never', level: 2 }).waitFor();
    const charts = page.locator('ic-chart');
    for (const label of ['Durations of the last 0 runs', 'Wait in line', 'ETA calibration'])
      await charts.filter({ hasText: label }).getByText('No runs yet.').waitFor();
    const said = (await page.getByTestId('type-calibration').textContent())!.replace(/\s+/g, ' ');
    assert.match(said, /No run checked against its promise on this node yet/);
    assert.doesNotMatch(said, /0 runs checked/);
    assert.deepEqual(await axeViolations(page), []);

    await page.goto(`${t.url}/console#/types/once`);
    const durations = page.locator('ic-chart#durations');
    await durations.getByText('Durations of the last 1 run').waitFor();
    const table = durations.getByRole('table');
    assert.match((await table.getAttribute('aria-label'))!, /p50 .*p90/);
    assert.equal(await table.locator('tbody tr').count(), 20);
    const wait = charts.filter({ hasText: 'Wait in line' }).getByRole('table');
    assert.equal(await wait.locator('tbody tr').count(), 1);
    await charts.getByText('Throughput and failures per 5 s').waitFor();
    assert.deepEqual(await axeViolations(page), []);

    // Cut-offs have a chart of their own, not a line beside the refusals.
    await page.getByRole('link', { name: 'Topics & people', exact: true }).click();
    await page.locator('ic-chart#slow-consumers').getByText('Slow-consumer cut-offs per 5 s').waitFor();
    await page.locator('ic-chart#rate-limited').getByText('Rate-limit refusals per 5 s').waitFor();
    assert.equal(await page.locator('ic-chart#slow-consumers th[scope="col"]').count(), 2);
  });

  it('draws the types page with a histogram after a few runs, and every page passes axe', async () => {
    await using t = await startNode();
    t.node.jobs.handle('quick', async () => null);
    t.node.jobs.define('other');
    for (let i = 0; i < 4; i++) await t.api('/v1/jobs', { body: { type: 'quick' } });
    await waitFor(async () => (await t.api('/v1/job-types/quick/stats')).body.durations.samples === 4);
    const page = await signedIn(browser, t.url, t.node.apiKey);
    assert.deepEqual(await axeViolations(page), [], 'jobs');

    await page.getByRole('link', { name: 'Types' }).click();
    await page.getByRole('link', { name: 'quick' }).click();
    const histogram = page.locator('ic-chart#durations');
    await histogram.getByText('Durations of the last 4 runs').waitFor();
    await histogram.locator('canvas').waitFor();
    assert.match((await histogram.getByRole('img').getAttribute('aria-label'))!, /p50 .*p90/);
    assert.deepEqual(await axeViolations(page), [], 'types');

    for (const [link, heading] of [
      ['Budget', 'Interactivity budget'],
      ['Topics & people', 'Topics and people'],
      ['Nodes', 'Nodes'],
    ] as const) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.locator('main p, main table').first().waitFor();
      assert.deepEqual(await axeViolations(page), [], link);
    }
    // Keyboard: the navigation is reachable and followed with Tab and Enter.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();

    // A location no page answers.
    await page.goto(`${t.url}/console#/nowhere`);
    await page.getByRole('heading', { name: 'Not found', level: 1 }).waitFor();
    assert.deepEqual(await axeViolations(page), [], 'not found');
  });
});
