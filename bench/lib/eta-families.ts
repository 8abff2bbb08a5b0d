/**
 * The families of job durations bench:eta runs (and bench:eta-replay replays without a node),
 * drawn from one seeded generator in this order, so both see the same draws, and how both score
 * the promises made for them.
 */
import { percentile } from './stats.js';

/** Standard normal (Box-Muller) from a seeded generator, so runs are comparable. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) };
}

/** The standard normal distribution function (Abramowitz and Stegun 7.1.26, error under 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

const lognormal = (sigma: number) => (ms: number, nominal: number) =>
  ms <= 0 ? 0 : normalCdf(Math.log(ms / nominal) / sigma);

export interface Draw {
  /** What the worker sleeps. */
  ms: number;
  /** The noiseless duration an oracle would predict (median of the job's distribution). */
  nominal: number;
  size?: number;
}

export interface Family {
  name: string;
  type: string;
  draw: (i: number) => Draw;
  /** Jobs created at once; the next burst when all are done. Unset: no queueing. */
  burst?: number;
  /**
   * The distribution function of a draw whose median is `nominal`: P(drawn <= ms). Unset: every
   * draw is its nominal. The noise floor's oracle promises the median of a run's duration, the
   * draw plus the time the machine added; with a spread, that is not the draw's median plus the
   * added time's (a bimodal type's median is its fast runs' 62.5th percentile, and there the
   * added time counts at its own 62.5th percentile too).
   */
  cdf?: (ms: number, nominal: number) => number;
}

/**
 * The median of a run's duration when its draw has distribution `cdf` around `nominal` and the
 * machine adds one of `added` (ms, equally likely): where the mixture's distribution crosses
 * one half (bisection). Without `cdf`, the nominal plus the added time's median.
 */
export function oracleMedian(
  cdf: Family['cdf'],
  nominal: number,
  added: readonly number[],
  medianAdded: number,
): number {
  if (!cdf || added.length === 0) return nominal + medianAdded;
  const below = (ms: number) => added.reduce((sum, a) => sum + cdf(ms - a, nominal), 0) / added.length;
  let lo = Math.min(...added);
  let hi = nominal * 20 + Math.max(...added);
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (below(mid) < 0.5) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The families, with a fresh generator (seed 42); `warmup + measured` draws each. */
export function etaFamilies(warmup: number, measured: number): Family[] {
  const r = rng(42);
  return [
    { name: 'constant 100 ms', type: 'constant', draw: () => ({ ms: 100, nominal: 100 }) },
    {
      name: 'linear 40 ms + 2 ms x size',
      type: 'linear',
      draw: () => {
        const size = 5 + Math.floor(r.uniform() * 96);
        return { ms: 40 + 2 * size, nominal: 40 + 2 * size, size };
      },
    },
    {
      name: 'lognormal sigma 0.15',
      type: 'ln15',
      draw: () => ({ ms: 120 * Math.exp(0.15 * r.normal()), nominal: 120 }),
      cdf: lognormal(0.15),
    },
    {
      name: 'lognormal sigma 0.3',
      type: 'ln30',
      draw: () => ({ ms: 120 * Math.exp(0.3 * r.normal()), nominal: 120 }),
      cdf: lognormal(0.3),
    },
    {
      name: 'bimodal 80 % 60 ms / 20 % 250 ms',
      type: 'bimodal',
      // The median of the mixture, not the fast runs' 60 ms: half the runs take less than
      // 60 ms x e^(0.05 z) where 0.8 x Phi(z) = 0.5 (the slow runs are never that short), z =
      // Phi^-1(0.625) = 0.3186, so 61.0 ms. The oracle of the noise floor promises the median a
      // p50 aims at; 60 ms is the fast runs' peak, which scores better than any median can on
      // the median abs error (in whole milliseconds, 61 ms scores 1.5x 60 ms on these draws).
      draw: () => ({
        ms: (r.uniform() < 0.8 ? 60 : 250) * Math.exp(0.05 * r.normal()),
        nominal: 60 * Math.exp(0.05 * 0.3186),
      }),
      cdf: (ms) =>
        ms <= 0 ? 0 : 0.8 * normalCdf(Math.log(ms / 60) / 0.05) + 0.2 * normalCdf(Math.log(ms / 250) / 0.05),
    },
    {
      name: '2x slower halfway (100 -> 200 ms)',
      type: 'shift',
      draw: (i) => {
        const base = i < warmup + measured / 2 ? 100 : 200;
        return { ms: base * Math.exp(0.1 * r.normal()), nominal: base };
      },
      cdf: lognormal(0.1),
    },
    {
      name: 'saturated: bursts of 12, 4 workers',
      type: 'saturated',
      burst: 12,
      draw: () => ({ ms: 80 * Math.exp(0.15 * r.normal()), nominal: 80 }),
      cdf: lognormal(0.15),
    },
  ];
}

/** The median as bench:eta and its replay score it: the nearest-rank 50th percentile. */
export const rankMedian = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/**
 * abs(promised - actual) / actual. A duration is the difference of two whole-millisecond
 * timestamps, so it is only known to 1 ms: a miss of 1 ms or less counts as 1 ms, for the
 * estimate and the oracle alike (else on a quiet machine, where the jitter is under 1 ms, the
 * floor is 0 or 1 ms by the toss of a rounding, and the ratio to it 1x, 2x or infinite).
 */
export const relError = (promised: number, actual: number) => Math.max(1, Math.abs(promised - actual)) / actual;

export const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** Runs from the change of speed to the first covered run with 9 of the 10 from it covered. */
export function recoveryAfterShift(runs: readonly { nominal: number; actual: number; p90: number }[]): string {
  const change = runs.findIndex((run) => run.nominal !== runs[0]!.nominal);
  if (change < 0) return '';
  for (let k = change; k < runs.length - 10; k++) {
    const next = runs.slice(k, k + 10).filter((run) => run.actual <= run.p90).length;
    if (runs[k]!.actual <= runs[k]!.p90 && next >= 9) return String(k - change);
  }
  return 'never';
}
