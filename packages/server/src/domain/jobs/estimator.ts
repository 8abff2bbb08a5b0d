import type { DurationSample, JobStore, SizeHint } from '../../ports/job-store.js';
import { median, modelOf, p90Of, quantilesOf, type DurationModel } from './duration-model.js';

export interface Estimate {
  p50Ms: number;
  p90Ms: number;
  source: 'history' | 'history-scaled' | 'default';
  samples: number;
  /** Durations at cumulative levels 0, 0.05, ... 1 (see duration-model.ts); absent by default. */
  curve?: number[];
}

export interface EstimatorOptions {
  /** Samples used per (type, stage): the most recent ones. @default 200 */
  window?: number;
  /** Cold start, before any job of a type has finished. @default 10_000 */
  defaultMs?: (type: string) => number;
  /**
   * Read a type's runs from the store again once the copy here is this old: on a cluster other
   * nodes record runs too, and a node that read a type's runs once would otherwise promise from
   * that copy for good. Without it (one node, the only writer) the copy is kept.
   */
  refreshMs?: number;
}

/** Runs kept per type in the rolling calibration (coverage and error). */
const CALIBRATION_WINDOW = 100;
/** Step of the adaptive conformal level per observed run (Gibbs and Candes, 2021). */
const ACI_STEP = 0.01;

/** How a type's promises held on its recent runs. */
export interface Calibration {
  /** Runs observed (at most the last 100). */
  runs: number;
  /** Share of those runs that ended within their promised p90. */
  p90Coverage: number | null;
  /** Median of abs(promised p50 - actual) / actual. */
  medianAbsP50Error: number | null;
  /** The quantile level p90 is read at now (0.9, nudged by observed misses). */
  p90Level: number;
}

interface Observed {
  level: number;
  runs: { covered: boolean; error: number }[];
}

/**
 * A model fitted on at least {@link REFIT_SAMPLES} runs is fitted again after a new run only once
 * it is {@link REFIT_MS} old: at 1,000 short jobs/s a fit per finished run (a Theil-Sen slope and
 * medians over 200 runs) was a tenth of the node's CPU, and one run more among 50 moves nothing a
 * person sees within a tenth of a second. Fewer runs (a new type, or a type whose speed just
 * changed and set its older runs aside) refit on every run.
 */
const REFIT_MS = 100;
const REFIT_SAMPLES = 50;

/** Whether a fitted model still answers (see {@link REFIT_MS}). */
function current(fitted: { model: DurationModel; fittedAt: number; stale: boolean }, now: number): boolean {
  return !fitted.stale || (now - fitted.fittedAt < REFIT_MS && fitted.model.samples >= REFIT_SAMPLES);
}

/**
 * Learns how long jobs take, per type and per stage, from finished runs: a fixed part plus a part
 * per unit of size (a 240 s recording of a type that takes 2 s plus 0.5 s per second of audio is
 * estimated at 122 s), with p50 and p90 read from the model's own errors (see duration-model.ts).
 * Each finished run is also checked against what it was promised, and the p90 level moves so
 * that about 9 in 10 runs end within their p90 even when the model's errors mislead it.
 *
 * Cold start: with no history the estimate is the type's `expectedMs` (or 10 s) and p90 is
 * twice that, reported with `source: 'default'` so the UI can word it accordingly.
 */
export class Estimator {
  readonly #cache = new Map<string, DurationSample[]>();
  /** When each type's (and stage's) runs were read from the store. */
  readonly #readAt = new Map<string, number>();
  /** Reads from the store under way, one per type (and stage). */
  readonly #reading = new Map<string, Promise<DurationSample[]>>();
  readonly #refreshMs: number | undefined;
  /**
   * Fitted models per (type, stage, whether sizes are used), with when they were fitted; stale
   * once a run is recorded (see {@link REFIT_MS}).
   */
  readonly #models = new Map<string, { model: DurationModel; fittedAt: number; stale: boolean }>();
  readonly #observed = new Map<string, Observed>();
  /**
   * The unsized estimate read from each fitted model: every job of a type leased or created
   * between two refits gets the same p50 and curve, and only its p90 is read again when the p90
   * level moved (after most runs). Reading the curve took 21 quantiles of the model's runs per
   * job (about 5 % of a cluster node's CPU on bench/cluster.ts's jobs).
   */
  readonly #unsized = new WeakMap<DurationModel, { level: number; estimate: Estimate }>();
  readonly #window: number;
  readonly #defaultMs: (type: string) => number;

  constructor(
    private readonly store: JobStore,
    options: EstimatorOptions = {},
  ) {
    this.#window = options.window ?? 200;
    this.#defaultMs = options.defaultMs ?? (() => 10_000);
    this.#refreshMs = options.refreshMs;
  }

  /**
   * A type's (or stage's) runs, newest first. Read from the store once, then kept here; with
   * `refreshMs` (a cluster), read again once the copy is that old, in the background: the copy
   * answers meanwhile, and one read is under way per type at a time however many ask.
   */
  async #samples(type: string, stage: string): Promise<DurationSample[]> {
    const key = `${type}\u0000${stage}`;
    const samples = this.#cache.get(key);
    if (samples) {
      if (this.#refreshMs !== undefined && Date.now() - (this.#readAt.get(key) ?? 0) > this.#refreshMs)
        void this.#read(key, type, stage).catch(() => {});
      return samples;
    }
    return this.#read(key, type, stage);
  }

  #read(key: string, type: string, stage: string): Promise<DurationSample[]> {
    let reading = this.#reading.get(key);
    if (reading) return reading;
    this.#readAt.set(key, Date.now());
    reading = this.store
      .durations(type, stage, this.#window)
      .then((read) => {
        const before = this.#cache.get(key);
        if (before && read.length === before.length && read[0]?.at === before[0]?.at) return before;
        this.#cache.set(key, read);
        this.#staleModels(type, stage);
        return read;
      })
      .finally(() => this.#reading.delete(key));
    this.#reading.set(key, reading);
    return reading;
  }

  /** Record a finished run (whole job: stage ''). */
  async record(sample: DurationSample): Promise<void> {
    await this.store.addDuration(sample);
    this.#staleModels(sample.type, sample.stage);
    // Not read yet: the first read brings it from the store with the rest.
    const samples = this.#cache.get(`${sample.type}\u0000${sample.stage}`);
    if (!samples) return;
    samples.unshift(sample);
    if (samples.length > this.#window) samples.length = this.#window;
  }

  /** The fitted models of a type's stage no longer match its runs. */
  #staleModels(type: string, stage: string): void {
    const prefix = `${type}\u0000${stage}\u0000`;
    for (const [key, fitted] of this.#models) if (key.startsWith(prefix)) fitted.stale = true;
  }

  /**
   * A finished run of `type` against what it was promised when it started: feeds the rolling
   * calibration and nudges the p90 level up after a miss, down a little after a hit.
   */
  observe(type: string, promised: { p50Ms: number; p90Ms: number }, actualMs: number): void {
    let o = this.#observed.get(type);
    if (!o) this.#observed.set(type, (o = { level: 0.9, runs: [] }));
    const covered = actualMs <= promised.p90Ms;
    o.level = Math.min(0.97, Math.max(0.85, o.level + ACI_STEP * ((covered ? 0 : 1) - 0.1)));
    o.runs.push({ covered, error: Math.abs(promised.p50Ms - actualMs) / Math.max(1, actualMs) });
    if (o.runs.length > CALIBRATION_WINDOW) o.runs.shift();
  }

  /** The types with at least one run observed (their calibration is exported on scrape). */
  observedTypes(): string[] {
    return [...this.#observed.keys()];
  }

  /** The rolling calibration of a type's promises. */
  calibration(type: string): Calibration {
    const o = this.#observed.get(type);
    if (!o || o.runs.length === 0)
      return { runs: 0, p90Coverage: null, medianAbsP50Error: null, p90Level: o?.level ?? 0.9 };
    return {
      runs: o.runs.length,
      p90Coverage: o.runs.filter((r) => r.covered).length / o.runs.length,
      medianAbsP50Error: median(o.runs.map((r) => r.error)),
      p90Level: o.level,
    };
  }

  /** The fitted model of a type (or stage), for reading; null before any run. */
  async model(type: string, stage = '', sized = false): Promise<DurationModel | null> {
    const key = `${type}\u0000${stage}\u0000${sized ? 's' : ''}`;
    const fitted = this.#models.get(key);
    const now = Date.now();
    if (fitted && current(fitted, now)) return fitted.model;
    const samples = await this.#samples(type, stage);
    // Every caller that found the model stale in one turn waits here together (100 jobs created
    // in one turn, or leased from one batch of replies): the first to come back fits it, the rest
    // read that fit. Each fitted it again before, about 350 fits/s of 200 runs each at 1,500
    // jobs/s instead of 10 (4 % of a cluster node's CPU on bench/cluster.ts's jobs).
    const refitted = this.#models.get(key);
    if (refitted && refitted !== fitted && current(refitted, Date.now())) return refitted.model;
    if (samples.length === 0) return null;
    const model = modelOf(sized ? samples : samples.map((s) => ({ ms: s.ms, size: null, at: s.at })));
    this.#models.set(key, { model, fittedAt: now, stale: false });
    return model;
  }

  /** Estimate a job (or one of its stages) of `type`, optionally of a given size. */
  async estimate(type: string, size: SizeHint | null, stage = ''): Promise<Estimate | null> {
    const sized = size !== null && (await this.#samples(type, stage)).filter((s) => s.size !== null).length >= 3;
    const model = await this.model(type, stage, sized);
    const level = stage === '' ? (this.#observed.get(type)?.level ?? 0.9) : 0.9;
    if (model && sized) return estimateOf(model, size, level);
    if (model) {
      let read = this.#unsized.get(model);
      if (!read) this.#unsized.set(model, (read = { level, estimate: estimateOf(model, null, level) }));
      else if (read.level !== level) {
        read.estimate = { ...read.estimate, p90Ms: p90Of(model, null, read.estimate.p50Ms, level) };
        read.level = level;
      }
      // A copy: a job's estimate is its own (its curve is only read).
      return { ...read.estimate };
    }
    if (stage !== '') return null;
    return { p50Ms: this.#defaultMs(type), p90Ms: this.#defaultMs(type) * 2, source: 'default', samples: 0 };
  }
}

/** The estimate a model gives a job of `size` (null: unsized). */
export function estimateOf(model: DurationModel, size: SizeHint | null, p90Level = 0.9): Estimate {
  const q = quantilesOf(model, size?.value ?? null, p90Level);
  return {
    p50Ms: q.p50Ms,
    p90Ms: q.p90Ms,
    source: size && model.fit.perUnitMs > 0 ? 'history-scaled' : 'history',
    samples: model.samples,
    curve: q.curve,
  };
}

/**
 * The estimate implied by a set of samples (newest first), from the same model as
 * {@link Estimator}: sized when both the job and at least three samples have sizes.
 */
export function estimateFrom(
  samples: readonly DurationSample[],
  size: SizeHint | null,
  defaultMs: number | null,
): Estimate | null {
  const sized = size !== null && samples.filter((s) => s.size !== null).length >= 3;
  if (samples.length > 0)
    return estimateOf(
      modelOf(sized ? samples : samples.map((s) => ({ ms: s.ms, size: null, at: s.at }))),
      sized ? size : null,
    );
  if (defaultMs === null) return null;
  return { p50Ms: defaultMs, p90Ms: defaultMs * 2, source: 'default', samples: 0 };
}
