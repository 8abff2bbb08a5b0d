import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tcpProxy } from '@inloop/testing';
import type { Browser, Page } from 'playwright-core';
import { launch, startDemo, type Demo } from './browser.js';

/**
 * A visitor cut off for longer than `DEMO_LOBBY_AWAY_MS` is dropped from the lobby; when the
 * network comes back the chat page joins again by itself, without a reload. Chromium reaches the
 * demo through a TCP proxy the test cuts (sockets destroyed, new ones refused) until the node has
 * dropped the visitor, with a short `DEMO_LOBBY_AWAY_MS` so that takes a couple of seconds.
 */
const AWAY_MS = 1500;

let browser: Browser;
let demo: Demo;
let proxy: Awaited<ReturnType<typeof tcpProxy>>;

before(async () => {
  demo = await startDemo({ DEMO_LOBBY_AWAY_MS: String(AWAY_MS) });
  // The proxy's origin is the page's and the Host it sends, so the node allows it as its own.
  proxy = await tcpProxy(Number(new URL(demo.url).port));
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await demo?.[Symbol.asyncDispose]();
});

async function open(base: string, name: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err.message));
  await page.goto(`${base}/chat.html?name=${encodeURIComponent(name)}`);
  return page;
}

/** Poll `check` every 50 ms until it holds (bounded by `timeoutMs`); returns the ms it took. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

/** The member id the page signed in as. */
const subjectOf = (page: Page) =>
  page.evaluate(() => (JSON.parse(localStorage.getItem('inloop-demo-subject')!) as { subject: string }).subject);

describe('the chat after a visitor was dropped from the lobby', () => {
  it(
    'joins again by itself once the network is back: what was said meanwhile shows, the message sent during the cut arrives once, no reload',
    { timeout: 120_000 },
    async () => {
      const bob = await open(demo.url, 'Bob');
      const ana = await open(proxy.url, 'Ana');
      await ana.locator('inloop-presence [data-occupancy="3"]').waitFor({ timeout: 20_000 });
      await bob.locator('inloop-presence [data-occupancy="3"]').waitFor({ timeout: 20_000 });
      const [anaId, bobId] = [await subjectOf(ana), await subjectOf(bob)];
      // The lobby's members as Bob's client hears them (member.added / member.removed).
      await bob.evaluate(async () => {
        const client = (
          document.querySelector('inloop-connection') as unknown as {
            client: { conversation(id: string): { ready(): Promise<void>; members: string[] } };
          }
        ).client;
        const lobby = client.conversation('lobby');
        await lobby.ready();
        (window as unknown as { lobbyMembers: () => string[] }).lobbyMembers = () => lobby.members;
      });
      const bobSees = () => bob.evaluate(() => (window as unknown as { lobbyMembers: () => string[] }).lobbyMembers());
      assert.ok((await bobSees()).includes(anaId), 'Ana is a member');
      // Ana's page: the same document from start to end, and whether "Not sent" ever showed.
      await ana.evaluate(() => {
        const w = window as unknown as { sameDocument: boolean; sawNotSent: boolean };
        w.sameDocument = true;
        w.sawNotSent = false;
        new MutationObserver(() => {
          if (document.querySelector('li.pending')?.textContent?.includes('Not sent')) w.sawNotSent = true;
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      });

      proxy.cut();
      // Ana writes during the cut: shown as pending.
      await ana.getByPlaceholder('Say something…').fill('sent while away');
      await ana.keyboard.press('Enter');
      await ana.locator('li.pending', { hasText: 'sent while away' }).waitFor({ timeout: 5000 });
      // Bob speaks meanwhile.
      await bob.getByPlaceholder('Say something…').fill('said while Ana was away');
      await bob.keyboard.press('Enter');
      await bob.locator('li.mine[data-offset]', { hasText: 'said while Ana was away' }).waitFor({ timeout: 5000 });
      // The node drops Ana from the lobby once she has been away for AWAY_MS.
      await until(async () => !(await bobSees()).includes(anaId), AWAY_MS * 10, 'the lobby to drop Ana');
      // A half-written message stays in the field through the rejoin.
      await ana.getByPlaceholder('Say something…').fill('half a thought');

      proxy.restore();
      const sentMs = await until(
        async () =>
          (await ana.locator('li.pending').count()) === 0 &&
          (await ana.locator(`li[data-from="${anaId}"][data-offset]`, { hasText: 'sent while away' }).count()) === 1,
        30_000,
        'the message sent during the cut to be sent',
      );
      console.log(
        `dropped from the lobby after a cut: the pending message sent ${sentMs} ms after the network came back`,
      );

      // Ana is a member and here again; her message arrived once on both sides, Bob's once at hers.
      await until(async () => (await bobSees()).includes(anaId), 10_000, 'Ana to be a member again');
      await bob.locator('inloop-presence [data-occupancy="3"]').waitFor({ timeout: 10_000 });
      await bob.locator(`li[data-from="${anaId}"]`, { hasText: 'sent while away' }).waitFor({ timeout: 5000 });
      assert.equal(await bob.locator(`li[data-from="${anaId}"]`, { hasText: 'sent while away' }).count(), 1);
      assert.equal(await ana.locator(`li[data-from="${anaId}"]`, { hasText: 'sent while away' }).count(), 1);
      await ana.locator(`li[data-from="${bobId}"][data-offset]`, { hasText: 'said while Ana was away' }).waitFor({
        timeout: 5000,
      });
      assert.equal(await ana.locator(`li[data-from="${bobId}"]`, { hasText: 'said while Ana was away' }).count(), 1);
      assert.equal(await ana.getByPlaceholder('Say something…').inputValue(), 'half a thought');
      assert.ok(await ana.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument), 'no reload');
      assert.equal(
        await ana.evaluate(() => (window as unknown as { sawNotSent: boolean }).sawNotSent),
        false,
        '"Not sent" never showed',
      );

      // The chat goes on: her next message is read by the people here (Bob and the bot).
      await ana.getByPlaceholder('Say something…').fill('back again');
      await ana.keyboard.press('Enter');
      const mine = ana.locator('li.mine[data-offset]', { hasText: 'back again' });
      await mine.waitFor({ timeout: 5000 });
      await bob.locator(`li[data-from="${anaId}"]`, { hasText: 'back again' }).waitFor({ timeout: 5000 });
      await mine.locator('inloop-receipt [data-state="read"]').waitFor({ timeout: 10_000 });
      for (const page of [ana, bob]) await page.context().close();
    },
  );
});
