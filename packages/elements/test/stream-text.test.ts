import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';

/**
 * `<inloop-stream-text>` in Debian's chromium: a page built with Vite from the element's source
 * (`app/`), driven through `window.streamText`, with a MutationObserver recording what its live
 * region says (`window.announcements`).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const appDir = fileURLToPath(new URL('./app/', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };

let browser: Browser;
let web: Server;
let origin: string;
const out = mkdtempSync(join(tmpdir(), 'inloop-stream-text-'));

before(async () => {
  await build({
    root: appDir,
    logLevel: 'warn',
    configFile: false,
    resolve: { conditions: ['source', 'module', 'browser', 'development|production'] },
    build: { outDir: out, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false },
  });
  web = createServer((req, res) => {
    const path = join(out, new URL(req.url!, 'http://x').pathname.replace(/\/$/, '/index.html'));
    readFile(path).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
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
  await new Promise((r) => web?.close(r));
  rmSync(out, { recursive: true, force: true });
});

async function open(reducedMotion: 'reduce' | 'no-preference' = 'no-preference'): Promise<Page> {
  const page = await browser.newPage({ reducedMotion });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(origin);
  await page.waitForFunction(() => (window as any).ready === true);
  assert.deepEqual(errors, []);
  return page;
}

/** A story of 40 sentences, cut into 1-3 character deltas the way a model's tokens come. */
const SENTENCES = Array.from({ length: 40 }, (_, i) => `Sentence number ${i + 1} says something short.`);
const TEXT = SENTENCES.join(' ');
function deltas(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + (i % 3);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('<inloop-stream-text>', () => {
  it('grows one text node in place and shows exactly the text given', async () => {
    const page = await open();
    const result = await page.evaluate((parts) => {
      const el = (window as any).streamText;
      const span = el.shadowRoot.querySelector('.text');
      const node = span.firstChild;
      for (const part of parts) el.appendText(part);
      return { same: span.firstChild === node, nodes: span.childNodes.length, shown: span.textContent, text: el.text };
    }, deltas(TEXT));
    assert.equal(result.same, true, 'the text node was replaced: the text was re-rendered');
    assert.equal(result.nodes, 1);
    assert.equal(result.shown, TEXT);
    assert.equal(result.text, TEXT);
    await page.close();
  });

  it('takes the whole text so far as well as deltas, and starts over on a text that does not extend it', async () => {
    const page = await open();
    const shown = await page.evaluate(() => {
      const el = (window as any).streamText;
      const span = el.shadowRoot.querySelector('.text');
      const seen: string[] = [];
      el.text = 'Once upon';
      el.text = 'Once upon a time';
      seen.push(span.textContent);
      el.text = 'Another story';
      seen.push(span.textContent);
      return seen;
    });
    assert.deepEqual(shown, ['Once upon a time', 'Another story']);
    await page.close();
  });

  it('announces whole sentences in a polite live region, far fewer times than there are deltas', async () => {
    const page = await open();
    const parts = deltas(TEXT);
    await page.evaluate((p) => {
      const el = (window as any).streamText;
      for (const part of p) el.appendText(part);
    }, parts);
    // All deltas arrived within one announcement gap: only the first sentence has been read so far.
    await page.waitForFunction(() => (window as any).announcements.length >= 1);
    const region = await page.evaluate(() => {
      const r = (window as any).streamText.shadowRoot.querySelector('.announcer');
      return { live: r.getAttribute('aria-live'), role: r.getAttribute('role') };
    });
    assert.deepEqual(region, { live: 'polite', role: 'status' });
    await page.evaluate(() => ((window as any).streamText.status = 'finished'));
    await page.waitForFunction(() => (window as any).announcements.length >= 2);
    const said: string[] = await page.evaluate(() => (window as any).announcements);
    assert.ok(said.length < SENTENCES.length, `${said.length} announcements for ${parts.length} deltas`);
    for (const s of said) assert.match(s, /[.!?]$/, `an announcement cut mid-sentence: ${s}`);
    assert.equal(said.join(' '), TEXT, 'every sentence is read once, in order');
    await page.close();
  });

  it('says "Stopped." after what was read when the stream is stopped, and hides the caret', async () => {
    const page = await open();
    await page.evaluate(() => {
      const el = (window as any).streamText;
      el.appendText('The owl looked up. She saw');
      el.status = 'stopped';
    });
    await page.waitForFunction(() => (window as any).announcements.at(-1)?.endsWith('Stopped.'));
    const state = await page.evaluate(() => {
      const el = (window as any).streamText;
      return {
        said: (window as any).announcements,
        attr: el.getAttribute('status'),
        caret: getComputedStyle(el.shadowRoot.querySelector('.caret')).visibility,
        ended: el.shadowRoot.querySelector('.ended')?.textContent,
      };
    });
    assert.deepEqual(state.said, ['The owl looked up.', 'She saw Stopped.']);
    assert.equal(state.attr, 'stopped');
    assert.equal(state.caret, 'hidden');
    assert.equal(state.ended, 'Stopped.');
    await page.close();
  });

  it('keeps the reserved lines, so what is below does not move while they fill', async () => {
    const page = await open();
    const below = () => page.evaluate(() => document.getElementById('below')!.getBoundingClientRect().top);
    const before = await below();
    const tops: number[] = [];
    for (const word of 'The owl looked up at the moon and saw her glasses there, shining.'.split(' ')) {
      await page.evaluate((w) => (window as any).streamText.appendText(`${w} `), word);
      tops.push(await below());
    }
    assert.ok(
      tops.every((t) => t === before),
      `the paragraph below moved: ${before} -> ${tops.join(', ')}`,
    );
    await page.close();
  });

  it('moves nothing on the page as it grows in a box kept scrolled to its newest words: no layout shift', async () => {
    const page = await open();
    // The story page's arrangement: a box of fixed height is the scroll container, scrollTop
    // follows the end. Chromium's layout-shift entries are what Cumulative Layout Shift sums.
    const shifts: string[] = await page.evaluate(
      async (parts) => {
        const el = (window as any).streamText as HTMLElement & { appendText(d: string): void };
        const box = document.createElement('div');
        box.style.cssText = 'height: 6lh; overflow-y: auto';
        el.before(box);
        box.append(el);
        new ResizeObserver(() => (box.scrollTop = box.scrollHeight)).observe(el);
        // The paragraph below moves once, as the box is put in: not the text's doing.
        for (let i = 0; i < 2; i++) await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        const seen: string[] = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries() as (PerformanceEntry & {
            value: number;
            sources: { node: Node | null }[];
          })[])
            seen.push(`${e.value.toFixed(5)} ${e.sources.map((s) => s.node?.nodeName ?? 'shadow').join(' ')}`);
        }).observe({ type: 'layout-shift' });
        for (const part of parts) {
          el.appendText(part);
          await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        }
        await new Promise((r) => setTimeout(r, 100));
        return seen;
      },
      deltas(SENTENCES.slice(0, 12).join(' ') + '\n\n' + SENTENCES.slice(12, 24).join(' ')),
    );
    const scrolled = await page.evaluate(() => (window as any).streamText.parentElement.scrollTop);
    assert.ok(scrolled > 0, 'the text outgrew its box and the box scrolled');
    assert.deepEqual(shifts, [], 'layout shifts while the text grew');
    await page.close();
  });

  it('does not blink the caret with reduced motion', async () => {
    const moving = await open('no-preference');
    const still = await open('reduce');
    const name = (p: Page) =>
      p.evaluate(() => getComputedStyle((window as any).streamText.shadowRoot.querySelector('.caret')).animationName);
    assert.equal(await name(moving), 'blink');
    assert.equal(await name(still), 'none');
    await moving.close();
    await still.close();
  });
});
