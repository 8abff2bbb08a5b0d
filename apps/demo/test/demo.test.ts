import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launch, startDemo, type Demo } from './browser.js';

/**
 * The demo in a real browser: Debian's chromium driven by playwright-core, against the demo
 * server (`apps/demo/dist/server/main.js`, built by `npm run build`) on a loopback port with a
 * fresh SQLite directory. Screenshots go to `test-output/screenshots/`.
 */
const shots = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

let browser: Browser;
let demo: Demo;
let url: string;

before(async () => {
  mkdirSync(shots, { recursive: true });
  // Short books: pages drawn small, each taking a steady 1.2 s (see apps/demo/server/illustrate.ts).
  demo = await startDemo({ DEMO_PRINT_SCALE: '0.25', DEMO_PAGE_MS: '1200' });
  url = demo.url;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await demo?.[Symbol.asyncDispose]();
});

async function open(path: string, name: string, context?: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
  const ctx = context ?? (await browser.newContext({ viewport: { width: 1100, height: 900 } }));
  const page = await ctx.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message));
  await page.goto(`${url}${path}${path.includes('?') ? '&' : '?'}name=${encodeURIComponent(name)}`);
  return page;
}

describe('the demo in a browser', () => {
  it('story book: stages and pages arrive while the game plays, then Continue opens the book', async () => {
    const page = await open('/story.html', 'Mia');
    await page.getByLabel("Hero's name").fill('Luna');
    await page.getByLabel('The hero is a').selectOption('owl');
    await page.getByLabel('What happens?').fill('flies to the moon to bring back a fallen star');
    await page.getByLabel('Pages', { exact: true }).selectOption('3');
    await page.getByRole('button', { name: 'Write my book' }).click();

    // Long job: the engage strategy puts the waiting game under the status line.
    const game = page.locator('inloop-waiting-game');
    await game.waitFor({ timeout: 10_000 });
    const continueButton = page.locator('inloop-job-wait button.continue');
    assert.equal(await continueButton.isDisabled(), true, 'Continue is there, not yet lit');
    // The compact status line names the current stage of the plan: "2 of 3: Writing and drawing".
    const stage = page.locator('inloop-job-progress [data-stage]');
    await stage.first().waitFor({ timeout: 10_000 });
    assert.match((await stage.first().textContent())!, /of 3: (Planning the story|Writing and drawing)/);
    await page.locator('inloop-job-progress figure img').first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: `${shots}story-waiting.png` });

    // Play a round by keyboard: focus the first answer and press Enter.
    await game.locator('button[data-choice]').first().focus();
    await page.keyboard.press('Enter');
    await game.locator('p.score').filter({ hasText: 'of 1' }).waitFor({ timeout: 5000 });

    await page.locator('inloop-job-wait button.continue:not([disabled])').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('inloop-job-progress figure').count(), 3, 'every page arrived as a partial result');
    await page.screenshot({ path: `${shots}story-done.png` });
    await continueButton.click();
    const book = page.locator('section.book');
    await book.waitFor();
    assert.match((await book.locator('article p').first().textContent())!, /Luna/);
    await page.getByRole('button', { name: 'Next page →' }).click();
    await book.locator('article[data-page="2"]').waitFor();
    await page.screenshot({ path: `${shots}story-book.png`, fullPage: true });
    await page.context().close();
  });

  it('opaque work: estimated progress moves and never reaches 100 % before the end', async () => {
    const page = await open('/opaque.html', 'Olga');
    await page.getByRole('button', { name: 'Derive a key', exact: true }).click();
    const bar = page.locator('inloop-job-progress [role="progressbar"]');
    await bar.waitFor();
    const seen: number[] = [];
    let estimated = false;
    for (let i = 0; i < 600; i++) {
      // One reading of the element, taken at once: read in separate calls, the job could end
      // between them, and a bar already at 100 % because the job had succeeded (its result not
      // yet on the page) would count as a reading taken while it ran.
      const reading = await page.locator('inloop-job-progress').evaluate((el) => {
        const root = el.shadowRoot ?? el;
        return {
          now: Number(root.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')),
          finished: root.querySelector('[data-outcome]') !== null,
          estimated: root.querySelector('[data-kind="estimated"]') !== null,
        };
      });
      if (reading.finished) break;
      seen.push(reading.now);
      if (reading.estimated) estimated = true;
      if (i === 6) await page.screenshot({ path: `${shots}opaque-running.png` });
      await page.waitForTimeout(100);
    }
    await page.locator('[data-result]').waitFor({ timeout: 60_000 });
    const before = seen.filter((v) => !Number.isNaN(v));
    assert.ok(estimated, 'the bar says it is an estimate');
    assert.ok(before.length > 5, `${before.length} readings while it ran`);
    assert.ok(Math.max(...before) < 100, `never 100 % before the end (max ${Math.max(...before)})`);
    assert.ok(Math.max(...before) > Math.min(...before), 'the estimate moved');
    for (let i = 1; i < before.length; i++) assert.ok(before[i]! >= before[i - 1]!, 'and never went backwards');
    assert.equal(await bar.getAttribute('aria-valuenow'), '100');
    await page.screenshot({ path: `${shots}opaque-done.png` });
    await page.context().close();
  });

  it('chat in two browsers: presence, typing, ticks from sent to delivered to read, and the bot answers', async () => {
    const ana = await open('/chat.html', 'Ana');
    const bob = await open('/chat.html', 'Bob');
    // Presence: each sees the other and the bot.
    for (const page of [ana, bob]) {
      await page.locator('inloop-presence [data-occupancy="3"]').waitFor({ timeout: 10_000 });
    }
    // Typing appears at the other side, and goes when the message is sent.
    await ana.getByPlaceholder('Say something…').pressSequentially('I feel a bit nervous', { delay: 20 });
    await bob.locator('inloop-typing span', { hasText: 'Ana is typing' }).waitFor({ timeout: 5000 });
    await ana.screenshot({ path: `${shots}chat-typing.png` });
    await ana.keyboard.press('Enter');
    const mine = ana.locator('li.mine', { hasText: 'I feel a bit nervous' });
    await mine.waitFor();
    await bob.locator('li.theirs', { hasText: 'I feel a bit nervous' }).waitFor({ timeout: 5000 });
    await bob.locator('inloop-typing span[data-typing=""]').waitFor({ state: 'attached', timeout: 5000 });
    // Ticks: Bob's page delivers and reads; the bot reads too. Read by both: the blue ticks.
    await mine.locator('inloop-receipt [data-state="read"]').waitFor({ timeout: 10_000 });
    // The bot typed, streamed, and answered with its own words about Ana's.
    await ana.locator('li.theirs[data-from="eliza"]', { hasText: /nervous/ }).waitFor({ timeout: 20_000 });
    await ana.screenshot({ path: `${shots}chat-ana.png` });
    await bob.screenshot({ path: `${shots}chat-bob.png` });
    // Keyboard only: Bob answers with Tab and Enter.
    await bob.getByPlaceholder('Say something…').focus();
    await bob.keyboard.type('Hi Ana!');
    await bob.keyboard.press('Enter');
    await ana.locator('li.theirs', { hasText: 'Hi Ana!' }).waitFor({ timeout: 5000 });
    await ana.context().close();
    await bob.context().close();
  });

  it('offline in the middle of a job: nothing is missing afterwards', async () => {
    const page = await open('/story.html', 'Otto');
    await page.getByLabel('Pages', { exact: true }).selectOption('6');
    await page.getByRole('button', { name: 'Write my book' }).click();
    await page.locator('inloop-job-progress figure img').first().waitFor({ timeout: 20_000 });
    await page.context().setOffline(true);
    await page.waitForTimeout(4000);
    await page.context().setOffline(false);
    await page.locator('inloop-job-wait button.continue:not([disabled])').waitFor({ timeout: 90_000 });
    const pages = await page.locator('inloop-job-progress figure figcaption').allTextContents();
    assert.deepEqual(pages, ['Page 1', 'Page 2', 'Page 3', 'Page 4', 'Page 5', 'Page 6']);
    await page.context().close();
  });

  it('live reactions: taps in the audience float up on the presenter screen', async () => {
    const presenter = await open('/reactions.html?role=presenter', 'Pat');
    const audience = await open('/reactions.html', 'Ada');
    await presenter.locator('[data-audience="1"]').waitFor({ timeout: 10_000 });
    for (let i = 0; i < 3; i++) await audience.getByRole('button', { name: 'React ❤️' }).click();
    await audience.getByRole('button', { name: 'React 🎉' }).click();
    await presenter.locator('[data-total="4"]').waitFor({ timeout: 5000 });
    assert.ok((await presenter.locator('.float').count()) >= 1, 'reactions float on the stage');
    await presenter.screenshot({ path: `${shots}reactions-presenter.png` });
    await audience.screenshot({ path: `${shots}reactions-audience.png` });
    await presenter.context().close();
    await audience.context().close();
  });
});
