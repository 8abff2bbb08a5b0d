import type { JobLineCalibration } from '@inloop/protocol';
import { ascending, conformalQuantile, median } from './duration-model.js';

/** Queued jobs remembered per type to calibrate the line's promises. */
const WINDOW = 100;
/** Queued jobs seen before the line corrects its own promises. */
const MIN_SEEN = 10;
/** Each start is paired with this many later ones for the slope of the delay per round. */
const SLOPE_PARTNERS = 10;
/** Step of the adaptive level of p90 per job that queued (as the run's p90: Gibbs and Candes). */
const ACI_STEP = 0.01;
/**
 * A promise whose run estimate came from fewer runs than this erred as a young model errs (a
 * cold node's first runs are slow, and p50 moves a lot from run to run): its score is set aside
 * once the type's model rests on this many runs, or it drags the next promises off (a bench's
 * first 12 runs, 5x slower than the rest, had the next jobs promised an end 1 ms away).
 */
const GROWN_RUNS = 20;

/** How the promises to a type's queued jobs held (`GET /v1/job-types/{type}`, `line.calibration`): the wire's shape. */
export type LineCalibration = JobLineCalibration;

/** The first promise a queued job got (at creation), kept until it starts and ends. */
export interface Promised {
  createdAt: number;
  /** Whether a slot was idle for it (it waited only for a worker to pick it up). */
  idle: boolean;
  /** Rounds of the workers it waits: 0 when a slot was idle, 1 when it waits for a run, ... */
  rounds: number;
  /** The start the line's schedule gave, before the learned start delay. */
  scheduledStart: number;
  /** The end it was promised before calibration (p50), and the spread of that (p90 - p50). */
  doneP50At: number;
  spreadMs: number;
  /** The p90 end it was promised (after calibration). */
  doneP90At: number;
  /** Runs the run estimate it rests on came from. */
  runs: number;
  /** The moment it was promised at: promises made together share it ({@link PromiseCalibration.groupOf}). */
  group: number;
}

/**
 * How the line's promises to queued jobs held, and the corrections that follow:
 * - the start delay: the schedule knows the runs ahead and the typical handoff, but not every
 *   latency between a slot freeing (or a job being created) and a worker's lease landing (an
 *   HTTP worker's long poll answering, its next request, a run ending later than its p50 when
 *   the line is full). The observed start minus the scheduled one, of recent queued jobs, is
 *   fitted as a fixed part plus a part per round of the workers waited (Theil-Sen, robust to a
 *   few stalls), and added to the scheduled start;
 * - the end: split conformal on the end-to-end promise (wait and run). Each queued job that
 *   succeeded scores (actual end - promised p50 end) / promised spread; p50 and p90 of the next
 *   promise are the promised p50 plus its spread times those quantiles of the scores, so the
 *   promise holds its coverage whatever the line's model missed, scaled to each job's own
 *   uncertainty (a job three rounds back spreads more than one that starts now). The p90 level
 *   moves after misses as the run's p90 does. Scores of jobs promised at one moment (a burst)
 *   count as one piece of evidence in the p90's rank ({@link PromiseCalibration.groupOf}): they
 *   wait behind the same runs through the same stretch of the machine, and miss together. In
 *   bench:eta's saturated family (bursts of 12 on 4 workers) about half the variance of an end's
 *   error was its burst's, shared by its 12 jobs; read as 100 jobs apart, the scores of some 12
 *   bursts set a p90 the next jobs stayed within 88.0 % of the time (12 runs; the level climbing
 *   meanwhile, each step paid for with misses), and 90.4 % counted by burst (12 runs alternating
 *   with those).
 */
export class PromiseCalibration {
  readonly #starts: { rounds: number; errorMs: number; runs: number }[] = [];
  /**
   * Scores of the jobs that found a slot idle, and of those that waited for a run (Mondrian),
   * each with the runs its promise's run estimate came from.
   */
  readonly #scores: [Scored[], Scored[]] = [[], []];
  readonly #checked: { covered: boolean; error: number }[] = [];
  #level = 0.9;
  /** The start delay fitted to the starts of promises from at least `runs` runs, cached. */
  #delay: { runs: number; fixedMs: number; perRoundMs: number } | null = null;
  /** The least runs of the promises the last start delay was read from (for the summary). */
  #least = GROWN_RUNS;
  /**
   * The scores ascending and how many moments they were promised at, cached: idle, waited, all;
   * of promises from at least `runs` runs.
   */
  #sorted: { runs: number; scores: [Sorted, Sorted, Sorted] } | null = null;
  /** The moment promises are being made at now, and when it began. */
  #group = 0;
  #groupAt = -Infinity;

  /**
   * The moment a promise made `now` belongs to: promises made within a typical run (`spanMs`) of
   * the first of a moment share it. Jobs promised together wait behind the same runs and run
   * through the same stretch of the machine, so they miss together: a burst of 12 jobs made
   * slow by one pause of the machine missed in 5 to 10 of its 12 promises at once in bench:eta.
   */
  groupOf(now: number, spanMs: number): number {
    if (now - this.#groupAt > spanMs || now < this.#groupAt) {
      this.#group++;
      this.#groupAt = now;
    }
    return this.#group;
  }

  /** A queued job started: how far its start was from the scheduled one. */
  started(p: Promised, now: number): void {
    this.#starts.push({ rounds: p.rounds, errorMs: now - p.scheduledStart, runs: p.runs });
    if (this.#starts.length > WINDOW) this.#starts.shift();
    this.#delay = null;
  }

  /** A queued job succeeded: score its end against the end it was promised. */
  ended(p: Promised, now: number): void {
    const scores = this.#scores[p.idle ? 0 : 1];
    scores.push({ score: (now - p.doneP50At) / Math.max(1, p.spreadMs), runs: p.runs, group: p.group });
    if (scores.length > WINDOW) scores.shift();
    this.#sorted = null;
    const covered = now <= p.doneP90At;
    this.#checked.push({ covered, error: Math.abs(p.doneP50At - now) / Math.max(1, now - p.createdAt) });
    if (this.#checked.length > WINDOW) this.#checked.shift();
    this.#level = Math.min(0.97, Math.max(0.85, this.#level + ACI_STEP * ((covered ? 0 : 1) - 0.1)));
  }

  /** How the promises held lately. */
  summary(): LineCalibration {
    const n = this.#checked.length;
    const delay = this.#delayOf(this.#least);
    return {
      jobs: n,
      p90Coverage: n ? this.#checked.filter((c) => c.covered).length / n : null,
      medianAbsP50Error: n ? median(this.#checked.map((c) => c.error)) : null,
      startDelay: { fixedMs: Math.round(delay.fixedMs), perRoundMs: Math.round(delay.perRoundMs) },
    };
  }

  /**
   * The start delay to add to a scheduled start `rounds` rounds of the workers away, for a
   * promise whose run estimate comes from `runs` runs (a young model's starts are set aside as
   * its scores are: their schedule was the young model's).
   */
  startDelay(rounds: number, runs: number): number {
    this.#least = Math.min(GROWN_RUNS, runs);
    const delay = this.#delayOf(this.#least);
    return Math.round(delay.fixedMs + delay.perRoundMs * rounds);
  }

  /** The start delay fitted to the starts of promises from at least `least` runs (0 before 10). */
  #delayOf(least: number): { fixedMs: number; perRoundMs: number } {
    if (this.#delay?.runs !== least) {
      const starts = this.#starts.filter((s) => s.runs >= least);
      const fit = starts.length >= MIN_SEEN ? fitDelay(starts) : { fixedMs: 0, perRoundMs: 0 };
      this.#delay = { runs: least, ...fit };
    }
    return this.#delay;
  }

  /**
   * The calibrated p50 and p90 of the time to the end, from the line's own (p50, spread), from
   * the scores of jobs like it: those that found a slot idle (their error is a worker's pickup)
   * apart from those that waited for runs (theirs, the runs and handoffs before them), each once
   * it has {@link MIN_SEEN} scores, else all together. `runs`: the runs this promise's run
   * estimate comes from; once there are {@link GROWN_RUNS}, promises from a younger model are
   * not scores of this one.
   */
  done(base: { p50Ms: number; spreadMs: number }, idle: boolean, runs: number): { p50Ms: number; p90Ms: number } {
    const least = Math.min(GROWN_RUNS, runs);
    if (this.#sorted?.runs !== least) {
      const of = (xs: Scored[]) => xs.filter((x) => x.runs >= least);
      const [idleScores, waited] = [of(this.#scores[0]), of(this.#scores[1])];
      this.#sorted = {
        runs: least,
        scores: [sortedOf(idleScores), sortedOf(waited), sortedOf([...idleScores, ...waited])],
      };
    }
    const own = this.#sorted.scores[idle ? 0 : 1];
    const { scores: sorted, groups } = own.scores.length >= MIN_SEEN ? own : this.#sorted.scores[2];
    if (sorted.length < MIN_SEEN) return { p50Ms: base.p50Ms, p90Ms: Math.round(base.p50Ms + base.spreadMs) };
    const spread = Math.max(1, base.spreadMs);
    const p50Ms = Math.max(1, Math.round(base.p50Ms + spread * conformalQuantile(sorted, 0.5)));
    // The scores of jobs promised together count as one (see groupOf): their misses come together.
    const p90Ms = Math.max(p50Ms, Math.round(base.p50Ms + spread * conformalQuantile(sorted, this.#level, groups)));
    return { p50Ms, p90Ms };
  }
}

/** A queued job's end against its promise, in units of its spread; the runs the promise rested on; its moment. */
interface Scored {
  score: number;
  runs: number;
  group: number;
}

/** Scores ascending, and how many moments they were promised at. */
interface Sorted {
  scores: Float64Array;
  groups: number;
}

const sortedOf = (xs: readonly Scored[]): Sorted => ({
  scores: ascending(xs.map((x) => x.score)),
  groups: new Set(xs.map((x) => x.group)).size,
});

/** Start error = fixedMs + perRoundMs x rounds, Theil-Sen over the recent starts (oldest first). */
export function fitDelay(starts: readonly { rounds: number; errorMs: number }[]): {
  fixedMs: number;
  perRoundMs: number;
} {
  const slopes: number[] = [];
  for (let i = 0; i < starts.length; i++)
    for (let j = i + 1; j < Math.min(starts.length, i + 1 + SLOPE_PARTNERS); j++) {
      const dx = starts[j]!.rounds - starts[i]!.rounds;
      if (dx !== 0) slopes.push((starts[j]!.errorMs - starts[i]!.errorMs) / dx);
    }
  // Too few starts at another number of rounds to tell a slope: one delay for all.
  const perRoundMs = slopes.length >= MIN_SEEN ? median(slopes) : 0;
  return { fixedMs: median(starts.map((s) => s.errorMs - perRoundMs * s.rounds)), perRoundMs };
}
