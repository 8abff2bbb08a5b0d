import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import { rawSession, sleep, startNode, waitFor, type TestNode } from './helpers.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof import('better-sqlite3');

const anyone: Scope[] = [{ ops: ['subscribe', 'publish', 'history', 'presence'], topics: ['*'] }];

/** Everything expires after a second; cleanup runs only when the test asks for a round. */
const short = {
  historyMaxAgeMs: 1000,
  conversationHistoryMaxAgeMs: 1000,
  presenceLastSeenMaxAgeMs: 1000,
  jobRetentionMs: 1000,
  retentionSweepMs: 3_600_000,
};

/**
 * Pages of the database file in use (its size less its free list), as an operator would read
 * it after a VACUUM: what the data takes, not what SQLite keeps around for reuse.
 */
function usedPages(t: TestNode): number {
  const db = new Database(join(t.dataDir, 'inloop.db'), { readonly: true, fileMustExist: true });
  try {
    return (
      (db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number)
    );
  } finally {
    db.close();
  }
}

/** One round of churn: new topic names published to, read and subscribed to; presence joins and leaves. */
async function churn(t: TestNode, round: number, token: string): Promise<void> {
  const text = 'x'.repeat(1000);
  for (let i = 0; i < 40; i++) {
    assert.equal((await t.api(`/v1/topics/churn-${round}-${i}/messages`, { body: { data: { text } } })).status, 201);
    assert.equal((await t.api(`/v1/topics/read-${round}-${i}/messages?after=0`)).status, 200);
  }
  for (let i = 0; i < 20; i++) {
    const path = `/v1/topics/room-${round}-${i}/presence/m${i}`;
    assert.equal((await t.api(path, { method: 'PUT', body: { meta: { text } } })).status, 200);
    assert.equal((await t.api(path, { method: 'DELETE' })).status, 204);
  }
  const s = await rawSession(t.url, token);
  for (let i = 0; i < 20; i++)
    assert.equal((await s.request({ type: 'subscribe', id: i + 1, topic: `sub-${round}-${i}` })).type, 'subscribed');
  s.ws.close();
  await s.closeCode;
}

describe('retention', () => {
  describe('when clients only read, subscribe to and watch the presence of new topic names', () => {
    it('writes nothing to the database', async () => {
      await using t = await startNode(short);
      const token = await t.token('reader', anyone);
      const before = usedPages(t);
      const s = await rawSession(t.url, token);
      for (let i = 0; i < 200; i++) {
        assert.equal((await t.api(`/v1/topics/new-${i}/messages?after=0`)).status, 200);
        assert.equal((await t.api(`/v1/topics/new-${i}/presence`)).status, 200);
        assert.equal((await s.request({ type: 'subscribe', id: 2 * i + 1, topic: `sub-${i}` })).type, 'subscribed');
        await s.request({ type: 'unsubscribe', id: 2 * i + 2, topic: `sub-${i}` });
      }
      s.ws.close();
      await s.closeCode;
      assert.equal(usedPages(t), before);
    });
  });

  describe('under topic-name and presence churn', () => {
    it('keeps the database size flat once cleanup has run', { timeout: 120_000 }, async () => {
      await using t = await startNode(short);
      const token = await t.token('churner', anyone);
      const baseline = usedPages(t);
      const grown: number[] = [];
      const cleaned: number[] = [];
      for (let round = 0; round < 5; round++) {
        await churn(t, round, token);
        // Presence writes its last-seen times shortly after a departure.
        await sleep(200);
        grown.push(usedPages(t));
        await sleep(1100);
        await t.node.retention.round();
        cleaned.push(usedPages(t));
      }
      assert.ok(
        grown.every((n) => n > baseline + 10),
        `each round of churn took space (${grown.join(', ')} pages over ${baseline})`,
      );
      assert.ok(
        cleaned.every((n) => n <= baseline + 4),
        `and cleanup gave it all back (${cleaned.join(', ')} pages, ${baseline} before any churn)`,
      );
    });
  });

  describe('when a topic expired', () => {
    it('removes it, and a client resuming from before is told recovered: false under a new epoch', async () => {
      await using t = await startNode(short);
      const token = await t.token('reader', anyone);
      const first = await t.api('/v1/topics/news/messages', { body: { data: 'old' } });
      assert.equal(first.status, 201);
      await sleep(1100);
      await t.node.retention.round();
      const page = await t.api('/v1/topics/news/messages?after=0');
      assert.equal(page.body.latest, 0, 'nothing is left of it');
      assert.notEqual(page.body.epoch, first.body.epoch);
      const again = await t.api('/v1/topics/news/messages', { body: { data: 'new' } });
      assert.deepEqual([again.body.offset, again.body.epoch === first.body.epoch], [1, false]);
      const s = await rawSession(t.url, token);
      const resumed = await s.request({
        type: 'subscribe',
        id: 1,
        topic: 'news',
        since: { epoch: first.body.epoch, offset: 1 },
      });
      assert.deepEqual(
        [resumed.type, resumed.recovered, resumed.epoch, resumed.offset],
        ['subscribed', false, again.body.epoch, 1],
      );
      s.ws.close();
    });

    it('keeps a topic with subscribers on this node, and they get its next publication as usual', async () => {
      await using t = await startNode(short);
      const s = await rawSession(t.url, await t.token('watcher', anyone));
      const subscribed = await s.request({ type: 'subscribe', id: 1, topic: 'live' });
      assert.equal((await t.api('/v1/topics/live/messages', { body: { data: 1 } })).body.epoch, subscribed.epoch);
      await sleep(1100);
      await t.node.retention.round();
      const next = await t.api('/v1/topics/live/messages', { body: { data: 2 } });
      assert.deepEqual([next.body.epoch, next.body.offset], [subscribed.epoch, 2]);
      await waitFor(() => s.frames.some((f) => f.type === 'pub' && JSON.stringify(f).includes('"offset":2')));
      assert.equal(s.frames.filter((f) => f.type === 'subscribed').length, 1, 'never told its state is stale');
      s.ws.close();
    });
  });

  describe('when a job finished longer than jobRetentionMs ago', () => {
    it('removes the job and its events, and keeps a job finished since', async () => {
      await using t = await startNode(short);
      t.node.jobs.handle('quick', async () => 'done');
      const run = async () => {
        const created = await t.api('/v1/jobs', { body: { type: 'quick', input: null } });
        await waitFor(async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.status === 'succeeded');
        return created.body.id as string;
      };
      const old = await run();
      await sleep(1100);
      const young = await run();
      await t.node.retention.round();
      assert.equal((await t.api(`/v1/jobs/${old}`)).status, 404);
      assert.equal((await t.api(`/v1/topics/job:${old}/messages?after=0`)).body.latest, 0, 'its topic went too');
      assert.equal((await t.api(`/v1/jobs/${young}`)).body.status, 'succeeded');
      assert.ok((await t.api(`/v1/topics/job:${young}/messages?after=0`)).body.latest > 0);
    });
  });
});
