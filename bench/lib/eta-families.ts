/**
 * The families of job durations bench:eta runs (and bench:eta-replay replays without a node),
 * drawn from one seeded generator in this order, so both see the same draws.
 */

/** Standard normal (Box-Muller) from a seeded generator, so runs are comparable. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  return { uniform, normal: () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()) };
}

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
    },
    {
      name: 'lognormal sigma 0.3',
      type: 'ln30',
      draw: () => ({ ms: 120 * Math.exp(0.3 * r.normal()), nominal: 120 }),
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
    },
    {
      name: '2x slower halfway (100 -> 200 ms)',
      type: 'shift',
      draw: (i) => {
        const base = i < warmup + measured / 2 ? 100 : 200;
        return { ms: base * Math.exp(0.1 * r.normal()), nominal: base };
      },
    },
    {
      name: 'saturated: bursts of 12, 4 workers',
      type: 'saturated',
      burst: 12,
      draw: () => ({ ms: 80 * Math.exp(0.15 * r.normal()), nominal: 80 }),
    },
  ];
}
