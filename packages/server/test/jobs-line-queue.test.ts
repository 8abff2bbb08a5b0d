import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { JobRecord } from '../src/ports/job-store.js';
import { JobLine } from '../src/domain/jobs/line.js';
import { LineQueue } from '../src/domain/jobs/line-queue.js';

interface E {
  p50Ms: number;
  variance: number;
  since: number;
}

describe('the line of queued jobs', () => {
  it('keeps positions and sums of any line as a plain array would, through joins and leaves anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              op: fc.constant('push' as const),
              id: fc.integer({ min: 0, max: 40 }),
              ms: fc.integer({ min: 0, max: 1000 }),
            }),
            fc.record({ op: fc.constant('front' as const) }),
            fc.record({ op: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 40 }) }),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          const q = new LineQueue<E>();
          const ref: { id: string; e: E }[] = [];
          for (const o of ops) {
            if (o.op === 'push') {
              const id = String(o.id);
              const at = ref.findIndex((x) => x.id === id);
              if (at >= 0) ref.splice(at, 1);
              const e = { p50Ms: o.ms, variance: o.ms * 2, since: 0 };
              ref.push({ id, e });
              q.push(id, e);
            } else if (o.op === 'front') {
              const first = ref.shift();
              assert.equal(q.first()?.id, first?.id);
              if (first) assert.equal(q.delete(first.id), true);
            } else {
              const id = String(o.id);
              const at = ref.findIndex((x) => x.id === id);
              if (at >= 0) ref.splice(at, 1);
              assert.equal(q.delete(id), at >= 0);
            }
            assert.equal(q.size, ref.length);
          }
          ref.forEach((x, i) => assert.equal(q.ahead(x.id), i));
          assert.equal(q.ahead('absent'), -1);
          assert.deepEqual(
            [...q.front(5)],
            ref.slice(0, 5).map((x) => x.e),
          );
          for (let from = 0; from <= ref.length; from += 3)
            for (let to = from; to <= ref.length; to += 4) {
              const part = ref.slice(from, to);
              assert.deepEqual(q.sums(from, to), {
                p50Ms: part.reduce((a, x) => a + x.e.p50Ms, 0),
                variance: part.reduce((a, x) => a + x.e.variance, 0),
              });
            }
        },
      ),
      { numRuns: 200, seed: 20261201 },
    );
  });

  it('tells the last of 50,000 queued jobs its place, and the places move up as the front is leased', () => {
    const line = new JobLine();
    const estimate = { p50Ms: 1000, p90Ms: 1500, source: 'history', samples: 50 } as JobRecord['estimate'];
    const job = (i: number, status: 'queued' | 'running' = 'queued') =>
      ({
        id: `j${i}`,
        type: 't',
        createdAt: 0,
        startedAt: status === 'running' ? 0 : null,
        runAfter: 0,
        status,
        estimate,
      }) as unknown as JobRecord;
    for (let i = 0; i < 4; i++) line.started(job(i, 'running'), 0);
    for (let i = 4; i < 50_004; i++) line.queued(job(i), 0);
    const last = line.place(job(50_003), 0)!;
    assert.equal(last.position, 50_000);
    // 50,000 runs of 1 s on 4 workers: about 12,500 s from now.
    assert.ok(last.startAt! > 12_000_000 && last.startAt! < 13_500_000, String(last.startAt));
    // Lease the first 1,000 (and one from the middle, cancelled): the last moves up 1,001 places.
    for (let i = 4; i < 1004; i++) line.started(job(i, 'running'), 0);
    for (let i = 4; i < 1004; i++) line.ended({ id: `j${i}`, type: 't', status: 'succeeded' }, 0);
    line.ended({ id: 'j20000', type: 't', status: 'cancelled' }, 0);
    assert.equal(line.place(job(50_003), 0)!.position, 48_999);
    assert.equal(line.place(job(20_001), 0)!.position, 18_997);
    assert.equal(line.place(job(20_000), 0), null);
  });
});
