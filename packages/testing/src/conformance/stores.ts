import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  ConversationStore,
  ConversationStoreOptions,
  JobListQuery,
  JobRecord,
  JobStore,
  JobStoreOptions,
  PresenceStore,
  PresenceStoreOptions,
} from '@inloop/server/ports';
import { sleep, waitFor } from '../wait.js';

/**
 * The guarantees of the ConversationStore port (see ports/conversation-store.ts), run against
 * every implementation.
 */
export function describeConversationStoreConformance(
  name: string,
  factory: (options?: ConversationStoreOptions) => Promise<{ store: ConversationStore; dispose: () => Promise<void> }>,
): void {
  describe(`${name} conversation store`, () => {
    it('creates once, and keeps members with their join times', async () => {
      const { store, dispose } = await factory();
      const record = { id: 'c1', title: 'Team', meta: { color: 'blue' }, createdAt: 1000 };
      assert.equal(await store.create(record, ['ana', 'bob']), true);
      assert.equal(await store.create({ ...record, title: 'Other' }, ['cid']), false, 'an id is taken once');
      assert.deepEqual(await store.get('c1'), record);
      assert.equal(await store.get('nope'), null);
      assert.deepEqual(
        (await store.members('c1')).map((m) => [m.member, m.joinedAt]),
        [
          ['ana', 1000],
          ['bob', 1000],
        ],
      );
      await store.addMember('c1', 'cid', 2000);
      await store.addMember('c1', 'cid', 3000);
      assert.equal(
        (await store.members('c1')).find((m) => m.member === 'cid')!.joinedAt,
        2000,
        'adding twice is a no-op',
      );
      assert.equal(await store.isMember('c1', 'cid'), true);
      assert.equal(await store.removeMember('c1', 'cid'), true);
      assert.equal(await store.removeMember('c1', 'cid'), false);
      assert.equal(await store.isMember('c1', 'cid'), false);
      await dispose();
    });

    it('moves watermarks only up, read implies delivered, and remembers when each offset was reached', async () => {
      const { store, dispose } = await factory();
      await store.create({ id: 'c2', title: null, meta: null, createdAt: 0 }, ['ana', 'bob']);
      const first = await store.advance('c2', 'bob', { delivered: 3 }, 100);
      assert.deepEqual(first.moved, { delivered: true, read: false });
      assert.deepEqual([first.watermarks.delivered, first.watermarks.deliveredAt, first.watermarks.read], [3, 100, 0]);
      const lower = await store.advance('c2', 'bob', { delivered: 2 }, 200);
      assert.deepEqual(lower.moved, { delivered: false, read: false }, 'a lower receipt changes nothing');
      assert.equal(lower.watermarks.delivered, 3);
      const read = await store.advance('c2', 'bob', { read: 5 }, 300);
      assert.deepEqual(read.moved, { delivered: true, read: true });
      assert.deepEqual([read.watermarks.delivered, read.watermarks.read, read.watermarks.readAt], [5, 5, 300]);
      // Concurrent advances resolve to the maximum.
      await Promise.all([7, 9, 8].map((n, i) => store.advance('c2', 'ana', { delivered: n }, 400 + i)));
      const marks = await store.watermarks('c2');
      assert.deepEqual(
        marks.map((w) => [w.member, w.delivered, w.read]),
        [
          ['ana', 9, 0],
          ['bob', 5, 5],
        ],
      );
      // Offset 2 reached bob at 100 (delivered) and 300 (read); offset 4 at 300 for both.
      const times = await store.receiptTimes('c2', 2);
      const bob = times.find((t) => t.member === 'bob')!;
      assert.deepEqual([bob.deliveredAt, bob.readAt], [100, 300]);
      const later = (await store.receiptTimes('c2', 4)).find((t) => t.member === 'bob')!;
      assert.deepEqual([later.deliveredAt, later.readAt], [300, 300]);
      const none = await store.advance('c2', 'stranger', { read: 1 }, 500);
      assert.deepEqual(none.moved, { delivered: false, read: false }, 'a non-member has no watermarks');
      await dispose();
    });

    it('forgets the receipt times of messages past the history bounds, and keeps the rest', async () => {
      const { store, dispose } = await factory({ maxCount: 3 });
      await store.create({ id: 'c3', title: null, meta: null, createdAt: 0 }, ['ana']);
      for (let offset = 1; offset <= 6; offset++) await store.advance('c3', 'ana', { read: offset }, offset * 100);
      const at = async (offset: number) => (await store.receiptTimes('c3', offset)).find((t) => t.member === 'ana')!;
      // With at most 3 messages held (4, 5, 6), only their receipts remain.
      assert.deepEqual([(await at(4)).deliveredAt, (await at(4)).readAt], [400, 400], 'held: kept exactly');
      assert.deepEqual([(await at(6)).deliveredAt, (await at(6)).readAt], [600, 600]);
      assert.equal((await at(1)).readAt, 400, 'offsets 1 to 3 are gone with their messages');
      assert.equal((await store.watermarks('c3'))[0]!.read, 6, 'the watermarks stay');
      await dispose();
    });
  });
}

/**
 * The guarantees of the PresenceStore port (see ports/presence-store.ts), run against every
 * implementation. `left` is fire and forget: reads wait until the writes are seen.
 */
export function describePresenceStoreConformance(
  name: string,
  factory: (options?: PresenceStoreOptions) => Promise<{ store: PresenceStore; dispose: () => Promise<void> }>,
): void {
  describe(`${name} presence store`, () => {
    it('keeps the latest last-seen time per member, latest first', async () => {
      const { store, dispose } = await factory();
      const t = Date.now();
      store.left('room', 'ana', { n: 1 }, t - 30);
      store.left('room', 'bob', null, t - 20);
      store.left('room', 'ana', { n: 2 }, t - 10);
      store.left('room', 'ana', { n: 0 }, t - 40);
      const seen = await waitFor(async () => {
        const rows = await store.lastSeen('room', 10);
        return rows.length === 2 && rows[0]!.lastSeen === t - 10 ? rows : null;
      });
      assert.deepEqual(
        seen!.map((r) => [r.id, r.meta, r.lastSeen]),
        [
          ['ana', { n: 2 }, t - 10],
          ['bob', null, t - 20],
        ],
        'an older departure does not replace a later one',
      );
      await dispose();
    });

    it('keeps at most maxCount entries per topic, the latest', async () => {
      const { store, dispose } = await factory({ maxCount: 3 });
      const t = Date.now();
      for (let i = 0; i < 6; i++) store.left('busy', `m${i}`, null, t + i);
      store.left('other', 'x', null, t);
      // Departures are written without waiting, and a cluster may retry one after a later one
      // (a MOVED or a script load): last write by time wins, so the end state is what counts.
      let ids: string[] = [];
      const latest = async () => {
        while (await store.sweep(100));
        ids = (await store.lastSeen('busy', 10)).map((r) => r.id);
        return ids.join() === 'm5,m4,m3';
      };
      await waitFor(latest, 5000, 'the latest three departures').catch(() => {});
      assert.deepEqual(ids, ['m5', 'm4', 'm3']);
      assert.equal((await store.lastSeen('other', 10)).length, 1, 'per topic');
      await dispose();
    });

    it('forgets a last-seen time maxAgeMs after it, and only then', async () => {
      const { store, dispose } = await factory({ maxAgeMs: 2000 });
      const t = Date.now();
      store.left('room', 'old', null, t - 1800);
      store.left('room', 'young', null, t);
      await waitFor(async () => (await store.lastSeen('room', 10)).length === 2, 5000, 'both departures');
      await sleep(400);
      while (await store.sweep(100));
      assert.deepEqual(
        (await store.lastSeen('room', 10)).map((r) => r.id),
        ['young'],
      );
      await dispose();
    });
  });
}

/** A queued job's record as a store holds it, for tests: `overrides` set what a test cares about. */
export function jobRecord(id: string, overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    type: 't',
    input: { n: 1 },
    size: null,
    status: 'queued',
    attempt: 0,
    maxAttempts: 3,
    createdAt: 1,
    startedAt: null,
    finishedAt: null,
    runAfter: 1,
    plan: null,
    stage: null,
    stageWeightDone: 0,
    stageDurations: [],
    measured: null,
    message: null,
    partials: [],
    lease: null,
    fence: 0,
    lastSignAt: null,
    cancelRequested: false,
    cancelRequestedAt: null,
    idempotencyKey: null,
    createdBy: 'key:default',
    estimate: { p50Ms: 1000, p90Ms: 2000, source: 'default', samples: 0 },
    epoch: '',
    lastOffset: 0,
    ...overrides,
  };
}

/** The guarantees of the JobStore port (see ports/job-store.ts), run against every implementation. */
export function describeJobStoreConformance(
  name: string,
  factory: (options?: JobStoreOptions) => Promise<{ store: JobStore; dispose: () => Promise<void> }>,
): void {
  describe(`${name} job store`, () => {
    it('inserts once per idempotency key, saves, and lists what is unfinished', async () => {
      const { store, dispose } = await factory();
      assert.equal((await store.insert(jobRecord('a'))).created, true);
      const keyed = await store.insert(jobRecord('b', { idempotencyKey: 'k' }));
      assert.equal(keyed.created, true);
      const again = await store.insert(jobRecord('c', { idempotencyKey: 'k' }));
      assert.deepEqual([again.created, again.job.id], [false, 'b'], 'the same key returns the first job');
      assert.equal(await store.get('c'), null, 'and stores nothing');
      assert.equal((await store.insert(jobRecord('d', { idempotencyKey: 'k', createdBy: 'other' }))).created, true);
      await store.save({ ...(await store.get('a'))!, status: 'succeeded', result: 42, finishedAt: 5 });
      assert.deepEqual([(await store.get('a'))!.status, (await store.get('a'))!.result], ['succeeded', 42]);
      assert.deepEqual((await store.unfinished()).map((j) => j.id).sort(), ['b', 'd']);
      await dispose();
    });

    it('keeps the latest duration samples per type and stage', async () => {
      const { store, dispose } = await factory();
      for (let i = 0; i < 5; i++) await store.addDuration({ type: 't', stage: '', ms: i * 10, size: null, at: i });
      await store.addDuration({ type: 't', stage: 'draw', ms: 7, size: 2, at: 9 });
      const samples = await store.durations('t', '', 3);
      // With when each ended: the duration model tells runs in flight together by it.
      assert.deepEqual(
        samples.map((s) => [s.ms, s.at]),
        [
          [40, 4],
          [30, 3],
          [20, 2],
        ],
        'latest first',
      );
      assert.deepEqual(
        (await store.durations('t', 'draw', 10)).map((s) => [s.ms, s.size]),
        [[7, 2]],
      );
      await dispose();
    });

    it('lists jobs newest first by id, filtered by type and status, page by page', async () => {
      const { store, dispose } = await factory();
      const kinds = [
        ['j01', 'a', 'succeeded'],
        ['j02', 'b', 'queued'],
        ['j03', 'a', 'queued'],
        ['j04', 'a', 'running'],
        ['j05', 'b', 'failed'],
      ] as const;
      for (const [id, type] of kinds) await store.insert(jobRecord(id, { type }));
      for (const [id, type, status] of kinds)
        if (status !== 'queued') await store.save({ ...jobRecord(id, { type }), status });
      const all = async (query: Omit<JobListQuery, 'limit' | 'before'>, limit = 2) => {
        const ids: string[] = [];
        let before: string | undefined;
        for (let page = 0; page < 20; page++) {
          const { jobs, next } = await store.list({ ...query, limit, before });
          assert.ok(jobs.length <= limit);
          ids.push(...jobs.map((j) => j.id));
          if (!next) return ids;
          before = next;
        }
        throw new Error('the listing did not end');
      };
      assert.deepEqual(await all({}), ['j05', 'j04', 'j03', 'j02', 'j01']);
      assert.deepEqual(await all({ type: 'a' }), ['j04', 'j03', 'j01']);
      assert.deepEqual(await all({ status: 'queued' }), ['j03', 'j02']);
      assert.deepEqual(await all({ type: 'b', status: 'failed' }, 10), ['j05']);
      assert.deepEqual(await all({ type: 'c' }), []);
      assert.equal((await store.list({ limit: 1 })).jobs[0]!.status, 'failed', 'records as saved');
      await dispose();
    });

    it('removes a finished job finishedTtlMs after it finished, with its idempotency key, never an unfinished one', async () => {
      const { store, dispose } = await factory({ finishedTtlMs: 1000 });
      const done = (id: string, extra: Partial<JobRecord> = {}) =>
        ({ ...jobRecord(id, extra), status: 'succeeded', finishedAt: Date.now() }) as JobRecord;
      await store.insert(jobRecord('waiting'));
      await store.insert(jobRecord('old', { idempotencyKey: 'k' }));
      await store.save(done('old', { idempotencyKey: 'k' }));
      await sleep(1100);
      await store.insert(jobRecord('young'));
      await store.save(done('young'));
      while (await store.sweep(100));
      assert.equal(await store.get('old'), null, 'expired');
      assert.notEqual(await store.get('young'), null, 'finished since: kept');
      assert.notEqual(await store.get('waiting'), null, 'unfinished: kept');
      const again = await store.insert(jobRecord('new', { idempotencyKey: 'k' }));
      assert.deepEqual([again.created, again.job.id], [true, 'new'], 'the key went with its job');
      await dispose();
    });
  });
}
