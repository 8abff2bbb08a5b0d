import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobSnapshot } from '@inloop/protocol';
import { eased, localView, uneased } from '../src/local-progress.js';

/** A running job with estimated progress: typical 20 s, slow 30 s, `elapsedMs` in. */
function running(fraction: number, elapsedMs: number, over: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    id: 'j1',
    type: 't',
    status: 'running',
    topic: 'job:j1',
    stage: null,
    progress: { fraction, measured: false },
    eta: {
      remainingMs: Math.max(0, 20_000 - elapsedMs),
      p50Ms: 20_000,
      p90Ms: 30_000,
      basis: { source: 'history', samples: 9 },
    },
    flags: { slowerThanUsual: false, likelyStuck: false },
    message: null,
    attempt: 1,
    maxAttempts: 1,
    strategy: 'progress',
    createdAt: 0,
    startedAt: 0,
    finishedAt: null,
    elapsedMs,
    cancelRequested: false,
    partials: [],
    epoch: 'e',
    offset: 1,
    ...over,
  };
}

describe('progress between the node updates', () => {
  it('starts exactly where the node said, then moves on with the clock', () => {
    const s = running(0.25, 5000);
    assert.equal(localView(s, 0).fraction, 0.25);
    const later = [250, 1000, 2500, 5000].map((ms) => localView(s, ms).fraction);
    for (let i = 1; i < later.length; i++) assert.ok(later[i]! > later[i - 1]!, `moves: ${later.join(', ')}`);
    assert.equal(localView(s, 2500).remainingMs, 12_500, 'the time left counts down');
  });

  it('never reaches 100 % however long the job overruns, and keeps creeping past 97 %', () => {
    const s = running(0.5, 10_000);
    const at = (ms: number) => localView(s, ms).fraction;
    assert.ok(at(10_000) <= 0.95, `about the ETA: ${at(10_000)}`);
    assert.ok(at(60_000) < 0.98, `three job lengths in: ${at(60_000)}`);
    assert.ok(at(600_000) < 1);
    assert.ok(at(120_000) > at(60_000), 'still moving long after');
  });

  it('says it is taking longer than usual past the slow duration, and counts no time below zero', () => {
    const s = running(0.5, 10_000);
    assert.equal(localView(s, 10_000).overdue, false);
    assert.equal(localView(s, 25_000).overdue, true);
    assert.equal(localView(s, 25_000).remainingMs, 0);
  });

  it('picks up a fraction the node eased past 90 % where it stands on the curve', () => {
    for (const f of [0.91, 0.95, 0.98]) assert.ok(Math.abs(eased(uneased(f)) - f) < 1e-9, `${f}`);
    const s = running(0.96, 40_000, { eta: { ...running(0, 0).eta!, remainingMs: 0 } });
    assert.equal(localView(s, 0).fraction, 0.96);
    assert.ok(localView(s, 5000).fraction > 0.96);
  });

  it('does not extrapolate measured progress, and shows 100 % only when the job succeeded', () => {
    const measured = running(0.4, 8000, { progress: { fraction: 0.4, measured: true } });
    assert.equal(localView(measured, 5000).fraction, 0.4);
    assert.equal(localView(running(0.99, 60_000, { status: 'succeeded' }), 0).fraction, 1);
    assert.ok(localView(running(0.99, 60_000), 60_000).fraction < 1);
  });
});
