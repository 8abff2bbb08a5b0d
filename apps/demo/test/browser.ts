import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Shared pieces of the demo's browser tests: the demo server on a loopback port with a fresh
 * SQLite directory (so job types start from their configured ETA), Debian's chromium through
 * playwright-core, axe-core injected into a page, and deep DOM queries through shadow roots.
 */
const main = fileURLToPath(new URL('../dist/server/main.js', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Where screenshots go (gitignored). */
export const artifacts = fileURLToPath(new URL('../../../test-output/demo-layout/', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface Demo extends AsyncDisposable {
  url: string;
}

/**
 * Start the built demo server; disposing it stops it (SIGKILL if it has not exited 10 s after
 * SIGTERM) and removes its data. `env` is merged over the defaults below; a variable set to
 * `undefined` is left out of the demo's environment.
 */
export async function startDemo(env: NodeJS.ProcessEnv = {}): Promise<Demo> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inloop-demo-'));
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      PORT: String(port),
      INLOOP_HOST: '127.0.0.1',
      INLOOP_DATA_DIR: dataDir,
      INLOOP_LOG_LEVEL: 'warn',
      // Short jobs: pages drawn small, each taking a steady 1.2 s, so a six-page book takes about 8 s.
      DEMO_PRINT_SCALE: '0.25',
      DEMO_PAGE_MS: '1200',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; !out.includes('Demo: open'); i++) {
    if (i > 300 || child.exitCode !== null) throw new Error(`the demo did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launch(): Promise<Browser> {
  mkdirSync(artifacts, { recursive: true });
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

export const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'laptop', width: 1366, height: 768 },
] as const;
export type Viewport = (typeof VIEWPORTS)[number];

/**
 * A page at a viewport that records Cumulative Layout Shift the way the metric counts it:
 * `layout-shift` entries without recent input, summed into `window.__cls` (and their sources
 * into `window.__shifts`, for a readable failure), the streamed story text included.
 */
export async function openPage(browser: Browser, viewport: Viewport): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
  // tsx compiles the functions passed to page.evaluate with esbuild's keepNames, which calls __name.
  await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  await context.addInitScript(() => {
    const w = window as unknown as { __cls: number; __shifts: string[] };
    w.__cls = 0;
    w.__shifts = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as (PerformanceEntry & {
        value: number;
        hadRecentInput: boolean;
        sources?: { node?: Node | null; previousRect: DOMRectReadOnly; currentRect: DOMRectReadOnly }[];
      })[]) {
        if (entry.hadRecentInput) continue;
        w.__cls += entry.value;
        const nodes = (entry.sources ?? []).map((s) => {
          const n = s.node;
          const what = n instanceof Element ? `${n.localName}.${n.className}` : (n?.nodeName ?? 'shadow');
          const [a, b] = [s.previousRect, s.currentRect];
          return `${what}(${a.x},${a.y} ${a.width}x${a.height} -> ${b.x},${b.y} ${b.width}x${b.height})`;
        });
        w.__shifts.push(`${entry.value.toFixed(4)} ${nodes.join(' ')}`);
      }
    }).observe({ type: 'layout-shift', buffered: true });
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${viewport.name}] page error:`, err.message));
  return page;
}

/** Layout shift so far and from what, then start counting again. */
export async function takeCls(page: Page): Promise<{ cls: number; shifts: string[] }> {
  return page.evaluate(() => {
    const w = window as unknown as { __cls: number; __shifts: string[] };
    const out = { cls: w.__cls, shifts: w.__shifts };
    w.__cls = 0;
    w.__shifts = [];
    return out;
  });
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
          ) => Promise<{
            violations: { id: string; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[];
          }>;
        };
      }
    ).axe;
    const { violations } = await axe.run(document, { resultTypes: ['violations'] });
    return violations.flatMap((v) =>
      v.nodes.map((n) => `${v.id}: ${v.help} at ${JSON.stringify(n.target)} (${n.failureSummary ?? ''})`),
    );
  });
}

/** Save a screenshot of what is on screen, named by page, stage and viewport. */
export async function shot(page: Page, name: string, viewport: Viewport): Promise<void> {
  await page.screenshot({ path: join(artifacts, `${name}-${viewport.name}.png`) });
}

/**
 * Run in the page: the element with keyboard focus, through shadow roots, as
 * `tag[data-choice]` or `tag.class`.
 */
export async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    let el: Element | null = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return 'none';
    const choice = el.getAttribute('data-choice');
    return choice !== null ? `${el.localName}[data-choice]` : `${el.localName}.${el.className}`;
  });
}
