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

/** Runs a slope is fitted from at most (pairs grow with the square). */
const MAX_SLOPE_SAMPLES = 64;
/** Newest runs that must all err the same way before older runs are set aside. */
const SHIFT_RUN = 5;
/** ... by at least this factor in the median. */
const SHIFT_FACTOR = 1.25;

/** Median of numbers (any order); 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** Linearly interpolated quantile (type 7) of an ascending array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const at = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/**
 * The quantile at `q` that holds on a next run with probability at least `q` (split conformal
 * rank `ceil((n + 1) q)`): with few samples it leans up, up to the largest one seen.
 */
export function conformalQuantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) return 1;
  return quantile(sorted, Math.min(1, (q * (n + 1) - 1) / Math.max(1, n - 1)));
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
 * the slope leaves. Robust to a few wild runs (up to ~29 %); a negative part is refitted as 0.
 */
export function fitDurations(samples: readonly RunSample[]): DurationFit {
  const all = samples.filter((s) => s.size !== null && s.size > 0);
  const sized = all.slice(0, MAX_SLOPE_SAMPLES);
  // Mostly unsized runs say little about size: one typical duration for all.
  if (sized.length < 3 || all.length < samples.length / 2)
    return { fixedMs: median(samples.map((s) => s.ms)), perUnitMs: 0 };
  const slopes: number[] = [];
  for (let i = 0; i < sized.length; i++)
    for (let j = i + 1; j < sized.length; j++) {
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
 * Fit a model to runs, newest first. When the newest {@link SHIFT_RUN} runs all missed the same
 * way by a clear margin (the type got slower or faster), the runs before the change are set
 * aside, so coverage recovers within a few runs instead of a window's worth.
 */
export function modelOf(newestFirst: readonly RunSample[]): DurationModel {
  let fit = fitDurations(newestFirst);
  let used = newestFirst;
  let ratios = ratiosOf(fit, used);
  let shifted = false;
  if (newestFirst.length > SHIFT_RUN * 2) {
    const logs = ratios.map((r) => Math.log(r));
    const recent = logs.slice(0, SHIFT_RUN);
    const m = median(recent);
    const sign = Math.sign(m);
    if (Math.abs(m) > Math.log(SHIFT_FACTOR) && recent.every((l) => Math.sign(l) === sign)) {
      // The change point: extend back while at least 3 of each 4 runs still err that way.
      let n = SHIFT_RUN;
      let same = SHIFT_RUN;
      while (n < logs.length) {
        const next = Math.sign(logs[n]!) === sign && Math.abs(logs[n]!) > Math.log(SHIFT_FACTOR) / 2 ? 1 : 0;
        if ((same + next) / (n + 1) < 0.75) break;
        same += next;
        n++;
      }
      used = newestFirst.slice(0, n);
      fit = fitDurations(used);
      ratios = ratiosOf(fit, used);
      shifted = true;
    }
  }
  ratios.sort((a, b) => a - b);
  return { fit, ratios, samples: used.length, shifted };
}

/**
 * Quantiles of the duration of a run of `size`: p50, p90 at `p90Level` (conformal), and the curve
 * at {@link CURVE_LEVELS} (monotone), which remaining time is read from.
 */
export function quantilesOf(
  model: DurationModel,
  size: number | null,
  p90Level = 0.9,
): { p50Ms: number; p90Ms: number; curve: number[] } {
  const base = Math.max(1, predict(model.fit, size));
  const p50Ms = Math.round(base * conformalQuantile(model.ratios, 0.5));
  const p90Ms = Math.max(p50Ms, Math.round(base * conformalQuantile(model.ratios, p90Level)));
  const curve = CURVE_LEVELS.map((q) => Math.round(base * smoothQuantile(model.ratios, q)));
  return { p50Ms, p90Ms, curve };
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
 * Time left for a run that has already lasted `elapsedMs`: the p50 and p90 of what remains for
 * the runs that lasted at least that long, not "p50 minus elapsed". Past the typical run, what
 * is left is at least 0.4 of the overrun (the median residual life of a Pareto tail of index 2)
 * and p90 all of it, so a job that runs long never says "a few seconds" for half a minute.
 */
export function remainingGiven(
  curve: readonly number[],
  elapsedMs: number,
  p50Ms: number,
  p90Ms: number,
): { p50Ms: number; p90Ms: number } {
  const t = Math.max(0, elapsedMs);
  const overrun = Math.max(0, t - p50Ms);
  const past = levelAt(curve, t);
  const cond = (q: number) => Math.max(0, msAt(curve, past + (1 - past) * q) - t);
  // The p90 keeps the total's calibration: it is not below what the promised p90 leaves.
  const r50 = Math.max(cond(0.5), overrun * 0.4, t > p90Ms ? 1000 : 0);
  const r90 = Math.max(cond(0.9), p90Ms - t, overrun, r50);
  return { p50Ms: Math.round(r50), p90Ms: Math.round(r90) };
}
