import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  artifacts,
  axeViolations,
  focused,
  launch,
  openPage,
  shot,
  startDemo,
  takeCls,
  VIEWPORTS,
  type Viewport,
} from './browser.js';

/**
 * The demo's layout, keyboard and accessibility promises in Chromium, at a phone's and a laptop's
 * size: nothing the player may press moves, Continue is in view and on top at the end without
 * scrolling, the game follows the keyboard, a reload resumes the job, and axe-core finds nothing
 * on any page before, during or after a job. Each flow gets a fresh demo server, so the story book
 * starts from its configured ETA (40 s, the engage strategy) while the real job is short.
 */
let browser: Browser;

before(async () => {
  browser = await launch();
  console.log(`screenshots: ${artifacts}`);
});

after(async () => {
  await browser?.close();
});

async function noViolations(page: Page, where: string): Promise<void> {
  const found = await axeViolations(page);
  assert.deepEqual(found, [], `axe-core on ${where}`);
}

/** Where the things a player presses are, in viewport pixels. */
async function targets(page: Page): Promise<{ answer: number[]; next: number[]; strip: number }> {
  return page.evaluate(() => {
    const wait = document.querySelector('inloop-job-wait')!.shadowRoot!;
    const game = wait.querySelector('inloop-waiting-game')!.shadowRoot!;
    const progress = wait.querySelector('inloop-job-progress')!.shadowRoot!;
    const box = (el: Element | null) => {
      const r = el!.getBoundingClientRect();
      return [Math.round(r.left), Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)];
    };
    return {
      answer: box(game.querySelector('button[data-choice]')),
      next: box(wait.querySelector('button.continue')),
      strip: Math.round(progress.querySelector('.strip')!.getBoundingClientRect().height),
    };
  });
}

/** Continue at the end: on screen without scrolling, and the element under its own centre. */
async function continueOnTop(page: Page): Promise<{ hit: boolean; inView: boolean; scrollY: number }> {
  return page.evaluate(() => {
    const button = document.querySelector('inloop-job-wait')!.shadowRoot!.querySelector('button.continue')!;
    const r = button.getBoundingClientRect();
    const x = r.left + r.width / 2;
    const y = r.top + r.height / 2;
    let el: Element | null = document.elementFromPoint(x, y);
    for (let depth = 0; el?.shadowRoot && depth < 10; depth++) {
      const inner = el.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === el) break;
      el = inner;
    }
    const inView = r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
    return { hit: el === button, inView, scrollY };
  });
}

/**
 * The story box keeps its newest words in view while the reader is at the end, and leaves a reader
 * who scrolled up where they are until they scroll back down. Needs a story still being written.
 */
async function storyBoxFollowsTheEnd(page: Page): Promise<void> {
  const box = page.locator('.story-scroll');
  // Read after a frame, when the words that just arrived have been laid out and followed.
  const state = () =>
    box.evaluate(async (el) => {
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      return {
        top: el.scrollTop,
        atEnd: el.scrollTop + el.clientHeight >= el.scrollHeight - 2,
        length: (el.querySelector('inloop-stream-text') as unknown as { text: string }).text.length,
      };
    });
  // Enough words for new lines (about 40 characters to a line at phone size), so the box had to follow.
  const grown = async (from: number, by: number): Promise<void> => {
    for (let i = 0; i < 100 && (await state()).length < from + by; i++) await page.waitForTimeout(100);
    assert.ok((await state()).length >= from + by, 'the story went on being written');
  };
  for (let i = 0; i < 100 && !(await box.evaluate((el) => el.scrollTop > 0)); i++) await page.waitForTimeout(100);
  assert.equal((await state()).atEnd, true, 'the box outgrew itself and shows its newest words');
  await box.evaluate((el) => (el.scrollTop = 0));
  await grown((await state()).length, 90);
  assert.equal((await state()).top, 0, 'a reader who scrolled up stays where they are');
  await box.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await grown((await state()).length, 60);
  assert.equal((await state()).atEnd, true, 'back at the end, the box follows the newest words again');
}

async function storyFlow(viewport: Viewport): Promise<void> {
  await using demo = await startDemo();
  const page = await openPage(browser, viewport);
  const name = `name=${viewport.name === 'phone' ? 'Mia' : 'Max'}`;

  await page.goto(`${demo.url}/?${name}`);
  await page.locator('h1').waitFor();
  await shot(page, 'index', viewport);
  await noViolations(page, `the landing page at ${viewport.name} size`);
  const headerHeight = await page.locator('header.top').evaluate((el) => el.getBoundingClientRect().height);
  assert.ok(headerHeight < 60, `the header is one line (${headerHeight} px)`);

  await page.goto(`${demo.url}/story.html?${name}`);
  await page.getByRole('button', { name: 'Write my book' }).waitFor();
  await shot(page, 'story-form', viewport);
  await noViolations(page, `the story form at ${viewport.name} size`);

  await page.getByLabel("Hero's name").fill('Luna');
  await page.getByLabel('The hero is a').selectOption('owl');
  await page.getByLabel('Pages', { exact: true }).selectOption('6');
  // Keyboard only from here: Enter on the button, then the game.
  await page.getByRole('button', { name: 'Write my book' }).focus();
  await takeCls(page);
  await page.keyboard.press('Enter');

  const game = page.locator('inloop-waiting-game');
  await game.locator('button[data-choice]').first().waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('h1').textContent(), 'Story book', 'the page keeps its h1 while the job runs');
  assert.equal(await page.locator('inloop-job-wait button.continue').isDisabled(), true, 'Continue waits, in place');
  await page.waitForFunction(() => new URL(location.href).searchParams.has('job'));
  // Focus went from "Write my book" to the game's first answer.
  for (let i = 0; i < 50 && (await focused(page)) !== 'button[data-choice]'; i++) await page.waitForTimeout(100);
  assert.equal(await focused(page), 'button[data-choice]', 'focus is on the first answer after Write my book');

  // A round by the number keys, then the next one without a Tab.
  const first = await targets(page);
  await page.keyboard.press('1');
  await game.locator('p.score', { hasText: 'of 1' }).waitFor({ timeout: 5000 });
  assert.equal(await focused(page), 'button[data-choice]', 'focus stays in the game after an answer');
  await game.locator('p.feedback', { hasText: 'Who is this?' }).waitFor({ timeout: 5000 });
  assert.equal(
    await game
      .locator('button[data-choice]')
      .first()
      .evaluate((b) => b.matches(':focus')),
    true,
    "the next round's first answer has focus",
  );
  await page.keyboard.press('2');
  await game.locator('p.score', { hasText: 'of 2' }).waitFor({ timeout: 5000 });

  await page.locator('inloop-job-progress figure.thumb img').first().waitFor({ timeout: 30_000 });
  // The words appear while the pictures are drawn: the story box's first lines are on screen
  // without scrolling (at 1366x768 the box started under the fold).
  const words = await page.locator('.story-scroll').evaluate((el) => {
    const r = el.getBoundingClientRect();
    const line = parseFloat(getComputedStyle(el).lineHeight) || 24;
    return { top: Math.round(r.top), seen: r.top >= 0 && r.top + 2 * line <= innerHeight, scrollY };
  });
  assert.deepEqual([words.seen, words.scrollY], [true, 0], `the story's words are in view: ${JSON.stringify(words)}`);
  await shot(page, 'story-running', viewport);
  await noViolations(page, `the story book while the job runs at ${viewport.name} size`);

  // Until Continue lights up, nothing the player may press moves, and the page strip keeps its height.
  const lit = page.locator('inloop-job-wait button.continue:not([disabled])');
  for (let i = 0; i < 240 && (await lit.count()) === 0; i++) {
    assert.deepEqual(await targets(page), first, 'the answers, Continue and the page strip stay where they are');
    await page.waitForTimeout(500);
  }
  await lit.waitFor({ timeout: 5000 });
  console.log(`[${viewport.name}] ${await page.locator('inloop-job-progress [data-outcome]').textContent()}`);
  assert.deepEqual(await targets(page), first, 'and when the job ends');
  assert.equal(await page.locator('inloop-job-progress figure.thumb').count(), 6, 'every page arrived');
  const end = await continueOnTop(page);
  assert.deepEqual(end, { hit: true, inView: true, scrollY: 0 }, 'Continue is in view and on top, without scrolling');
  // The whole page, the story text streamed into its scrolling box included.
  const { cls, shifts } = await takeCls(page);
  console.log(`[${viewport.name}] CLS ${cls.toFixed(4)}`);
  assert.ok(cls < 0.05, `Cumulative Layout Shift over the job ${cls.toFixed(4)}: ${shifts.join('; ')}`);
  await shot(page, 'story-done', viewport);
  await noViolations(page, `the story book when the job is done at ${viewport.name} size`);
  const contrast = await page.locator('inloop-job-progress [data-outcome="succeeded"]').evaluate((el) => {
    const rgb = (c: string) => c.match(/\d+/g)!.slice(0, 3).map(Number);
    const lum = (c: number[]) => {
      const [r, g, b] = c.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    return (lum([255, 255, 255]) + 0.05) / (lum(rgb(getComputedStyle(el).color)) + 0.05);
  });
  assert.ok(contrast >= 4.5, `"Done in" contrast ${contrast.toFixed(2)}:1`);

  await lit.click();
  await page.locator('section.book').waitFor();
  await readTheBook(page, viewport);
  await page.context().close();
}

/**
 * The finished book, read page by page with the keyboard: the picture, the words and the page
 * buttons are in view together without scrolling, Next stays where it is whatever the length of
 * the page's words, and the keyboard stays on a page button at the last page (Next is disabled there).
 */
async function readTheBook(page: Page, viewport: Viewport): Promise<void> {
  const layout = () =>
    page.evaluate(() => {
      const box = (el: Element | null) => {
        const r = el!.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height };
      };
      const [back, next] = [...document.querySelectorAll('.page-nav button')];
      return {
        scrollY,
        innerHeight,
        innerWidth,
        picture: box(document.querySelector('.page-picture')),
        words: box(document.querySelector('.page-words .words')),
        next: box(next!),
        back: box(back!),
        page: document.querySelector('article[data-page]')!.getAttribute('data-page'),
        focus: document.activeElement?.textContent?.trim() ?? '',
      };
    });
  const inView = (
    r: { top: number; bottom: number; left: number; right: number },
    l: { innerHeight: number; innerWidth: number },
  ) => r.top >= 0 && r.left >= 0 && r.bottom <= l.innerHeight && r.right <= l.innerWidth;
  const first = await layout();
  assert.equal(first.scrollY, 0, 'the book opens at its top');
  assert.ok(first.picture.height > 100, `the picture holds its size: ${first.picture.height} px`);
  for (const part of ['picture', 'words', 'next', 'back'] as const) {
    assert.ok(inView(first[part], first), `${part} in view at ${viewport.name} size: ${JSON.stringify(first[part])}`);
  }
  assert.equal(first.focus, 'Next page →', 'the keyboard is on Next page');
  await shot(page, 'story-book', viewport);
  await noViolations(page, `the finished book at ${viewport.name} size`);
  const pages = await page.locator('.page-words .sizer').count();
  for (let n = 2; n <= pages; n++) {
    await page.keyboard.press('Enter');
    await page.locator(`article[data-page="${n}"]`).waitFor({ timeout: 2000 });
    const now = await layout();
    assert.deepEqual([now.next, now.back], [first.next, first.back], `Back and Next stay put on page ${n}`);
    assert.ok(inView(now.words, now), `the words of page ${n} are in view`);
  }
  assert.equal((await layout()).focus, '← Back', 'at the last page the keyboard is on Back, not lost');
  await shot(page, 'story-book-last', viewport);
  // Past the disabled Next to "Write another": the form comes back with the keyboard in its first field.
  await page.keyboard.press('Tab');
  assert.equal((await layout()).focus, 'Write another');
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Write my book' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'hero', 'the keyboard is in the form');
}

describe('the demo keeps its layout, keyboard and accessibility promises', () => {
  for (const viewport of VIEWPORTS) {
    it(`story book at ${viewport.width}x${viewport.height}: nothing moves, the game follows the keyboard, Continue is on top at the end`, () =>
      storyFlow(viewport));
  }

  it('a reload mid-job resumes the story book and the opaque work, which can be cancelled', async () => {
    await using demo = await startDemo();
    const viewport = VIEWPORTS[0];
    const page = await openPage(browser, viewport);
    await page.goto(`${demo.url}/story.html?name=Rita`);
    await page.getByLabel('Pages', { exact: true }).selectOption('6');
    await page.getByRole('button', { name: 'Write my book' }).click();
    await storyBoxFollowsTheEnd(page);
    await page.locator('inloop-job-progress figure.thumb').first().waitFor({ timeout: 30_000 });
    const job = new URL(page.url()).searchParams.get('job');
    assert.ok(job, 'the job id is in the URL');
    await page.reload();
    assert.equal(new URL(page.url()).searchParams.get('job'), job, 'the reload keeps the job');
    await page.locator('inloop-job-progress figure.thumb').first().waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('form').count(), 0, 'the form does not come back');
    // The keyboard is back in the game: a number key answers without a Tab first.
    for (let i = 0; i < 50 && (await focused(page)) !== 'button[data-choice]'; i++) await page.waitForTimeout(100);
    assert.equal(await focused(page), 'button[data-choice]', 'focus is on the first answer after the reload');
    await page.locator('inloop-job-wait button.continue:not([disabled])').waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('inloop-job-progress figure.thumb').count(), 6, 'every page, none twice');

    await page.goto(`${demo.url}/opaque.html?name=Rita`);
    await page.getByRole('button', { name: 'Derive a key, extra hard' }).waitFor();
    await shot(page, 'opaque-form', viewport);
    await noViolations(page, 'the opaque page before a job');
    await page.getByRole('button', { name: 'Derive a key, extra hard' }).click();
    const bar = page.locator('inloop-job-progress [role="progressbar"]');
    await page.locator('inloop-job-progress [data-eta]').waitFor({ timeout: 10_000 });
    // Between the node's updates (every few seconds) the estimate moves on with the local clock.
    const seen = new Set<string>();
    for (let i = 0; i < 15; i++) {
      seen.add((await bar.getAttribute('aria-valuenow')) ?? '');
      await page.waitForTimeout(200);
    }
    assert.ok(seen.size >= 3, `the bar moved between updates: ${[...seen].join(', ')}`);
    await shot(page, 'opaque-running', viewport);
    await noViolations(page, 'the opaque page while a job runs');
    const running = new URL(page.url()).searchParams.get('job');
    assert.ok(running, 'the job id is in the URL');
    await page.reload();
    await page.locator('inloop-job-progress [data-eta]').waitFor({ timeout: 10_000 });
    assert.equal(new URL(page.url()).searchParams.get('job'), running, 'the reload picked the job up again');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('inloop-job-progress [data-outcome="cancelled"]').waitFor({ timeout: 30_000 });
    await shot(page, 'opaque-cancelled', viewport);
    await noViolations(page, 'the opaque page after a cancelled job');
    await page.context().close();
  });

  it('while a book waits in line on a phone, its label and its place in line are both readable', async () => {
    await using demo = await startDemo();
    // Two books take both of the story workers, so a third waits in line.
    const busy: Page[] = [];
    for (const name of ['Uma', 'Vic']) {
      const p = await openPage(browser, VIEWPORTS[1]);
      await p.goto(`${demo.url}/story.html?name=${name}`);
      await p.getByLabel('Pages', { exact: true }).selectOption('16');
      await p.getByRole('button', { name: 'Write my book' }).click();
      await p.locator('inloop-job-wait').waitFor();
      busy.push(p);
    }
    const page = await openPage(browser, VIEWPORTS[0]);
    await page.goto(`${demo.url}/story.html?name=Wes`);
    await page.getByLabel('Pages', { exact: true }).selectOption('3');
    await page.getByRole('button', { name: 'Write my book' }).click();
    const head = () =>
      page.evaluate(() => {
        const progress = document
          .querySelector('inloop-job-wait')
          ?.shadowRoot?.querySelector('inloop-job-progress')?.shadowRoot;
        const label = progress?.querySelector<HTMLElement>('.head .label');
        const line = progress?.querySelector<HTMLElement>('[data-line]');
        if (!label || !line) return undefined;
        const cut = (el: HTMLElement) => el.scrollWidth > el.clientWidth + 1;
        // The room the percentage keeps beyond its own text, in ems: at most one digit ("0%" in a "99%" slot).
        const pct = progress!.querySelector<HTMLElement>('.detail .pct')!;
        const range = document.createRange();
        range.selectNodeContents(pct);
        const slack =
          (pct.getBoundingClientRect().width - range.getBoundingClientRect().width) /
          parseFloat(getComputedStyle(pct).fontSize);
        return {
          label: label.textContent,
          line: line.textContent,
          labelCut: cut(label),
          lineCut: cut(line),
          slack: Math.round(slack * 100) / 100,
        };
      });
    let seen = await head();
    for (let i = 0; i < 100 && !seen; i++) {
      await page.waitForTimeout(100);
      seen = await head();
    }
    assert.ok(seen, 'the third book waits in line');
    await shot(page, 'story-queued', VIEWPORTS[0]);
    assert.equal(seen.labelCut, false, `the label is not cut: ${JSON.stringify(seen)}`);
    assert.equal(seen.lineCut, false, `the place in line is not cut: ${JSON.stringify(seen)}`);
    assert.match(seen.line ?? '', /in line/);
    // A running book's percentage of two digits: the room between "19%" and "2 of 3" is the " · "
    // and nothing more.
    const slackAt = (p: Page) =>
      p.evaluate(() => {
        const pct = document
          .querySelector('inloop-job-wait')
          ?.shadowRoot?.querySelector('inloop-job-progress')
          ?.shadowRoot?.querySelector<HTMLElement>('.detail .pct');
        const stage = pct?.parentElement?.querySelector<HTMLElement>('[data-stage]');
        if (!pct || !stage || !/^\d\d%$/.test(pct.textContent ?? '')) return undefined;
        // The slot's width beyond the width of its own text, as the font draws it.
        const ctx = document.createElement('canvas').getContext('2d')!;
        const style = getComputedStyle(pct);
        // (The font shorthand is empty here: tabular-nums has no place in it.)
        ctx.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const slack = pct.getBoundingClientRect().width - ctx.measureText(pct.textContent ?? '').width;
        const em = slack / parseFloat(getComputedStyle(pct).fontSize);
        return { text: pct.textContent, em: Math.round(em * 100) / 100 };
      });
    let two = await slackAt(busy[0]!);
    for (let i = 0; i < 100 && !two; i++) {
      await busy[0]!.waitForTimeout(100);
      two = await slackAt(busy[0]!);
    }
    assert.ok(two, 'a running book shows a two-digit percentage');
    assert.ok(two.em < 0.2, `no stray gap after ${two.text} (${two.em} em)`);
    for (const p of [page, ...busy]) await p.context().close();
  });

  it('the chat on a phone: the field and Send stay put as visitors arrive and messages come', async () => {
    await using demo = await startDemo();
    const phone = VIEWPORTS[0];
    const ana = await openPage(browser, phone);
    await ana.goto(`${demo.url}/chat.html?name=Ana`);
    await ana.locator('inloop-presence [data-occupancy="2"]').waitFor({ timeout: 20_000 });
    const send = () =>
      ana.getByRole('button', { name: 'Send' }).evaluate((el) => {
        const r = el.getBoundingClientRect();
        return [Math.round(r.left), Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)];
      });
    const at = await send();
    await takeCls(ana);
    // Three more visitors: the avatars no longer fit beside the heading on a phone.
    const others: Page[] = [];
    for (const name of ['Bob', 'Cleo', 'Dev']) {
      const page = await openPage(browser, phone);
      await page.goto(`${demo.url}/chat.html?name=${name}`);
      others.push(page);
    }
    await ana.locator('inloop-presence [data-occupancy="5"]').waitFor({ timeout: 20_000 });
    assert.deepEqual(await send(), at, 'Send stays put as visitors arrive');
    const { cls, shifts } = await takeCls(ana);
    assert.ok(cls < 0.01, `layout shift as visitors arrive ${cls.toFixed(4)}: ${shifts.join('; ')}`);
    // Messages and the bot's answers: more than the list shows at once.
    for (let i = 1; i <= 4; i++) {
      await ana.getByPlaceholder('Say something…').fill(`message ${i}`);
      await ana.keyboard.press('Enter');
      await ana.locator('li.mine[data-offset]', { hasText: `message ${i}` }).waitFor({ timeout: 10_000 });
    }
    await ana.locator('li.theirs[data-from="eliza"][data-offset]').nth(3).waitFor({ timeout: 20_000 });
    assert.deepEqual(await send(), at, 'and as messages come');
    await shot(ana, 'chat-busy', phone);
    await noViolations(ana, 'the chat with five people and messages at phone size');
    for (const page of [ana, ...others]) await page.context().close();
  });

  it('the chat page before a name is chosen: a heading, and axe-core finds nothing', async () => {
    await using demo = await startDemo();
    for (const viewport of VIEWPORTS) {
      const page = await openPage(browser, viewport);
      await page.goto(`${demo.url}/chat.html`);
      await page.getByLabel('Your name, as others will see it').waitFor({ timeout: 10_000 });
      assert.equal(await page.locator('main h1').count(), 1, 'the page has its h1 before joining');
      await shot(page, 'chat-name-picker', viewport);
      await noViolations(page, `the chat page before joining at ${viewport.name} size`);
      await page.context().close();
    }
  });

  it("the header shows every page's link in full on every page, on a phone too", async () => {
    await using demo = await startDemo();
    for (const viewport of VIEWPORTS) {
      for (const path of ['story.html', 'opaque.html', 'chat.html', 'reactions.html']) {
        const page = await openPage(browser, viewport);
        await page.goto(`${demo.url}/${path}?name=Ada`);
        const link = page.locator('header.top nav a[aria-current="page"]');
        await link.waitFor({ timeout: 10_000 });
        await page.waitForTimeout(100);
        const where = await link.evaluate((a) => {
          const nav = a.parentElement!;
          const r = a.getBoundingClientRect();
          const n = nav.getBoundingClientRect();
          // The faded edge (15 % of the row) counts as hidden while the row has more to show.
          const fade = nav.hasAttribute('data-more') ? n.width * 0.15 : 0;
          const before = nav.hasAttribute('data-less') ? n.width * 0.15 : 0;
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return {
            inside: r.left >= n.left + before - 0.5 && r.right <= n.right - fade + 0.5,
            hit: hit === a || a.contains(hit),
          };
        });
        assert.deepEqual(where, { inside: true, hit: true }, `${path} at ${viewport.name} size`);
        // Every page's link fits, none behind a fade or the meter (a phone shows the short words).
        const all = await page.locator('header.top nav a').evaluateAll((links) =>
          links.map((a) => {
            const r = a.getBoundingClientRect();
            const n = a.parentElement!.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return `${a.getAttribute('aria-label')}: ${r.left >= n.left - 0.5 && r.right <= n.right + 0.5 && (hit === a || a.contains(hit))}`;
          }),
        );
        assert.deepEqual(
          all,
          ['Story book: true', 'Opaque work: true', 'Chat: true', 'Live reactions: true'],
          `${path} at ${viewport.name} size`,
        );
        assert.equal(await page.locator('header.top nav[data-more], header.top nav[data-less]').count(), 0);
        if (path === 'chat.html' || path === 'reactions.html')
          await shot(page, `header-${path.replace('.html', '')}`, viewport);
        await page.context().close();
      }
    }
  });

  it('every page at both sizes: screenshots, and axe-core finds nothing', async () => {
    await using demo = await startDemo();
    for (const viewport of VIEWPORTS) {
      for (const path of ['chat.html', 'reactions.html', 'reactions.html?role=presenter', 'opaque.html']) {
        const page = await openPage(browser, viewport);
        const missing: string[] = [];
        page.on('response', (r) => void (r.status() === 404 && missing.push(r.url())));
        await page.goto(`${demo.url}/${path}${path.includes('?') ? '&' : '?'}name=Ada`);
        await page.locator('main h1, main h2').first().waitFor({ timeout: 10_000 });
        await page.waitForTimeout(500);
        assert.deepEqual(missing, [], `nothing missing on ${path} (the favicon included)`);
        assert.equal(
          await page.evaluate(() => fetch('/favicon.svg').then((r) => r.status)),
          200,
          'the favicon is there',
        );
        assert.deepEqual(
          await page.evaluate(() =>
            fetch('/favicon.ico').then(async (r) => [
              r.status,
              new Uint8Array(await r.arrayBuffer()).slice(0, 4).join(),
            ]),
          ),
          [200, '0,0,1,0'],
          '/favicon.ico is there too, as an icon (browsers and crawlers ask for it whatever the page links)',
        );
        await shot(page, path.replace('.html', '').replace('?role=', '-'), viewport);
        await noViolations(page, `${path} at ${viewport.name} size`);
        await page.context().close();
      }
    }
  });
});
