/**
 * How long a job takes, as a distribution learned from finished runs: a fixed part plus a part
 * per unit of size (`ms = fixedMs + perUnitMs x size`), fitted robustly, times a multiplicative
 * error whose distribution is the model's own errors on recent runs. Pure functions; the
 * {@link Estimator} feeds them samples and keeps the calibration state.
 *
 * Why this shape: a pure ms-per-unit ratio is wrong for small jobs (they pay a fixed cost), and
 * nearest-rank percentiles of raw durations cover less than they claim on a few samples. The
 * errors are taken as ratios (actual / predicted) because work-time noise is multiplicative: a
 * job twice as big wobbles twice as much.
 */

/** The least a model needs from a finished run. */
export interface RunSample {
  ms: number;
  /** Size-hint value, when the run had one. */
  size: number | null;
  /**
   * When the run ended (ms since the epoch), so runs that overlapped in time are known (it began
   * at `at - ms`); absent or null when unknown, and then it never holds a change of speed back.
   */
  at?: number | null;
}

/** `ms = fixedMs + perUnitMs x size` (perUnitMs is 0 for types without sizes). */
export interface DurationFit {
  fixedMs: number;
  perUnitMs: number;
}

/** A fit and the errors it made on the runs it was fitted to. */
export interface DurationModel {
  fit: DurationFit;
  /** actual / predicted of the runs used, ascending. */
  ratios: number[];
  /** Runs used: the newest ones, or only those since a detected change of speed. */
  samples: number;
  /** True when the type's speed changed lately and older runs were set aside. */
  shifted: boolean;
}

/** Levels of {@link DurationModel} curves: 0, 0.05, ... 1. */
export const CURVE_LEVELS: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);

/** Each run's slope is taken against this many later runs (all pairs grow with the square). */
const SLOPE_PARTNERS = 10;
/** Newest runs that must all err the same way before older runs are set aside. */
const SHIFT_RUN = 5;
/** ... by at least this factor in the median. */
const SHIFT_FACTOR = 1.25;
/**
 * ... and their mean lies this many standard errors past the runs before (their robust spread,
 * over the square root of the runs since). The newest runs of a stationary type erred that way
 * by chance in about 1 window of 1,000 (lognormal, sigma 0.05 to 0.4: 15 of 16,000), by 2.3 to 4.7
 * standard errors; this keeps 4 in 5 of those out, and notices a 2x change at most a run later.
 */
const SHIFT_Z = 4;
/** Or: newest runs that each lie beyond every older run, the same way. */
const SHIFT_CLEAR_RUN = 3;
/** A gradual or small change of speed: both sides of the split have at least this many runs. */
const DRIFT_MIN_RUNS = 20;
/** ... and the runs since differ from those before by this many standard errors (rank test). */
const DRIFT_Z = 5;
/** With fewer runs than this since a change, their spread is borrowed from the runs before it. */
const OWN_SHAPE_RUNS = 30;
/** The level (where p50 sits) is read from this many newest runs; the spread from all used. */
const LEVEL_RUNS = 50;

/** Median of numbers (any order); 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  return quantile(ascending(values), 0.5);
}

/**
 * `values` ascending, as a new typed array: its sort compares numbers natively, where an array's
 * calls a comparator per comparison (a thousand values: 20-40 µs against 145; the line's start
 * delay takes the median of up to a thousand slopes).
 */
export function ascending(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** Linearly interpolated quantile (type 7) of an ascending array. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const at = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/**
 * The quantile at `q` that holds on a next run with probability at least `q` (split conformal
 * rank `ceil((n + 1) q)`): with few samples it leans up, up to the largest one seen.
 *
 * `groups`: how many groups of samples that err together the samples come in (default: each
 * sample its own). Samples that share their error (the jobs of one burst, slow together when
 * the machine was) are one piece of evidence, not many: the next sample's group is one more of
 * `groups + 1`, so the rank is `q (groups + 1)` groups' worth of the samples. Where a burst's
 * jobs all err alike, 100 samples from 8 bursts counted one by one read a p90 between the 7th
 * and 8th bursts' errors, which a 9th burst stays within about 8 times in 10; counted by burst,
 * the largest.
 */
export function conformalQuantile(sorted: ArrayLike<number>, q: number, groups = sorted.length): number {
  const n = sorted.length;
  if (n === 0) return 1;
  const g = Math.min(n, Math.max(1, groups));
  return quantile(sorted, Math.min(1, ((q * (g + 1) * n) / g - 1) / Math.max(1, n - 1)));
}

/**
 * A quantile averaged over nearby levels (q +- 0.04), the extremes kept: a few hundred runs leave
 * steps in the raw quantile function, and remaining time read from steps jumps about.
 */
export function smoothQuantile(sorted: readonly number[], q: number): number {
  if (q <= 0 || q >= 1) return quantile(sorted, q);
  const levels = [-0.04, -0.02, 0, 0.02, 0.04].map((d) => Math.min(1, Math.max(0, q + d)));
  return levels.reduce((sum, l) => sum + quantile(sorted, l), 0) / levels.length;
}

/** The predicted typical duration of a run of `size`. */
export function predict(fit: DurationFit, size: number | null): number {
  return fit.fixedMs + fit.perUnitMs * (size ?? 0);
}

/**
 * Theil-Sen: the slope is the median of the pairwise slopes, the intercept the median of what
 * the slope leaves, both over every run given (the errors the quantiles are read from are those
 * of the same runs, so the fit and its errors agree). Robust to a few wild runs (up to ~29 %); a
 * negative part is refitted as 0. Each run is paired with the next {@link SLOPE_PARTNERS} only
 * (sizes come in any order, so these pairs are as good as any): a fit of 200 runs takes about
 * 2,000 slopes, not 20,000, and every run counts alike.
 */
export function fitDurations(samples: readonly RunSample[]): DurationFit {
  const sized = samples.filter((s) => s.size !== null && s.size > 0);
  // Mostly unsized runs say little about size: one typical duration for all.
  if (sized.length < 3 || sized.length < samples.length / 2)
    return { fixedMs: median(samples.map((s) => s.ms)), perUnitMs: 0 };
  const slopes: number[] = [];
  for (let i = 0; i < sized.length; i++)
    for (let j = i + 1; j < Math.min(sized.length, i + 1 + SLOPE_PARTNERS); j++) {
      const dx = sized[j]!.size! - sized[i]!.size!;
      if (Math.abs(dx) > 1e-9 * Math.max(sized[i]!.size!, sized[j]!.size!))
        slopes.push((sized[j]!.ms - sized[i]!.ms) / dx);
    }
  // All runs of one size: the size says nothing about a different one; scale proportionally.
  if (slopes.length < sized.length) return { fixedMs: 0, perUnitMs: median(sized.map((s) => s.ms / s.size!)) };
  const slope = median(slopes);
  if (slope <= 0) return { fixedMs: median(sized.map((s) => s.ms)), perUnitMs: 0 };
  const fixed = median(sized.map((s) => s.ms - slope * s.size!));
  if (fixed >= 0) return { fixedMs: fixed, perUnitMs: slope };
  return { fixedMs: 0, perUnitMs: median(sized.map((s) => s.ms / s.size!)) };
}

function ratiosOf(fit: DurationFit, samples: readonly RunSample[]): number[] {
  return samples.map((s) => s.ms / Math.max(1, predict(fit, s.size)));
}

/**
 * Where the type's speed changed, as the number of newest runs since (null: no change), from the
 * runs' log errors against one fit of them all (newest first). Two ways:
 * - sudden: the newest 3 or more runs each erred the same way by {@link SHIFT_FACTOR} and beyond
 *   every run before them, or the newest {@link SHIFT_RUN} all erred that way with their median
 *   past all but 1 in 20 of the runs before (five slow runs in a row are chance in a bimodal
 *   type, not a change) and their mean {@link SHIFT_Z} standard errors past the runs before (or
 *   five runs of a wide type that happen to err alike trim its model). A type that got twice as
 *   slow is noticed within 3 runs (5 or so with a spread of sigma 0.3), once those runs were not
 *   all in flight together (`runs`: the same runs, with when they ended): a pause of the machine
 *   lengthens every run in flight, and is not a change of speed. With 4 in flight, 5 runs;
 * - gradual or small: a rank test (Mann-Whitney) finds the split into newer and older runs that
 *   differ most, and takes it when they differ by {@link DRIFT_Z} standard errors, both sides with
 *   at least {@link DRIFT_MIN_RUNS} runs. This sets aside a warming node's slower first runs, a
 *   machine that got busier, or a 2x change once the new runs outnumber the old (when the sudden
 *   rule no longer fires). Ranks ignore the shape of the errors: a bimodal or heavy-tailed type
 *   does not trip it, and a constant one with 1 % jitter notices a change of a few percent.
 */
export function changePoint(logs: readonly number[], runs?: readonly RunSample[]): number | null {
  const sudden = suddenChange(logs, runs);
  if (sudden !== null) return sudden;
  const n = logs.length;
  if (n < DRIFT_MIN_RUNS * 2) return null;
  // Mid-ranks (ties share their average rank: whole milliseconds tie often).
  const order = logs.map((l, i) => [l, i] as const).sort((x, y) => x[0] - y[0]);
  const ranks = new Array<number>(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && order[j + 1]![0] === order[i]![0]) j++;
    for (let t = i; t <= j; t++) ranks[order[t]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let best: { k: number; z: number } | null = null;
  let rankSum = 0;
  for (let k = 1; k <= n - DRIFT_MIN_RUNS; k++) {
    rankSum += ranks[k - 1]!;
    if (k < DRIFT_MIN_RUNS) continue;
    const u = rankSum - (k * (k + 1)) / 2;
    const z = Math.abs(u - (k * (n - k)) / 2) / Math.sqrt((k * (n - k) * (n + 1)) / 12);
    if (!best || z > best.z) best = { k, z };
  }
  return best && best.z >= DRIFT_Z ? best.k : null;
}

/**
 * Whether runs are evidence apart from each other: not all of them in flight at one moment (one
 * began at or after another ended), or some ran at a time not known. Runs in flight together
 * share whatever the machine did meanwhile: a pause of the process (a collection, a neighbour
 * taking the core) lengthens them all, and the next runs, which start after it, take the usual
 * time. In bench:eta four 100 ms jobs that a pause made 130 ms each lay beyond every run before,
 * were taken for a change of speed, and the next four were promised 219 and 338 ms.
 */
function apart(runs: readonly RunSample[]): boolean {
  let latestStart = -Infinity;
  let earliestEnd = Infinity;
  for (const r of runs) {
    if (typeof r.at !== 'number' || !Number.isFinite(r.at)) return true;
    latestStart = Math.max(latestStart, r.at - r.ms);
    earliestEnd = Math.min(earliestEnd, r.at);
  }
  // Intervals that pairwise overlap share a moment: the latest start is before the earliest end.
  return latestStart >= earliestEnd;
}

/**
 * The sudden rule of {@link changePoint}: runs since the change, or null. The runs it rests on
 * (the clear ones, and all the runs since the change) must not all have been in flight together
 * (see {@link apart}): with n jobs in flight a change is then noticed a run or so after the n-th.
 */
function suddenChange(logs: readonly number[], runs?: readonly RunSample[]): number | null {
  const n = logs.length;
  if (n <= SHIFT_RUN * 2) return null;
  const m = median(logs.slice(0, SHIFT_RUN));
  const sign = Math.sign(m);
  if (Math.abs(m) <= Math.log(SHIFT_FACTOR)) return null;
  // As clear as five: the newest 3 or more runs erred that way, each beyond every run before.
  let streak = 0;
  while (streak < n && sign * logs[streak]! > Math.log(SHIFT_FACTOR)) streak++;
  const rest = logs.slice(streak);
  const edge = sign > 0 ? Math.max(...rest) : Math.min(...rest);
  const clear =
    streak >= SHIFT_CLEAR_RUN &&
    logs.slice(0, streak).every((l) => sign * (l - edge) > 0) &&
    (!runs || apart(runs.slice(0, streak)));
  if (!clear && !logs.slice(0, SHIFT_RUN).every((l) => Math.sign(l) === sign)) return null;
  // Trace the change back while at least 3 of each 4 runs still err that way, nearer the new
  // level than the old (a 2x slower type: past 1.41x).
  const errs = (l: number) => sign * l > Math.abs(m) / 2;
  let k = clear ? streak : SHIFT_RUN;
  let same = k;
  while (k < n) {
    const next = errs(logs[k]!) ? 1 : 0;
    if ((same + next) / (k + 1) < 0.75) break;
    same += next;
    k++;
  }
  // The runs at the edge that did not err that way are from before the change.
  while (k > SHIFT_CLEAR_RUN && !errs(logs[k - 1]!)) k--;
  if (k >= n) return null;
  // Five runs erring the same way happen by chance in a wide or bimodal type: their median must
  // also lie beyond all but 1 in 20 of the runs before the change.
  const before = logs.slice(k).sort((x, y) => x - y);
  if (!clear && sign * (m - quantile(before, sign > 0 ? 0.95 : 0.05)) <= 0) return null;
  // And a shift, not noise: the runs since, on average, well past the runs before for so few.
  if (!clear) {
    const centre = quantile(before, 0.5);
    const spread = 1.4826 * median(before.map((l) => Math.abs(l - centre)));
    const mean = logs.slice(0, k).reduce((sum, l) => sum + l, 0) / k;
    if (sign * (mean - centre) < (SHIFT_Z * spread) / Math.sqrt(k)) return null;
  }
  // Nor runs that were all in flight together: the same moment, not a new speed.
  if (runs && !apart(runs.slice(0, k))) return null;
  return k;
}

/**
 * The fit moved to the level of the newest {@link LEVEL_RUNS} runs (`ratios`: the errors of the
 * runs it was fitted to, newest first). The time a busy machine adds to every run drifts by a
 * few percent over minutes, too little and too slowly for a change of speed (a rank test at 5
 * standard errors) to be seen, and a fit's median over 200 runs lags it by half its window: in
 * bench:eta, constant 100 ms jobs whose runs took 104 ms lately were promised 108 ms after the
 * node had added 11 ms a minute before, an error 1.3x that of an oracle for a type whose only
 * noise is the machine. The spread of the errors is still read from all the runs (50 runs show
 * a median well, a p90 poorly); for a steady type the two levels agree within the median's own
 * noise (about 2 % of the spread).
 */
function recentLevel(fit: DurationFit, ratios: readonly number[]): DurationFit {
  if (ratios.length <= LEVEL_RUNS) return fit;
  const shift = median(ratios.slice(0, LEVEL_RUNS)) / median(ratios);
  if (!(shift > 0) || shift === 1) return fit;
  return { fixedMs: fit.fixedMs * shift, perUnitMs: fit.perUnitMs * shift };
}

/**
 * Fit a model to runs, newest first. After a change of speed ({@link changePoint}) the runs
 * before it are set aside for the level, so coverage recovers within a few runs instead of a
 * window's worth; while fewer than {@link OWN_SHAPE_RUNS} runs came since, the spread of their
 * errors is borrowed from the runs before (a type twice as slow usually wobbles alike, and five
 * runs cannot show a p90), widened by how unsure a level read from so few runs is.
 */
export function modelOf(runs: readonly RunSample[]): DurationModel {
  // A run under a millisecond is stored as 0 ms: taken as 1 ms, so ratios and their logs stay
  // finite (a type of no-op jobs made every 0 / 0 NaN, and its 202s failed to serialize).
  const newestFirst = runs.some((r) => !(r.ms >= 1)) ? runs.map((r) => (r.ms >= 1 ? r : { ...r, ms: 1 })) : runs;
  const whole = fitDurations(newestFirst);
  const k = changePoint(
    ratiosOf(whole, newestFirst).map((r) => Math.log(r)),
    newestFirst,
  );
  if (k === null) {
    const ratios = ratiosOf(whole, newestFirst);
    const fit = recentLevel(whole, ratios);
    return { fit, ratios: ratios.sort((a, b) => a - b), samples: newestFirst.length, shifted: false };
  }
  const used = newestFirst.slice(0, k);
  const own = fitDurations(used);
  const ratios = ratiosOf(own, used);
  const fit = recentLevel(own, ratios);
  if (k < OWN_SHAPE_RUNS) {
    const before = newestFirst.slice(k);
    const borrowed = ratiosOf(fitDurations(before), before).map((r) => Math.log(r));
    const centre = median(borrowed);
    // The median of k runs errs by about sqrt(pi / 2k) of their spread: a new run's error
    // around it spreads by sqrt(1 + pi / 2k) (e.g. 1.15x after 5 runs).
    const widen = Math.sqrt(1 + Math.PI / (2 * k));
    for (const l of borrowed) ratios.push(Math.exp((l - centre) * widen));
  }
  ratios.sort((a, b) => a - b);
  return { fit, ratios, samples: used.length, shifted: true };
}

/**
 * A median in whole milliseconds, half a millisecond read down: the least whole ms by which at
 * least half the runs end. Runs are timed in whole ms, so a steady type's median often falls
 * between two of them: runs split evenly between 103 ms and 104 ms have a median of 103.5, half
 * of them end by 103 ms, and all by 104. Rounded up, the p50 said 104 ms. In bench:eta on a
 * quiet machine, a 100 ms type's runs took 101-103 ms a little over half the time (52 %) and
 * longer otherwise; the promises read from a median on a half (27 of its 220 estimates) left
 * fewer than half of its runs within 1 ms of their p50, and its median p50 error at 2 ms, 1.91x
 * that of a promise of its runs' median (replayed with that run's times, 1.00x read down).
 */
function medianMs(ms: number): number {
  return Math.max(0, Math.ceil(ms - 0.5 - 1e-9 * Math.max(1, ms)));
}

/**
 * Quantiles of the duration of a run of `size`: p50 (see {@link medianMs}), p90 at `p90Level`
 * (conformal), and the curve at {@link CURVE_LEVELS} (monotone), which remaining time is read from.
 */
export function quantilesOf(
  model: DurationModel,
  size: number | null,
  p90Level = 0.9,
): { p50Ms: number; p90Ms: number; curve: number[] } {
  const base = Math.max(1, predict(model.fit, size));
  const p50Ms = medianMs(base * conformalQuantile(model.ratios, 0.5));
  const curve = CURVE_LEVELS.map((q) => Math.round(base * smoothQuantile(model.ratios, q)));
  return { p50Ms, p90Ms: p90Of(model, size, p50Ms, p90Level), curve };
}

/** The p90 of {@link quantilesOf} alone, at `p90Level`, for a run of `size` whose p50 is `p50Ms`. */
export function p90Of(model: DurationModel, size: number | null, p50Ms: number, p90Level: number): number {
  const base = Math.max(1, predict(model.fit, size));
  return Math.max(p50Ms, Math.round(base * conformalQuantile(model.ratios, p90Level)));
}

/** The cumulative probability of `ms` under a curve at {@link CURVE_LEVELS}. */
function levelAt(curve: readonly number[], ms: number): number {
  if (ms <= curve[0]!) return 0;
  for (let i = 1; i < curve.length; i++) {
    if (ms < curve[i]!) {
      const span = curve[i]! - curve[i - 1]!;
      return (
        CURVE_LEVELS[i - 1]! +
        (span > 0 ? ((ms - curve[i - 1]!) / span) * (CURVE_LEVELS[i]! - CURVE_LEVELS[i - 1]!) : 0)
      );
    }
  }
  return 1;
}

/** The duration at cumulative probability `level` under a curve. */
function msAt(curve: readonly number[], level: number): number {
  const at = Math.min(1, Math.max(0, level)) * (curve.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(curve.length - 1, lo + 1);
  return curve[lo]! + (curve[hi]! - curve[lo]!) * (at - lo);
}

/**
 * A rise of the typical time left (the median of what remains for the runs that lasted this
 * long) by more than this share of the typical run is a real change of outlook (past the fast
 * runs of a type whose runs are fast or slow: there it rises by several typical runs), shown
 * with its reason; anything less is the steps a few hundred runs leave in the curve (up to a
 * third of a typical run for a lognormal type of sigma 0.4), and is not shown.
 */
const REAL_RISE = 0.5;
/**
 * Past this level, what remains is read from the curve's last segment (up to the longest run
 * seen), a straight line where the true quantiles bend up only at the very end: there a rise is
 * the line's, not the runs', and is not shown.
 */
const TAIL_LEVEL = 0.9;

function remainingAt(curve: readonly number[], t: number, q: number): number {
  const past = levelAt(curve, t);
  return Math.max(0, msAt(curve, past + (1 - past) * q) - t);
}

/**
 * The typical time left the person is shown at `t`: the median of what remains for the runs
 * that lasted at least `t`, held where it would go up, unless it rose by more than
 * {@link REAL_RISE} of the typical run since it was last low, before {@link TAIL_LEVEL} (the run
 * left the group of the fast ones: it really fell behind; `rose` says so, for the reason in the
 * job's message).
 *
 * The median of what remains is piecewise linear in `t` with its corners at the curve's points,
 * so it is walked from 0 to `t` corner by corner (and at `t`): the result is a function of the
 * curve and `t` alone, the same however often it is read.
 */
export function typicalRemaining(
  curve: readonly number[],
  elapsedMs: number,
  p50Ms: number,
): { ms: number; rose: boolean } {
  const t = Math.max(0, elapsedMs);
  const rise = REAL_RISE * Math.max(1, p50Ms);
  let shown = remainingAt(curve, 0, 0.5);
  let rose = false;
  const at = (s: number) => {
    const left = remainingAt(curve, s, 0.5);
    if (left > shown + rise && levelAt(curve, s) < TAIL_LEVEL) {
      shown = left;
      rose = true;
    } else shown = Math.min(shown, left);
  };
  for (const corner of curve) {
    if (corner >= t) break;
    if (corner > 0) at(corner);
  }
  at(t);
  return { ms: shown, rose };
}

/**
 * Time left for a run that has already lasted `elapsedMs`: the p50 and p90 of what remains for
 * the runs that lasted at least that long, not "p50 minus elapsed". Its p50 only goes down until
 * the run is past p90 (see {@link typicalRemaining}), except when the runs that lasted this long
 * clearly take longer (a bimodal type's slow ones). Past p90 ("slower than usual") its p50 is at
 * least a second and 0.4 of the overrun past p50 (the median residual life of a Pareto tail of
 * index 2), so a job that runs long never says "a few seconds" for half a minute; its p90 is at
 * least all of that overrun from p50 on.
 */
export function remainingGiven(
  curve: readonly number[],
  elapsedMs: number,
  p50Ms: number,
  p90Ms: number,
): { p50Ms: number; p90Ms: number } {
  const t = Math.max(0, elapsedMs);
  const overrun = Math.max(0, t - p50Ms);
  const late = t > p90Ms;
  const r50 = Math.max(typicalRemaining(curve, t, p50Ms).ms, late ? Math.max(overrun * 0.4, 1000) : 0);
  // The p90 keeps the total's calibration: it is not below what the promised p90 leaves.
  const r90 = Math.max(remainingAt(curve, t, 0.9), p90Ms - t, overrun, r50);
  return { p50Ms: Math.round(r50), p90Ms: Math.round(r90) };
}

/** z of the normal distribution's 90th percentile. */
export const Z90 = 1.2816;

/**
 * A curve at {@link CURVE_LEVELS} for an estimate that has only a p50 and a p90 (a type's
 * default before any run): lognormal through both, from its 1st to its 99th percentile, so time
 * left is read from a distribution as it is with history (no step from "p50 minus elapsed" to
 * "p90 minus elapsed" as the run passes p50).
 */
export function curveFrom(p50Ms: number, p90Ms: number): number[] {
  const median = Math.max(1, p50Ms);
  const sigma = Math.max(0.01, Math.log(Math.max(p90Ms, median) / median) / Z90);
  return CURVE_LEVELS.map((q) =>
    Math.round(median * Math.exp(sigma * normalQuantile(Math.min(0.99, Math.max(0.01, q))))),
  );
}

/** The standard normal quantile (Acklam's rational approximation, relative error under 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x =
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}
