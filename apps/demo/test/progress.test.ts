import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { launch, openPage, startDemo, VIEWPORTS } from './browser.js';

/**
 * The story book's bar in Chromium against the built demo: what it shows is what the node
 * measured, moved on no further than the next page, and the bar, its percentage and what a screen
 * reader is told agree at every moment.
 */
describe('the job bar in the demo', () => {
  it('story book: measured progress is the truth, the bar never passes the next page and never flickers back', async () => {
    await using demo = await startDemo();
    const browser = await launch();
    try {
      const page = await openPage(browser, VIEWPORTS[0]);
      await page.goto(`${demo.url}/story.html?name=Pia`);
      await page.getByLabel('Pages', { exact: true }).selectOption('12');
      await page.getByRole('button', { name: 'Write my book' }).click();
      const read = () =>
        page.evaluate(() => {
          const wait = document.querySelector('inloop-job-wait');
          const el = (document.querySelector('inloop-job-progress') ??
            wait?.shadowRoot?.querySelector('inloop-job-progress') ??
            wait?.querySelector('inloop-job-progress')) as
            (HTMLElement & { snapshot?: { status: string; progress: { fraction: number; measured: boolean } } }) | null;
          const s = el?.snapshot;
          if (!el || !s) return null;
          const root = el.shadowRoot!;
          return {
            status: s.status,
            fraction: s.progress.fraction,
            measured: s.progress.measured,
            now: Number(root.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow')),
            pct: root.querySelector('.pct')?.textContent ?? '',
          };
        });
      let samples = 0;
      let measuredSamples = 0;
      let step = 0;
      let last: { fraction: number; now: number } | null = null;
      for (let i = 0; i < 1200; i++) {
        const r = await read();
        if (r?.status === 'succeeded') break;
        if (r?.status === 'running') {
          samples++;
          assert.equal(r.pct, `${r.now}%`, 'the percentage beside the bar is the bar’s value');
          if (r.measured) {
            measuredSamples++;
            const truth = Math.floor(r.fraction * 100);
            if (last && r.fraction > last.fraction) step = Math.max(step, r.fraction - last.fraction);
            assert.ok(r.now >= truth, `the bar is at the measured ${truth} % or past it: ${r.now}`);
            assert.ok(
              r.now <= Math.floor((r.fraction + step) * 100) + 1,
              `never past the next page: ${r.now}, ${truth}, step ${step}`,
            );
            if (last && last.fraction === r.fraction)
              assert.ok(r.now >= last.now, `no flicker back: ${last.now} -> ${r.now}`);
            last = { fraction: r.fraction, now: r.now };
          } else last = null;
        }
        await page.waitForTimeout(100);
      }
      assert.ok(samples > 10 && measuredSamples > 5, `${samples} readings, ${measuredSamples} measured`);
      await page.context().close();
    } finally {
      await browser.close();
    }
  });
});
