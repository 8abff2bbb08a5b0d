import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobRecord } from '../src/ports/job-store.js';
import { JobLine } from '../src/domain/jobs/line.js';
import { fitDelay } from '../src/domain/jobs/line-calibration.js';

/** Seeded uniform and standard normal draws, so a run is the same every time. */
function rng(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A queued job of type `t` the line needs: id, creation, and the run's estimate. */
function job(id: string, createdAt: number, estimate: JobRecord['estimate']): JobRecord {
  return { id, type: 't', createdAt, startedAt: null, runAfter: 0, status: 'queued', estimate } as unknown as JobRecord;
}

interface Outcome {
  round: number;
  /** Promised at creation: time from creation to the end, p50 and p90. */
  p50: number;
  p90: number;
  /** Time from creation to the end, and what it would be with no noise. */
  actual: number;
  nominal: number;
}

/**
 * A saturated queue, simulated on the line's own clock: bursts of 12 jobs created at once for 4
 * workers, each run 100 ms x lognormal(0.15); a worker takes `pickupMs` to pick up a job that
 * finds it idle, and `handoffMs` to come back for the next after a run. The line knows the runs'
 * estimate (p50 100 ms, p90 121 ms), not the latencies: it has to learn them. `shared`: the sigma
 * of a slowness all of a burst's runs and handoffs share (lognormal; a machine busier for a
 * while), 0 when each run's noise is its own.
 */
function saturated(
  bursts: number,
  pickupMs: number,
  handoffMs: number,
  seed = 7,
  young: { bursts: number; estimate: JobRecord['estimate'] } | null = null,
  shared = 0,
): Outcome[] {
  const r = rng(seed);
  const line = new JobLine();
  const grown = { p50Ms: 100, p90Ms: 121, source: 'history' as const, samples: 200 };
  const out: Outcome[] = [];
  let now = 1_000_000;
  for (let b = 0; b < bursts; b++) {
    const estimate = young && b < young.bursts ? young.estimate : grown;
    const jobs = Array.from({ length: 12 }, (_, k) => job(`${b}-${k}`, now, estimate));
    const promised = jobs.map((j) => {
      line.queued(j, now);
      const place = line.place(j, now);
      return place?.doneAt === undefined ? null : { p50: place.doneAt - now, p90: place.doneP90At! - now };
    });
    // The workers take the jobs in order: the first four as soon as they pick them up, the rest
    // when a worker comes back from its run.
    const slow = Math.exp(shared * r.normal());
    const free = [0, 1, 2, 3].map(() => now);
    const events: { at: number; kind: 'start' | 'end'; k: number }[] = [];
    const ends: number[] = [];
    jobs.forEach((_, k) => {
      const w = free.indexOf(Math.min(...free));
      const start =
        k < 4 ? now + pickupMs * (0.7 + 0.6 * r.uniform()) : free[w]! + slow * handoffMs * (0.7 + 0.6 * r.uniform());
      const end = start + slow * 100 * Math.exp(0.15 * r.normal());
      free[w] = end;
      events.push({ at: Math.round(start), kind: 'start', k }, { at: Math.round(end), kind: 'end', k });
      ends[k] = Math.round(end);
    });
    for (const e of events.sort((x, y) => x.at - y.at || (x.kind === 'end' ? -1 : 1))) {
      const j = jobs[e.k]!;
      if (e.kind === 'start') {
        j.status = 'running';
        j.startedAt = e.at;
        line.started(j, e.at);
      } else {
        j.status = 'succeeded';
        line.ended(j, e.at);
      }
    }
    jobs.forEach((_, k) => {
      const p = promised[k];
      const round = Math.floor(k / 4);
      const nominal = pickupMs + round * (100 + handoffMs) + 100;
      if (p) out.push({ round, p50: p.p50, p90: p.p90, actual: ends[k]! - now, nominal });
    });
    now = Math.max(...ends) + 50;
  }
  return out;
}

function score(runs: Outcome[]): { coverage: number; error: number; floor: number } {
  const coverage = runs.filter((o) => o.actual <= o.p90).length / runs.length;
  const error = median(runs.map((o) => Math.abs(o.p50 - o.actual) / o.actual));
  const floor = median(runs.map((o) => Math.abs(o.nominal - o.actual) / o.actual));
  return { coverage, error, floor };
}

describe('the wait in line', () => {
  it('learns a start delay as a fixed part plus a part per round of the workers waited', () => {
    const starts = Array.from({ length: 60 }, (_, i) => ({
      rounds: i % 3,
      errorMs: 30 + 25 * (i % 3) + ((i * 7) % 5) - 2,
    }));
    const fit = fitDelay(starts);
    assert.ok(Math.abs(fit.fixedMs - 30) <= 3, `fixed ${fit.fixedMs}`);
    assert.ok(Math.abs(fit.perRoundMs - 25) <= 3, `per round ${fit.perRoundMs}`);
    // All at one number of rounds: one delay, no slope.
    assert.deepEqual(fitDelay(starts.filter((s) => s.rounds === 1)).perRoundMs, 0);
  });

  describe('when bursts of jobs queue for fewer workers, with latencies the schedule does not know', () => {
    for (const [pickup, handoff] of [
      [40, 30],
      [5, 60],
      [80, 5],
    ] as const) {
      it(`promises "done at" whose p90 holds for about 9 in 10 and whose p50 is as close as an oracle's (pickup ${pickup} ms, handoff ${handoff} ms)`, () => {
        const runs = saturated(40, pickup, handoff).slice(5 * 12);
        const { coverage, error, floor } = score(runs);
        assert.ok(coverage >= 0.85 && coverage <= 0.97, `p90 coverage ${coverage}`);
        assert.ok(error <= 1.25 * floor, `median p50 error ${error.toFixed(3)}, oracle ${floor.toFixed(3)}`);
        for (const round of [0, 1, 2]) {
          const c = score(runs.filter((o) => o.round === round)).coverage;
          assert.ok(c >= 0.75, `p90 coverage of the jobs ${round} rounds back: ${c}`);
        }
      });
    }

    it('promises each place in a round of the workers its own start: the first to wait starts when the first run ahead ends', () => {
      // 12 jobs on 4 workers: the 5th starts when the first of the 4 runs ahead ends, the 8th
      // when the last does. Promised one start for all four, the 5th was told 9-13 ms too late
      // and the 8th 17-27 ms too early (the 12th 30-36 ms), in these three latency settings.
      for (const [pickup, handoff] of [
        [40, 30],
        [5, 60],
        [80, 5],
      ] as const) {
        const byPlace: number[][] = Array.from({ length: 12 }, () => []);
        for (let seed = 1; seed <= 4; seed++)
          saturated(40, pickup, handoff, seed)
            .slice(5 * 12)
            .forEach((o, i) => byPlace[i % 12]!.push(o.p50 - o.actual));
        const off = byPlace.map((errors) => median(errors));
        assert.ok(
          off.every((ms) => Math.abs(ms) <= 15),
          `median p50 - actual per place (ms): ${off.map((ms) => ms.toFixed(0)).join(' ')}`,
        );
      }
    });

    it("keeps its promises once the type's model has grown, not dragged off by a young model's errors", () => {
      // A cold node: the first 3 bursts are promised from a model of 12 slow first runs (p50
      // 500 ms where runs take 100), then from a grown one. The ends promised then were 4x too
      // late; calibrating by them promised the next jobs an end 1 ms after creation.
      const young = { bursts: 3, estimate: { p50Ms: 500, p90Ms: 800, source: 'history' as const, samples: 12 } };
      const runs = saturated(12, 40, 30, 7, young).slice(4 * 12);
      const { coverage, error, floor } = score(runs);
      assert.ok(coverage >= 0.85 && coverage <= 0.97, `p90 coverage ${coverage}`);
      assert.ok(error <= 1.25 * floor, `median p50 error ${error.toFixed(3)}, oracle ${floor.toFixed(3)}`);
    });

    it('holds its p90 for about 9 in 10 when the jobs of a burst run slow together', () => {
      // Each burst's runs and handoffs share a slowness (sigma 0.3, on top of each run's own
      // 0.15): a burst's jobs miss together, and 100 scores are the evidence of 9 bursts, not of
      // 100 jobs. Read as 100 apart, the p90 held for 86.3 % of the jobs of these 12 seeds' 12
      // bursts after the first 2 (73 % for the worst seed); counted by burst, for 90.7 %.
      let covered = 0;
      let jobs = 0;
      for (let seed = 1; seed <= 12; seed++) {
        const runs = saturated(14, 5, 10, seed, null, 0.3).slice(2 * 12);
        covered += runs.filter((o) => o.actual <= o.p90).length;
        jobs += runs.length;
      }
      const coverage = covered / jobs;
      assert.ok(coverage >= 0.88 && coverage <= 0.95, `p90 coverage ${coverage.toFixed(3)}`);
    });

    it("never promises an end surer than the run it ends with, while the runs' spread narrows", () => {
      // The first 4 bursts are promised from a model of 24 runs whose p90 leans wide (165 ms for
      // a p50 of 100), then from one of 200 (121 ms). The ends promised wide held by far; scaled
      // by those scores, the next promises' p90 fell to 12-19 ms past their p50 on each of 8 seeds,
      // tighter than the 21 ms of the run alone (bench:eta's saturated family: 10 of 12 late).
      const wide = { bursts: 4, estimate: { p50Ms: 100, p90Ms: 165, source: 'history' as const, samples: 24 } };
      for (const seed of [1, 2, 3, 4]) {
        const after = saturated(10, 40, 30, seed, wide).slice(4 * 12);
        const tightest = Math.min(...after.map((o) => o.p90 - o.p50));
        assert.ok(tightest >= 21, `seed ${seed}: a p90 ${tightest} ms past its p50`);
      }
    });
  });
});
