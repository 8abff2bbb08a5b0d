import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDemo, type Demo } from './browser.js';

/**
 * The story book's handler stops when its stream is stopped, even in the middle of drawing a page.
 * The built demo server (`npm run build`) draws each page for 10 minutes here (`DEMO_PAGE_MS`) and
 * gives a job that ignores a cancel 10 minutes too (`INLOOP_JOB_CANCEL_GRACE_MS`, and a 10-minute
 * lease), so the job can only end `cancelled` during the test if the handler itself returned on
 * `ctx.signal`.
 */
let demo: Demo;
let url: string;

before(async () => {
  demo = await startDemo({
    DEMO_PRINT_SCALE: '0.25',
    DEMO_PAGE_MS: '600000',
    INLOOP_JOB_CANCEL_GRACE_MS: '600000',
    // A handler that ignores the stop stops renewing its lease; the node would end it when the lease lapses.
    INLOOP_JOB_LEASE_MS: '600000',
  });
  url = demo.url;
});

after(async () => {
  await demo?.[Symbol.asyncDispose]();
});

async function call(path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('the story book', () => {
  it('returns on Stop writing while a page is still being drawn, so the job ends cancelled', async () => {
    const session = await fetch(`${url}/demo/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Stopper' }),
    });
    const visitor = ((await session.json()) as { token: string }).token;
    const created = await call('/v1/jobs', visitor, { type: 'story.book', input: { hero: 'Pip', pages: 3 } });
    assert.ok(created.status < 300, JSON.stringify(created.body));
    const { id, token } = created.body as { id: string; token: string };
    // The first page's words stream in while its picture is being drawn (for 10 minutes).
    let text = '';
    for (let i = 0; i < 300 && text.length < 20; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const read = await call(`/v1/jobs/${id}/streams/story`, token);
      if (read.status === 200) text = read.body.text as string;
    }
    assert.ok(text.length >= 20, 'the first words were written');
    const stop = await call(`/v1/jobs/${id}/streams/story/stop`, token, {});
    assert.deepEqual([stop.status, stop.body.end], [200, 'stopped']);
    let status = '';
    for (let i = 0; i < 300 && status !== 'cancelled'; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      status = (await call(`/v1/jobs/${id}`, token)).body.status as string;
    }
    assert.equal(status, 'cancelled', 'the handler returned on the stop, mid-drawing');
  });
});
