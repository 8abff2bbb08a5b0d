import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launch, startDemo, type Demo } from './browser.js';

/**
 * Streamed text in the demo, in Debian's chromium against the built demo server (`npm run
 * build`) on a loopback port with a fresh SQLite directory: the story book's words as they are
 * written, and the bot's answers, through a reload and a stop from another tab. The bot writes a
 * word every 800 ms here (`DEMO_BOT_WORD_MS`), so there is time to reload in the middle.
 */
const shots = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

let browser: Browser;
let demo: Demo;
let url: string;

before(async () => {
  mkdirSync(shots, { recursive: true });
  demo = await startDemo({
    DEMO_BOT_WORD_MS: '800',
    // Small prints drawn in a steady 2.5 s a page, so a loaded machine does not stretch the book.
    DEMO_PRINT_SCALE: '0.25',
    DEMO_PAGE_MS: '2500',
  });
  url = demo.url;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await demo?.[Symbol.asyncDispose]();
});

async function open(path: string, name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message));
  await page.goto(`${url}${path}${path.includes('?') ? '&' : '?'}name=${encodeURIComponent(name)}`);
  return page;
}

/** The text and status of the first `<inloop-stream-text>` matching `selector` (null while there is none). */
const shown = (page: Page, selector: string) =>
  page.evaluate((s) => {
    const el = document.querySelector(s) as (HTMLElement & { text: string }) | null;
    return el ? { text: el.text, status: el.getAttribute('status') } : null;
  }, selector);

/** Wait until `test` holds for what the stream element shows; returns it. */
async function until(
  page: Page,
  selector: string,
  test: (s: { text: string; status: string | null }) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<{ text: string; status: string | null }> {
  for (let i = 0; i < timeoutMs / 100; i++) {
    const s = await shown(page, selector);
    if (s && test(s)) return s;
    await page.waitForTimeout(100);
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await shown(page, selector))}`);
}

describe('streamed text in the demo', () => {
  it('story book: the words appear while the pages are drawn, and a reload shows the same text and carries on', async () => {
    const page = await open('/story.html', 'Sam');
    await page.getByLabel("Hero's name").fill('Hoot');
    await page.getByLabel('What happens?').fill('an owl who loses her glasses and finds them on the moon');
    await page.getByLabel('Pages', { exact: true }).selectOption('3');
    await page.getByRole('button', { name: 'Write my book' }).click();
    const story = 'inloop-stream-text[data-stream="story"]';
    const early = await until(page, story, (s) => s.text.length > 20, 'the first words');
    // Words come before the first picture is done: the text streams, it does not land per page.
    const grown = await until(page, story, (s) => s.text.length > early.text.length, 'more words');
    assert.ok(grown.text.startsWith(early.text));
    assert.equal(grown.status, 'streaming');
    await page.screenshot({ path: `${shots}story-streaming.png` });

    await page.reload();
    const back = await until(page, story, (s) => s.text.length >= grown.text.length, 'the text after the reload');
    assert.ok(back.text.startsWith(grown.text), 'the same text after the reload');
    const done = await until(page, story, (s) => s.status === 'finished', 'the end of the story', 300_000);
    assert.ok(done.text.startsWith(back.text), 'and it carried on from there');
    assert.match(done.text, /\bowl\b/);
    assert.match(done.text, /\bglasses\b/);
    assert.match(done.text, /\bon the moon\b/);

    // Exactly the book's pages, once each: the stream is the text of the finished book.
    const pages = await page.evaluate(async () => {
      const id = new URL(location.href).searchParams.get('job');
      const { token } = JSON.parse(sessionStorage.getItem(`inloop-demo-job:${id}`)!) as { token: string };
      const res = await fetch(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
      const snapshot = (await res.json()) as { result: { pages: { text: string }[] } };
      return snapshot.result.pages.map((p) => p.text);
    });
    assert.equal(pages.length, 3);
    assert.equal(done.text, pages.join('\n\n'));
    await page.context().close();
  });

  it('story book: Stop writing ends the words `stopped` where they were, and the job with them', async () => {
    const page = await open('/story.html', 'Stu');
    await page.getByLabel('Pages', { exact: true }).selectOption('6');
    await page.getByRole('button', { name: 'Write my book' }).click();
    const story = 'inloop-stream-text[data-stream="story"]';
    await until(page, story, (s) => s.text.length > 20, 'the first words');
    await page.getByRole('button', { name: 'Stop writing' }).click();
    const stopped = await until(page, story, (s) => s.status === 'stopped', 'the stop');
    await page.locator('inloop-stream-text[status="stopped"]').getByText('Stopped.', { exact: true }).waitFor();
    const status = await page.evaluate(async () => {
      const id = new URL(location.href).searchParams.get('job');
      const { token } = JSON.parse(sessionStorage.getItem(`inloop-demo-job:${id}`)!) as { token: string };
      const headers = { authorization: `Bearer ${token}` };
      // The job ends once its handler sees the stop (after the page being drawn).
      let job = { status: '' };
      for (let i = 0; i < 150 && job.status !== 'cancelled'; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        job = (await (await fetch(`/v1/jobs/${id}`, { headers })).json()) as { status: string };
      }
      const text = (await (await fetch(`/v1/jobs/${id}/streams/story`, { headers })).json()) as { text: string };
      return { job: job.status, text: text.text };
    });
    assert.equal(status.text, stopped.text, 'the page shows what the node kept');
    assert.equal(status.job, 'cancelled');
    // The way back to the form says so, not a success's Continue.
    await page.locator('inloop-job-wait').getByRole('button', { name: 'Back', exact: true }).waitFor();
    await page.context().close();
  });

  it('story book: Stop writing on a job still in line cancels it at once', async () => {
    // Two books take both of the story workers, so a third waits in line.
    const busy: Page[] = [];
    for (const name of ['Uma', 'Vic']) {
      const p = await open('/story.html', name);
      await p.getByLabel('Pages', { exact: true }).selectOption('6');
      await p.getByRole('button', { name: 'Write my book' }).click();
      await until(p, 'inloop-stream-text[data-stream="story"]', (s) => s.text.length > 0, `${name}'s first words`);
      busy.push(p);
    }
    const page = await open('/story.html', 'Wes');
    await page.getByLabel('Pages', { exact: true }).selectOption('3');
    await page.getByRole('button', { name: 'Write my book' }).click();
    const waitEl = page.locator('inloop-job-wait');
    await waitEl.waitFor();
    const statusOf = () =>
      page.evaluate(
        () =>
          (document.querySelector('inloop-job-wait') as unknown as { snapshot?: { status: string } }).snapshot?.status,
      );
    for (let i = 0; i < 50 && (await statusOf()) !== 'queued'; i++) await page.waitForTimeout(100);
    assert.equal(await statusOf(), 'queued', 'the third book waits in line');
    await page.getByRole('button', { name: 'Stop writing' }).click();
    await until(page, 'inloop-stream-text[data-stream="story"]', (s) => s.status === 'stopped', 'the stop');
    const job = await page.evaluate(async () => {
      const id = new URL(location.href).searchParams.get('job');
      const { token } = JSON.parse(sessionStorage.getItem(`inloop-demo-job:${id}`)!) as { token: string };
      const res = await fetch(`/v1/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
      return (await res.json()) as { status: string; startedAt: number | null };
    });
    assert.deepEqual([job.status, job.startedAt], ['cancelled', null], 'cancelled before it started');
    assert.equal(await page.getByRole('button', { name: 'Stop writing' }).isVisible(), false, 'Stop is gone');
    for (const p of busy) {
      await p.getByRole('button', { name: 'Stop writing' }).click();
      await p.context().close();
    }
    await page.context().close();
  });

  it('chat: a reload mid-answer shows the same text and carries on, and Stop from another tab ends it `stopped`', async () => {
    const ana = await open('/chat.html', 'Ana');
    const bob = await open('/chat.html', 'Bob');
    for (const page of [ana, bob]) {
      await page.locator('inloop-presence [data-occupancy="3"]').waitFor({ timeout: 10_000 });
    }
    await ana.getByPlaceholder('Say something…').fill('I am worried about my exams and my family');
    await ana.keyboard.press('Enter');
    const draft = 'li.draft[data-draft="eliza"] inloop-stream-text';
    const before = await until(ana, draft, (s) => s.text.includes(' '), 'the first words of the answer');
    await ana.reload();
    const after = await until(ana, draft, (s) => s.text.length > before.text.length, 'the answer after the reload');
    assert.ok(after.text.startsWith(before.text), `the same text after the reload: ${before.text} / ${after.text}`);
    assert.equal(after.status, 'streaming');

    // Ana's page records every status its stream element goes through (the draft is replaced by
    // the message right after it ends).
    await ana.evaluate(() => {
      const seen: string[] = [];
      Object.assign(window, { statuses: seen });
      new MutationObserver((records) => {
        for (const r of records) {
          const el = r.target as HTMLElement;
          if (el.localName === 'inloop-stream-text') seen.push(`${el.getAttribute('status')}:${(el as any).text}`);
        }
      }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['status'] });
    });
    await bob.locator('li.draft[data-draft="eliza"] button.stop').click();
    await ana.waitForFunction(() => (window as any).statuses.some((s: string) => s.startsWith('stopped:')), null, {
      timeout: 10_000,
    });
    const stoppedText = (
      await ana.evaluate(() => (window as any).statuses.find((s: string) => s.startsWith('stopped:')))
    ).slice('stopped:'.length) as string;
    assert.ok(stoppedText.startsWith(after.text));
    // The bot heard it and sent what it had written, no more.
    const message = ana.locator('li.theirs[data-from="eliza"] .text').last();
    await ana.locator('li.draft').waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal(await message.textContent(), stoppedText);
    await ana.screenshot({ path: `${shots}chat-stopped.png` });
    await ana.context().close();
    await bob.context().close();
  });
});
