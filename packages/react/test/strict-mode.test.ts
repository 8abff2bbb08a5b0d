import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import type { Scope } from '@inloop/protocol';
import { startNode, tempDir, waitFor, type TestNode } from '@inloop/testing';

/**
 * A React 19 app in StrictMode (`app/`), built with Vite from the packages' sources in development
 * mode (where StrictMode mounts every effect twice), served from its own origin, against a real
 * node, driven in Debian's chromium.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const appDir = fileURLToPath(new URL('./app/', import.meta.url));
const everything: Scope[] = [
  { ops: ['subscribe', 'publish', 'history', 'presence'], topics: ['room:*', 'feed:*'] },
  { ops: ['subscribe', 'publish', 'history', 'presence'], topics: ['conv:*'] },
];
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

let t: TestNode;
let browser: Browser;
let web: Server;
let origin: string;
const out = tempDir('inloop-react-app-');

before(async () => {
  await build({
    root: appDir,
    mode: 'development',
    logLevel: 'warn',
    configFile: false,
    resolve: { conditions: ['source', 'module', 'browser', 'development|production'] },
    esbuild: { jsx: 'automatic' },
    define: { 'process.env.NODE_ENV': '"development"' },
    build: { outDir: out.path, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false },
  });
  web = createServer((req, res) => {
    const path = join(out.path, new URL(req.url!, 'http://x').pathname.replace(/\/$/, '/index.html'));
    readFile(path).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
  // A separate front-end origin: the node must list it.
  t = await startNode({ allowedOrigins: [origin], presenceFlushMs: 0 });
  t.node.jobs.handle('streamed', async (_job, ctx) => {
    const answer = ctx.stream('answer');
    await answer.append('Once upon a time');
    // Until stopped (the test's Stop button), a word now and then.
    for (let i = 0; i < 600 && !ctx.signal.aborted; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (i % 10 === 9 && !ctx.signal.aborted) await answer.append(' and then');
    }
    return null;
  });
  t.node.jobs.handle('quick', async (job) => {
    await new Promise((r) => setTimeout(r, Number((job.input as { ms?: number } | null)?.ms ?? 0)));
    return { ok: true };
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await t?.[Symbol.asyncDispose]();
  await new Promise((r) => web?.close(r));
  out.remove();
});

async function open(subject: string, scopes: Scope[] = everything, extra = ''): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const token = await t.token(subject, scopes);
  await page.goto(`${origin}/?node=${encodeURIComponent(t.url)}&token=${encodeURIComponent(token)}${extra}`);
  await page.waitForFunction(() => 'route' in window);
  Object.assign(page, { errors });
  return page;
}

/** Wait until an element matching `selector` is in the page (empty ones count: they are state). */
const seen = (page: Page, selector: string) => page.waitForSelector(selector, { state: 'attached', timeout: 10_000 });
const route = (page: Page, r: Record<string, string>) => page.evaluate((r) => (window as any).route(r), r);
const attr = (page: Page, selector: string, name: string) => page.getAttribute(selector, name);
const frames = (page: Page): Promise<Record<string, number>> => page.evaluate(() => ({ ...(window as any).frames }));

async function metric(name: string): Promise<number> {
  const text = (await t.api('/metrics')).body as string;
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

async function startJob(ms: number): Promise<string> {
  const created = await t.api('/v1/jobs', { body: { type: 'quick', input: { ms } } });
  return `${created.body.id}~${created.body.token}`;
}

describe('React hooks in StrictMode, in Chromium', () => {
  it('watches job after job to the end, though StrictMode subscribes, unsubscribes and subscribes each', async () => {
    const page = await open('ann');
    // Connected first, so StrictMode's extra mount and unmount reach the wire.
    await route(page, { name: 'feed-typing', topic: 'feed:jobs', typing: 'off' });
    await seen(page, '[data-feed="feed"][data-status="ready"]');
    const jobs = [await startJob(300), await startJob(300), await startJob(300)];
    await route(page, { name: 'jobs', jobs: jobs.join(',') });
    for (const j of jobs) {
      const id = j.split('~')[0]!;
      await seen(page, `[data-job="${id}"][data-done="true"]`);
      assert.equal(await attr(page, `[data-job="${id}"]`, 'data-error'), '');
      assert.equal(await attr(page, `[data-job="${id}"]`, 'data-status'), 'done');
    }
    await page.close();
  });

  it("streams a job's text through useStream, with one watch on the wire, and Stop ends it `stopped`", async () => {
    const page = await open('sky');
    await route(page, { name: 'feed-typing', topic: 'feed:stream', typing: 'off' });
    await seen(page, '[data-feed="feed"][data-status="ready"]');
    const created = await t.api('/v1/jobs', { body: { type: 'streamed', input: null } });
    const id = created.body.id as string;
    await route(page, { name: 'stream', job: `${id}~${created.body.token}` });
    await seen(page, `[data-stream="${id}"][data-status="ready"]`);
    await page.waitForFunction(() => document.querySelector('[data-text]')?.textContent?.includes('and then'));
    const f = await frames(page);
    assert.equal((f['stream.subscribe'] ?? 0) - (f['stream.unsubscribe'] ?? 0), 1, JSON.stringify(f));
    await page.getByRole('button', { name: 'Stop' }).click();
    await seen(page, `[data-stream="${id}"][data-status="done"][data-end="stopped"]`);
    const shown = await page.textContent('[data-text]');
    const read = await t.api(`/v1/jobs/${id}/streams/answer?from=0`);
    assert.equal(read.body.end, 'stopped');
    assert.equal(shown, read.body.text, 'the page shows the text the stream ended with');
    await waitFor(async () => (await t.api(`/v1/jobs/${id}`)).body.status === 'cancelled', 10_000, 'cancelled');
    await page.close();
  });

  it('settles a job that had finished before the hook ran', async () => {
    const job = await startJob(0);
    await waitFor(async () => (await t.api(`/v1/jobs/${job.split('~')[0]}`)).body.status === 'succeeded');
    const page = await open('ann');
    await route(page, { name: 'jobs', jobs: job });
    await seen(page, `[data-done="true"]`);
    await page.close();
  });

  it('lets two components use one topic without crashing, over one subscription', async () => {
    const page = await open('bob');
    await route(page, { name: 'two-feeds', topic: 'feed:two' });
    await seen(page, '[data-feed="two"][data-status="ready"]');
    await t.api('/v1/topics/feed:two/messages', { body: { data: 'hello' } });
    await seen(page, '[data-feed="one"][data-count="1"]');
    await seen(page, '[data-feed="two"][data-count="1"]');
    assert.equal((await frames(page)).subscribe, 1);
    assert.deepEqual((page as any).errors, []);
    await page.close();
  });

  it('keeps a topic feed alive when a typing indicator on the same topic unmounts', async () => {
    const page = await open('cy');
    await route(page, { name: 'feed-typing', topic: 'feed:typing', typing: 'on' });
    await seen(page, '[data-feed="feed"][data-status="ready"]');
    await route(page, { name: 'feed-typing', topic: 'feed:typing', typing: 'off' });
    await page.waitForFunction(() => !document.querySelector('[data-typing]'));
    await t.api('/v1/topics/feed:typing/messages', { body: { data: 'still here?' } });
    await seen(page, '[data-feed="feed"][data-count="1"]');
    assert.equal(await metric('inloop_subscriptions'), 1);
    await page.close();
  });

  it('loads a second view of a conversation opened after the first', async () => {
    const created = await t.api('/v1/conversations', { body: { id: 'support-1', members: ['dee', 'eve'] } });
    assert.ok(created.status < 300, JSON.stringify(created.body));
    const eve = t.client(await t.token('eve', everything));
    await eve.conversation('support-1').send('Hi Dee');
    const page = await open('dee');
    await route(page, { name: 'two-chats', id: 'support-1', second: 'off' });
    await seen(page, '[data-chat="badge"][data-ready="true"]');
    await route(page, { name: 'two-chats', id: 'support-1', second: 'on' });
    await seen(page, '[data-chat="page"][data-ready="true"][data-messages="1"]');
    await page.close();
  });

  it('reports refusals through the hooks, and a refused token through the connection', async () => {
    const page = await open('fay', [{ ops: ['subscribe'], topics: ['feed:*'] }]);
    await route(page, { name: 'errors', topic: 'room:secret', id: 'support-1' });
    await seen(page, '[data-feed="forbidden"][data-error="forbidden"]');
    await seen(page, '[data-presence][data-error="forbidden"]');
    await seen(page, '[data-chat="stranger"][data-status="error"]');
    await seen(page, '[data-typing][data-status="error"][data-error="forbidden"]');
    await page.close();

    const bad = await browser.newPage();
    await bad.goto(`${origin}/?node=${encodeURIComponent(t.url)}&token=not-a-token`);
    await bad.waitForFunction(() => 'route' in window);
    await route(bad, { name: 'two-feeds', topic: 'feed:x' });
    await seen(bad, '[data-connection="closed"][data-error="unauthorized"]');
    await seen(bad, '[data-feed="one"][data-error="unauthorized"]');
    await bad.close();
  });

  it('tells the hooks that the page’s origin is not allowed, and stops instead of retrying', async () => {
    await using other = await startNode({ allowedOrigins: ['https://elsewhere.example'] });
    const page = await browser.newPage();
    const token = await other.token('jo', everything);
    await page.goto(`${origin}/?node=${encodeURIComponent(other.url)}&token=${encodeURIComponent(token)}`);
    await page.waitForFunction(() => 'route' in window);
    await route(page, { name: 'two-feeds', topic: 'feed:x' });
    await seen(page, '[data-connection="closed"][data-error="origin_not_allowed"]');
    await seen(page, '[data-feed="one"][data-status="error"][data-error="origin_not_allowed"]');
    assert.equal(await page.evaluate(() => (window as any).sockets), 1);
    await page.close();
  });

  it('replays history to a component with `since` that joins a topic another one already holds', async () => {
    let first: { epoch: string; offset: number } | undefined;
    for (let i = 1; i <= 5; i++) {
      const sent = await t.api('/v1/topics/feed:late/messages', { body: { data: i } });
      first ??= sent.body;
    }
    const page = await open('kim');
    await route(page, { name: 'late-since', topic: 'feed:late' });
    await seen(page, '[data-feed="live"][data-status="ready"]');
    await route(page, { name: 'late-since', topic: 'feed:late', since: `${first!.epoch}:${first!.offset + 1}` });
    const o = first!.offset;
    await seen(page, `[data-feed="late"][data-status="ready"][data-offsets="${[o + 2, o + 3, o + 4].join(',')}"]`);
    await t.api('/v1/topics/feed:late/messages', { body: { data: 6 } });
    await seen(page, `[data-feed="late"][data-offsets="${[o + 2, o + 3, o + 4, o + 5].join(',')}"]`);
    await seen(page, `[data-feed="live"][data-offsets="${o + 5}"]`);
    assert.equal(await attr(page, '[data-feed="late"]', 'data-resets'), '0');
    await page.close();
  });

  it('shows only the new topic’s publications after the topic changes', async () => {
    const page = await open('lou');
    await route(page, { name: 'feed-typing', topic: 'feed:first', typing: 'off' });
    await seen(page, '[data-feed="feed"][data-status="ready"]');
    await t.api('/v1/topics/feed:first/messages', { body: { data: 'old' } });
    await seen(page, '[data-feed="feed"][data-count="1"]');
    await route(page, { name: 'feed-typing', topic: 'feed:second', typing: 'off' });
    await seen(page, '[data-feed="feed"][data-topic="feed:second"][data-status="ready"][data-count="0"]');
    await t.api('/v1/topics/feed:second/messages', { body: { data: 'new' } });
    await seen(page, '[data-feed="feed"][data-topic="feed:second"][data-count="1"]');
    await page.close();
  });

  it('tells a component that publications since its position are gone for good', async () => {
    const page = await open('max');
    await route(page, { name: 'since', topic: 'feed:reset', since: 'an-old-epoch:3' });
    await seen(page, '[data-feed="feed"][data-status="ready"][data-resets="1"]');
    await page.close();
  });

  it('leaves connections, subscriptions and frames balanced after 20 route changes', async () => {
    const page = await open('gus');
    await route(page, { name: 'room', topic: 'room:lobby' });
    await seen(page, '[data-feed="room"][data-status="ready"]');
    const connections = await metric('inloop_connections');
    const subscriptions = await metric('inloop_subscriptions');
    for (let i = 0; i < 20; i++) {
      await route(page, i % 2 ? { name: 'room', topic: 'room:lobby' } : { name: 'two-feeds', topic: `feed:r${i % 4}` });
      await seen(page, i % 2 ? '[data-feed="room"][data-status="ready"]' : '[data-feed="two"][data-status="ready"]');
    }
    await route(page, { name: 'room', topic: 'room:lobby' });
    await seen(page, '[data-feed="room"][data-status="ready"]');
    await waitFor(async () => (await metric('inloop_subscriptions')) === subscriptions, 5000, 'subscriptions back');
    assert.equal(await metric('inloop_connections'), connections);
    const f = await frames(page);
    const live = 1;
    assert.equal(f.subscribe, (f.unsubscribe ?? 0) + live, JSON.stringify(f));
    console.log(`frames for 21 route changes in StrictMode: ${JSON.stringify(f)}`);
    await page.close();
  });

  it('shows another member one join per visit', async () => {
    const watcher = t.client(await t.token('hal', everything));
    const view = watcher.presence('room:visits', { join: false });
    let joins = 0;
    view.on('join', (m) => m.id === 'ivy' && joins++);
    const page = await open('ivy', everything, '&grace=200');
    for (let visit = 0; visit < 3; visit++) {
      await route(page, { name: 'room', topic: 'room:visits' });
      await waitFor(() => view.members.has('ivy'), 5000, 'ivy here');
      await route(page, { name: 'home' });
      await waitFor(() => !view.members.has('ivy'), 5000, 'ivy gone');
    }
    assert.equal(joins, 3);
    await page.close();
  });
});
