import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressCurve, type JobSnapshot } from '@inloop/protocol';
import { ProgressClock } from '../src/job-progress-clock.js';
import { eased, localView, timeLeftInWords, uneased } from '../src/local-progress.js';

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
    assert.equal(timeLeftInWords(localView(s, 25_000)), 'taking longer than usual');
    // Counted down to the typical duration, then held; never under a second while the node says more.
    assert.equal(localView(s, 25_000).remainingMs, 1000);
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

/** The standard normal CDF (Abramowitz and Stegun 7.1.26) and its inverse (bisection). */
const phi = (x: number) => {
  const t = 1 / (1 + 0.3275911 * Math.abs(x / Math.SQRT2));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
};
const phiInverse = (p: number) => {
  let lo = -8;
  let hi = 8;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (phi(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
};

/**
 * The node's time left for estimated progress (duration-model.ts, remainingGiven, on a lognormal
 * through p50 and p90): the median of what remains for the runs that lasted `elapsedMs`, held
 * where it would rise; past p90 at least 0.4 of the overrun past p50 and a second.
 */
function nodeLeft(elapsedMs: number, p50Ms: number, p90Ms: number): number {
  const sigma = Math.log(p90Ms / p50Ms) / 1.2816;
  const residual = (t: number) => {
    const survived = 1 - phi(Math.log(Math.max(1, t) / p50Ms) / sigma);
    return p50Ms * Math.exp(sigma * phiInverse(1 - survived / 2)) - t;
  };
  let held = Infinity;
  for (let t = 0; t <= elapsedMs; t += 250) held = Math.min(held, residual(t));
  const left = Math.min(held, residual(elapsedMs));
  return Math.round(elapsedMs > p90Ms ? Math.max(left, 0.4 * (elapsedMs - p50Ms), 1000) : left);
}

/** What the node sends at `elapsedMs` into a job with no plan, by its rules (progress.ts). */
function nodeSays(elapsedMs: number, p50Ms = 15_000, p90Ms = 20_000): JobSnapshot {
  return running(progressCurve(elapsedMs / p50Ms), elapsedMs, {
    eta: { remainingMs: nodeLeft(elapsedMs, p50Ms, p90Ms), p50Ms, p90Ms, basis: { source: 'history', samples: 9 } },
    flags: { slowerThanUsual: elapsedMs > p90Ms, likelyStuck: false },
  });
}

describe('the local clock agrees with the node', () => {
  it('never runs an estimate ahead of the node when its ETA is short: the bar moves at the rate of its estimate', () => {
    // A plan job: 10 % in, the node's ETA says 5 s (its stages' history), the whole job 100 s.
    const s = running(0.1, 10_000, {
      eta: { ...running(0, 0).eta!, remainingMs: 5000, p50Ms: 100_000, p90Ms: 150_000 },
    });
    // Five seconds on, the node's estimate is at most 15 %; it was drawn at 90 %+.
    assert.ok(localView(s, 5000).fraction <= 0.15 + 1e-9, `${localView(s, 5000).fraction}`);
    // With the rate seen between two updates, it goes exactly as fast as that.
    const seen = localView(s, 5000, { estimatedRatePerMs: 0.02 / 5000 }).fraction;
    assert.ok(Math.abs(seen - 0.12) < 1e-9, `${seen}`);
  });

  it('moves measured progress on towards its next step and never past it', () => {
    const s = running(0.19, 40_000, { progress: { fraction: 0.19, measured: true } });
    const hint = { measuredStep: 0.1 };
    const a = localView(s, 2000, hint).fraction;
    const b = localView(s, 8000, hint).fraction;
    assert.ok(a > 0.19 && b > a, `moves: ${a}, ${b}`);
    assert.ok(localView(s, 600_000, hint).fraction <= 0.29 + 1e-9, 'never past the next expected value');
    assert.equal(localView(s, 600_000).fraction, 0.19, 'without a step seen, it holds');
    // The node repeats the fraction 5 s on: the bar carries on from where it was, not back to 19 %.
    const again = running(0.19, 45_000, { progress: { fraction: 0.19, measured: true } });
    const repeated = localView(again, 0, { ...hint, measuredSinceElapsedMs: 40_000 }).fraction;
    assert.ok(Math.abs(repeated - localView(s, 5000, hint).fraction) < 1e-9, `${repeated}`);
  });

  it('counts the time left of measured progress as the node does, so an update does not move it back up', () => {
    // Half done in 40 s: the node says 40 s left; 5 s later, still half done, it says 45 s.
    const at40 = running(0.5, 40_000, {
      progress: { fraction: 0.5, measured: true },
      eta: { ...running(0, 0).eta!, remainingMs: 40_000, p50Ms: 80_000, p90Ms: 120_000 },
    });
    assert.equal(localView(at40, 5000).remainingMs, 45_000);
    assert.equal(timeLeftInWords(localView(at40, 5000)), 'about 45 s left');
  });

  it('an overrun: one set of words that never flips back, and a bar that keeps creeping below 100 %', () => {
    // The node updates every 2.5 s; the element draws every 250 ms in between.
    const words: string[] = [];
    const shown: number[] = [];
    let top = 0;
    for (let t = 10_000; t <= 120_000; t += 2500) {
      const s = nodeSays(t);
      for (let since = 0; since < 2500; since += 250) {
        const v = localView(s, since);
        top = Math.max(top, v.fraction);
        shown.push(top);
        const w = timeLeftInWords(v);
        if (words.at(-1) !== w) words.push(w);
        assert.ok(v.fraction < 1);
        assert.ok(!(v.overdue && w !== 'taking longer than usual'), `${t + since}: ${w}`);
      }
      // Never ahead of what the node says next (within rounding).
      assert.ok(top <= nodeSays(t + 2500).progress.fraction + 1e-9, `${t}: ${top}`);
    }
    const slow = words.indexOf('taking longer than usual');
    assert.ok(slow > 0, words.join(' | '));
    assert.equal(slow, words.length - 1, `no flip back: ${words.join(' | ')}`);
    assert.ok(!words.includes('almost done…'), words.join(' | '));
    // Through two minutes past a 15 s job's usual length the bar still moves every 10 s (by at
    // least 0.05 %: a pixel each 20 s on a 1000 px bar; the old exponential was flat at 98-99 %).
    for (let i = 40; i + 40 < shown.length; i += 40)
      assert.ok(shown[i + 40]! - shown[i]! > 0.0005, `${i}: ${shown[i]} -> ${shown[i + 40]}`);
  });
});

describe("the element's clock", () => {
  it('shows a time left that only goes down from the start of a run until it is late, across the node updates', () => {
    let clock = 0;
    const realNow = performance.now.bind(performance);
    performance.now = () => clock;
    try {
      const pc = new ProgressClock();
      const seen: number[] = [];
      let lateAt: number | null = null;
      // Updates every 2.5 s (the node's cadence at most 5 s), frames every 250 ms between them.
      for (let t = 0; t <= 30_000; t += 2500) {
        const s = nodeSays(t);
        pc.arrive(s);
        for (let since = 0; since < 2500; since += 250) {
          clock = t + since;
          const { view } = pc.now(s);
          if (view.overdue) lateAt ??= t + since;
          else seen.push(view.remainingMs!);
        }
        clock = t + 2500;
      }
      assert.ok(lateAt !== null && lateAt > 20_000, `late at ${lateAt}`);
      for (let i = 1; i < seen.length; i++)
        assert.ok(seen[i]! <= seen[i - 1]!, `frame ${i}: ${seen[i - 1]} -> ${seen[i]}`);
      // And it does move: from about the typical run down to a few seconds.
      assert.ok(seen[0]! >= 14_000 && seen.at(-1)! <= 6000, `${seen[0]} ... ${seen.at(-1)}`);
    } finally {
      performance.now = realNow;
    }
  });
});
