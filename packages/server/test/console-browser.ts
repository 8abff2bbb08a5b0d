import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CONSOLE_DIR } from '../src/transports/http/console-pages.js';
import { waitFor } from './helpers.js';

/**
 * The console's browser tests: Debian's chromium through playwright-core, axe-core injected
 * into a page (the context bypasses the console's CSP for that script alone). The pages are the ones `npm run build` puts in packages/server/console.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function launch(): Promise<Browser> {
  assert.ok(existsSync(join(CONSOLE_DIR, 'index.html')), 'the console is not built: run `npm run build` first');
  return chromium.launch({
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
}

/**
 * A laptop-sized tab on the console, signed in with `key` (typed into the form, as a person would).
 * `prepare` runs on the tab before it opens the console (to watch its requests from the start).
 */
export async function signedIn(
  browser: Browser,
  url: string,
  key: string,
  prepare?: (page: Page) => void,
): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true })).newPage();
  page.on('pageerror', (err) => console.error('[console] page error:', err.message));
  prepare?.(page);
  await page.goto(`${url}/console`);
  await page.getByLabel('API key or admin token').fill(key);
  await page.keyboard.press('Enter');
  await page.getByRole('navigation', { name: 'Console' }).waitFor();
  return page;
}

/** Every axe-core violation on the page, one readable line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (
            context: Document,
            options: object,
          ) => Promise<{ violations: { id: string; help: string; nodes: { target: unknown[] }[] }[] }>;
        };
      }
    ).axe;
    const { violations } = await axe.run(document, { resultTypes: ['violations'] });
    return violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${v.help} at ${JSON.stringify(n.target)}`));
  });
}

/**
 * The reads of the job list (`GET /v1/jobs?...`) a tab makes: how many it started, and how many
 * are still on their way. Attach it in {@link signedIn}'s `prepare`.
 */
export function listReads(page: Page): { readonly started: number; readonly pending: number } {
  let started = 0;
  let done = 0;
  const isList = (u: string) => new URL(u).pathname === '/v1/jobs';
  page.on('request', (r) => void (isList(r.url()) && started++));
  page.on('requestfinished', (r) => void (isList(r.url()) && done++));
  page.on('requestfailed', (r) => void (isList(r.url()) && done++));
  return {
    get started() {
      return started;
    },
    get pending() {
      return started - done;
    },
  };
}

/**
 * Wait until the Jobs page follows the node's stream of job changes and its reads of the list
 * have come back: from then on, a change it shows came by the stream (its next read of the list
 * is 30 s away). The page reads the list twice on opening, once as it starts and once when its
 * stream says `ready`; each read first waits for the job types, so on a busy machine neither may
 * have started when the page already says it is live, and "none pending" alone would let them
 * count as reads made later.
 */
export async function jobsLive(page: Page, reads: { started: number; pending: number }): Promise<void> {
  await page.getByTestId('jobs-live').filter({ hasText: 'updated as jobs change' }).waitFor();
  await waitFor(
    () => reads.started >= 2 && reads.pending === 0,
    10_000,
    'the two reads of the list on opening to come back',
  );
}
