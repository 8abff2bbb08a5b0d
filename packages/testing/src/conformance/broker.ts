import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdempotencyConflictError, type Broker, type BrokerOptions, type Publication } from '@inloop/server/ports';
import { sleep, waitFor } from '../wait.js';

const defaults: BrokerOptions = { maxCount: 1000, maxAgeMs: 86_400_000, idempotencyTtlMs: 300_000 };

/**
 * The guarantees of the Broker port (see ports/broker.ts), run against every implementation so a
 * second backend cannot drift from the first.
 */
export function describeBrokerConformance(
  name: string,
  factory: (
    options: BrokerOptions,
  ) => Promise<{ broker: Broker; reopen?: () => Promise<Broker>; dispose: () => Promise<void> }>,
): void {
  describe(`${name} broker`, () => {
    it('gives stored publications consecutive offsets from 1 and hands them over in order', async () => {
      const { broker, dispose } = await factory(defaults);
      const seen: Publication[] = [];
      broker.onPublication((p) => seen.push(p));
      await broker.watch('t');
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await broker.appendAndPublish('t', { data: i, from: 'a' }));
      assert.deepEqual(
        results.map((r) => r.publication.offset),
        [1, 2, 3, 4, 5],
      );
      // Shared backends hand over asynchronously (through the backend), local ones at once.
      await waitFor(() => seen.length >= 5, 5000, 'five publications handed over');
      assert.deepEqual(
        seen.map((p) => (p as { offset: number }).offset),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(await broker.position('t'), { epoch: results[0]!.publication.epoch, offset: 5 });
      const other = await broker.appendAndPublish('u', { data: 'x', from: 'a' });
      assert.equal(other.publication.offset, 1, 'offsets are per topic');
      await dispose();
    });

    it('reads history after an offset with a limit, and reports its bounds', async () => {
      const { broker, dispose } = await factory({ ...defaults, maxCount: 4 });
      for (let i = 1; i <= 6; i++) await broker.appendAndPublish('h', { data: i, from: 'a' });
      const page = await broker.history('h', 0, 10);
      assert.deepEqual(
        page.publications.map((p) => p.data),
        [3, 4, 5, 6],
      );
      assert.equal(page.earliest, 3);
      assert.equal(page.latest, 6);
      const tail = await broker.history('h', 4, 1);
      assert.deepEqual(
        tail.publications.map((p) => p.offset),
        [5],
      );
      const empty = await broker.history('never', 0, 10);
      assert.deepEqual([empty.earliest, empty.latest, empty.publications.length], [1, 0, 0]);
      await dispose();
    });

    it('trims by age', async () => {
      let now = 1_000_000;
      const { broker, dispose } = await factory({ ...defaults, maxAgeMs: 1000, now: () => now });
      await broker.appendAndPublish('a', { data: 'old', from: 'x' });
      now += 2000;
      await broker.appendAndPublish('a', { data: 'new', from: 'x' });
      const page = await broker.history('a', 0, 10);
      assert.deepEqual(
        page.publications.map((p) => p.data),
        ['new'],
      );
      assert.equal(page.earliest, 2);
      await dispose();
    });

    it('answers a repeated idempotency key with the original and a changed payload with a conflict', async () => {
      let now = 5_000_000;
      const { broker, dispose } = await factory({ ...defaults, idempotencyTtlMs: 120_000, now: () => now });
      const seen: Publication[] = [];
      broker.onPublication((p) => seen.push(p));
      await broker.watch('i');
      const a = await broker.appendAndPublish('i', { data: { v: 1 }, from: 'x', idempotencyKey: 'k' });
      const b = await broker.appendAndPublish('i', { data: { v: 1 }, from: 'x', idempotencyKey: 'k' });
      assert.equal(b.duplicate, true);
      assert.equal(b.publication.offset, a.publication.offset);
      // A later publication arrives after anything the duplicate could have caused.
      await broker.appendAndPublish('i', { data: 'next', from: 'x' });
      await waitFor(() => seen.some((p) => p.data === 'next'), 5000, 'the next publication');
      assert.deepEqual(
        seen.map((p) => p.data),
        [{ v: 1 }, 'next'],
        'a duplicate is not delivered again',
      );
      await assert.rejects(
        broker.appendAndPublish('i', { data: { v: 2 }, from: 'x', idempotencyKey: 'k' }),
        IdempotencyConflictError,
      );
      now += 119_000;
      assert.equal(
        (await broker.appendAndPublish('i', { data: { v: 1 }, from: 'x', idempotencyKey: 'k' })).duplicate,
        true,
      );
      now += 2_000;
      const later = await broker.appendAndPublish('i', { data: { v: 1 }, from: 'x', idempotencyKey: 'k' });
      assert.equal(later.duplicate, false, 'keys expire after the ttl');
      await dispose();
    });

    it('delivers ephemeral publications without storing them', async () => {
      const { broker, dispose } = await factory(defaults);
      const seen: Publication[] = [];
      broker.onPublication((p) => seen.push(p));
      await broker.watch('e');
      await broker.publishEphemeral({ topic: 'e', data: 'typing', from: 'a', ts: Date.now() });
      await waitFor(() => seen.length >= 1, 5000, 'the ephemeral publication');
      assert.equal(seen.length, 1);
      assert.equal((await broker.position('e')).offset, 0);
      await dispose();
    });

    it('reports one epoch for a topic that was only read or watched, and its first append takes it', async () => {
      const { broker, dispose } = await factory(defaults);
      const read = await broker.history('unborn', 0, 10);
      assert.deepEqual([read.earliest, read.latest, read.publications.length], [1, 0, 0]);
      assert.equal((await broker.position('unborn')).epoch, read.epoch, 'reads agree on the epoch');
      await broker.watch('unborn');
      const watched = await broker.position('unborn');
      assert.deepEqual(watched, { epoch: read.epoch, offset: 0 });
      const first = await broker.appendAndPublish('unborn', { data: 1, from: 'a' });
      assert.deepEqual([first.publication.epoch, first.publication.offset], [read.epoch, 1]);
      await broker.unwatch('unborn');
      await dispose();
    });

    it('removes what expired, and a removed topic used again starts a new epoch', async () => {
      // Real time: a shared backend expires its keys by its own clock.
      const short = { ...defaults, maxAgeMs: 2000, idempotencyTtlMs: 2000 };
      const { broker, dispose } = await factory(short);
      const gone = await broker.appendAndPublish('gone', { data: 'old', from: 'a', idempotencyKey: 'k' });
      await sleep(1200);
      const young = await broker.appendAndPublish('young', { data: 'new', from: 'a' });
      await sleep(900);
      while (await broker.sweep(100));
      assert.deepEqual(await broker.position('young'), { epoch: young.publication.epoch, offset: 1 }, 'kept');
      const after = await broker.position('gone');
      assert.equal(after.offset, 0, 'the expired topic holds nothing');
      assert.notEqual(after.epoch, gone.publication.epoch, 'and is not under its old epoch');
      const again = await broker.appendAndPublish('gone', { data: 'again', from: 'a', idempotencyKey: 'k' });
      assert.equal(again.duplicate, false, 'its idempotency key went with it');
      assert.equal(again.publication.offset, 1);
      assert.notEqual(
        again.publication.epoch,
        gone.publication.epoch,
        'a client at the old epoch is told recovered: false',
      );
      const page = await broker.history('gone', 0, 10);
      assert.deepEqual(
        page.publications.map((p) => p.data),
        ['again'],
      );
      await dispose();
    });

    it('keeps a topic appended to more often than its maximum age, past the age of its first publication', async () => {
      // Real time: a shared backend expires its keys by its own clock (and may renew them only
      // now and then, never so late that a publication younger than maxAgeMs goes).
      const short = { ...defaults, maxAgeMs: 1500 };
      const { broker, dispose } = await factory(short);
      const first = await broker.appendAndPublish('busy', { data: 1, from: 'a' });
      for (const data of [2, 3, 4]) {
        await sleep(700);
        await broker.appendAndPublish('busy', { data, from: 'a' });
      }
      // 2.1 s after the first publication, 0 s after the last: the topic goes on under its epoch.
      assert.deepEqual(await broker.position('busy'), { epoch: first.publication.epoch, offset: 4 });
      const kept = (await broker.history('busy', 0, 10)).publications.map((p) => p.data);
      assert.equal(kept.at(-1), 4, `the last publication is kept: ${JSON.stringify(kept)}`);
      assert.ok(!kept.includes(1), 'the one older than maxAgeMs is trimmed');
      await dispose();
    });

    it('never restarts the offsets of a watched topic under its old epoch', async () => {
      const short = { ...defaults, maxAgeMs: 1000, idempotencyTtlMs: 1000 };
      const { broker, dispose } = await factory(short);
      await broker.watch('live');
      const first = await broker.appendAndPublish('live', { data: 1, from: 'a' });
      await sleep(1100);
      while (await broker.sweep(100));
      const position = await broker.position('live');
      // Kept under its subscribers (local backends), or moved to a new epoch (expired in Redis).
      if (position.epoch === first.publication.epoch) assert.equal(position.offset, 1);
      const next = await broker.appendAndPublish('live', { data: 2, from: 'a' });
      if (next.publication.epoch === first.publication.epoch) assert.equal(next.publication.offset, 2);
      await broker.unwatch('live');
      await dispose();
    });

    it('keeps epoch and history across a reopen (durable backends)', async () => {
      const { broker, reopen, dispose } = await factory(defaults);
      const first = await broker.appendAndPublish('d', { data: 1, from: 'a' });
      await broker.close();
      const again = reopen ? await reopen() : undefined;
      if (again) {
        assert.deepEqual(await again.position('d'), { epoch: first.publication.epoch, offset: 1 });
        assert.deepEqual(
          (await again.history('d', 0, 10)).publications.map((p) => p.data),
          [1],
        );
        await again.close();
      }
      await dispose();
    });
  });
}
