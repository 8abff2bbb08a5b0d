import type { DurationSample, JobStore, SizeHint } from '../../ports/job-store.js';

export interface Estimate {
  p50Ms: number;
  p90Ms: number;
  source: 'history' | 'history-scaled' | 'default';
  samples: number;
}

export interface EstimatorOptions {
  /** Samples used per (type, stage): the most recent ones. @default 200 */
  window?: number;
  /** Cold start, before any job of a type has finished. @default 10_000 */
  defaultMs?: (type: string) => number;
}

/** History size past which an estimate is reused for a second rather than recomputed per sample. */
const SETTLED_SAMPLES = 50;

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Learns how long jobs take, per type and per stage, from finished runs, and scales by the size
 * hint where one is given (it learns milliseconds per unit: a 240 s recording of a type that
 * takes 0.5 s per second of audio is estimated at 120 s).
 *
 * Cold start: with no history the estimate is the type's `expectedMs` (or 10 s) and p90 is
 * twice that, reported with `source: 'default'` so the UI can word it accordingly.
 */
export class Estimator {
  readonly #cache = new Map<string, DurationSample[]>();
  /**
   * Computed estimates, shared by the jobs that ask. While a type has little history every new
   * sample counts and invalidates; past {@link SETTLED_SAMPLES} an estimate is reused for up to
   * a second, since one more run barely moves a percentile of hundreds.
   */
  readonly #memo = new Map<string, { estimate: Estimate | null; at: number }>();
  readonly #window: number;
  readonly #defaultMs: (type: string) => number;

  constructor(
    private readonly store: JobStore,
    options: EstimatorOptions = {},
  ) {
    this.#window = options.window ?? 200;
    this.#defaultMs = options.defaultMs ?? (() => 10_000);
  }

  async #samples(type: string, stage: string): Promise<DurationSample[]> {
    const key = `${type}\u0000${stage}`;
    let samples = this.#cache.get(key);
    if (!samples) this.#cache.set(key, (samples = await this.store.durations(type, stage, this.#window)));
    return samples;
  }

  /** Record a finished run (whole job: stage ''). */
  async record(sample: DurationSample): Promise<void> {
    await this.store.addDuration(sample);
    const samples = await this.#samples(sample.type, sample.stage);
    if (samples.length < SETTLED_SAMPLES) {
      const prefix = `${sample.type}\u0000${sample.stage}\u0000`;
      for (const key of this.#memo.keys()) if (key.startsWith(prefix)) this.#memo.delete(key);
    }
    samples.unshift(sample);
    if (samples.length > this.#window) samples.length = this.#window;
  }

  /** Estimate a job (or one of its stages) of `type`, optionally of a given size. */
  async estimate(type: string, size: SizeHint | null, stage = ''): Promise<Estimate | null> {
    const key = `${type}\u0000${stage}\u0000${size?.value ?? ''}`;
    const now = Date.now();
    const memo = this.#memo.get(key);
    if (memo && now - memo.at < 1000) return memo.estimate;
    const estimate = estimateFrom(await this.#samples(type, stage), size, stage === '' ? this.#defaultMs(type) : null);
    if (this.#memo.size > 10_000) this.#memo.clear();
    this.#memo.set(key, { estimate, at: now });
    return estimate;
  }
}

/**
 * The estimate implied by a set of samples: p50 and p90 of their durations, or of their
 * milliseconds-per-unit times the size when both the job and at least three samples have sizes.
 */
export function estimateFrom(
  samples: readonly DurationSample[],
  size: SizeHint | null,
  defaultMs: number | null,
): Estimate | null {
  if (size) {
    const rates = samples.filter((s) => s.size !== null && s.size > 0).map((s) => s.ms / s.size!);
    if (rates.length >= 3) {
      rates.sort((a, b) => a - b);
      return {
        p50Ms: Math.round(percentile(rates, 0.5) * size.value),
        p90Ms: Math.round(percentile(rates, 0.9) * size.value),
        source: 'history-scaled',
        samples: rates.length,
      };
    }
  }
  if (samples.length > 0) {
    const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
    return { p50Ms: percentile(ms, 0.5), p90Ms: percentile(ms, 0.9), source: 'history', samples: ms.length };
  }
  if (defaultMs === null) return null;
  return { p50Ms: defaultMs, p90Ms: defaultMs * 2, source: 'default', samples: 0 };
}
