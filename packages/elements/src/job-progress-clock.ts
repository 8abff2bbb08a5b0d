import type { JobSnapshot } from '@inloop/protocol';
import { localView, uneased, type LocalView, type ProgressHints } from './local-progress.js';

/** How often the bar and the time left move between the node's updates (every second with reduced motion). */
export const FRAME_MS = 250;
export const REDUCED_FRAME_MS = 1000;

/**
 * `<inloop-job-progress>`'s clock between the node's updates: when the current snapshot arrived,
 * what the updates so far said (the rate of the node's estimate, the size of its measured steps),
 * and the fraction last drawn. {@link localView} does the maths; this keeps what it needs from
 * one update to the next, and forgets it when another job is shown.
 */
export class ProgressClock {
  /** When the current snapshot arrived (performance.now()). */
  #arrivedAt = 0;
  /** The estimated fraction last drawn, so a late or rounded estimate never moves the bar backwards. */
  #shown = 0;
  /** What the node's updates said so far: the rate of its estimate, the size of its measured steps. */
  #hints: ProgressHints = {};
  #previous: {
    fraction: number;
    elapsedMs: number;
    measured: boolean;
    stage: string | undefined;
    remainingMs: number | null;
  } | null = null;
  /** The time left last shown (estimated progress), so a countdown never moves back up before the job is late. */
  #shownLeft: number | null = null;
  #job: string | undefined;

  /** A snapshot arrived: the local clock starts from it. True when it is another job's (all else forgotten). */
  arrive(s: JobSnapshot): boolean {
    this.#arrivedAt = performance.now();
    const another = s.id !== this.#job;
    if (another) {
      this.#job = s.id;
      this.#shown = 0;
      this.#hints = {};
      this.#previous = null;
      this.#shownLeft = null;
    }
    this.#learn(s);
    return another;
  }

  /**
   * What the bar shows now, and the view it comes from. Measured progress is the truth (the bar
   * goes to it, back if it must); an estimate never moves the bar backwards while the job runs.
   */
  now(s: JobSnapshot): { fraction: number; view: LocalView } {
    const view = localView(s, performance.now() - this.#arrivedAt, this.#hints);
    if (s.status === 'succeeded') return { fraction: 1, view };
    if (s.status !== 'running') {
      this.#shownLeft = null;
      return { fraction: view.fraction, view };
    }
    this.#shown = s.progress.measured ? view.fraction : Math.max(this.#shown, view.fraction);
    // An estimate's time left only goes down until the job is late (then the words say so).
    if (s.progress.measured || view.overdue || view.remainingMs === null) this.#shownLeft = null;
    else {
      this.#shownLeft = Math.min(this.#shownLeft ?? Infinity, view.remainingMs);
      return { fraction: this.#shown, view: { ...view, remainingMs: this.#shownLeft } };
    }
    return { fraction: this.#shown, view };
  }

  /**
   * From two updates in a row: how fast the node's estimate moves (same stage, both estimated),
   * and how big a step measured progress takes (the bar may move on that far before the next).
   */
  #learn(s: JobSnapshot): void {
    if (s.status !== 'running') return;
    const now = {
      fraction: s.progress.fraction,
      elapsedMs: s.elapsedMs,
      measured: s.progress.measured,
      stage: s.stage?.name,
      remainingMs: s.eta?.remainingMs ?? null,
    };
    const p = this.#previous;
    if (p && p.measured === now.measured && now.elapsedMs > p.elapsedMs) {
      if (!now.measured && p.stage === now.stage && p.remainingMs !== null && now.remainingMs !== null)
        this.#hints.remainingRatePerMs = Math.min(
          1,
          Math.max(0, (p.remainingMs - now.remainingMs) / (now.elapsedMs - p.elapsedMs)),
        );
      if (!now.measured && p.stage === now.stage && now.fraction >= p.fraction)
        this.#hints.estimatedRatePerMs = (uneased(now.fraction) - uneased(p.fraction)) / (now.elapsedMs - p.elapsedMs);
      if (now.measured && now.fraction > p.fraction) this.#hints.measuredStep = now.fraction - p.fraction;
    }
    if (now.measured && (!p?.measured || now.fraction !== p.fraction))
      this.#hints.measuredSinceElapsedMs = now.elapsedMs;
    if (!now.measured) this.#hints.measuredStep = null;
    if (now.measured || p?.stage !== now.stage) {
      this.#hints.estimatedRatePerMs = null;
      this.#hints.remainingRatePerMs = null;
      this.#shownLeft = null;
    }
    this.#previous = now;
  }
}
