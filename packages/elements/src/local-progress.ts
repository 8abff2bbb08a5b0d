import { MAX_ESTIMATED, progressCurve, progressCurveInverse, type JobSnapshot } from '@inloop/protocol';
import { etaInWords } from './words.js';

/** The protocol's curve of estimated progress (job-lengths elapsed to a fraction), which the node uses too. */
export const eased = progressCurve;
/** Where on that curve a fraction the node reported sits. */
export const uneased = progressCurveInverse;

/** The node's rule (`remainingOf`): past the typical duration, never less than this much time left. */
const MIN_LEFT_MS = 1000;
/** Measured progress below this says too little about the rate to extrapolate it (the node's rule too). */
const MIN_MEASURED_FOR_RATE = 0.05;

/** What the element has seen of the job's updates, which a single snapshot does not say. */
export interface ProgressHints {
  /**
   * The rate the node's estimate moved at between its last two updates of the same stage, in
   * job-lengths (of the curve) per ms; without one, one job-length per `p50Ms`.
   */
  estimatedRatePerMs?: number | null;
  /**
   * How fast the node's time left fell between its last two updates (estimated progress), per ms
   * of the job's time, 0..1: past the typical duration the node's time left (the median of what
   * remains for runs that lasted this long) falls slower than the clock, and a countdown at the
   * clock's pace would show less than the node says next, then jump up.
   */
  remainingRatePerMs?: number | null;
  /** How far measured progress went at its last step: the bar may go that far ahead, no further. */
  measuredStep?: number | null;
  /**
   * The job's elapsed time when its current measured fraction was first reported: the bar moves
   * on from then, so an update that repeats the fraction does not send it back.
   */
  measuredSinceElapsedMs?: number | null;
}

/** What the element shows `sinceMs` after the snapshot arrived. */
export interface LocalView {
  /** 0..0.99 while the job runs; 1 only once it has succeeded. */
  fraction: number;
  /** Time left, the node's rules carried on with the local clock (0 once it has passed); null without an ETA. */
  remainingMs: number | null;
  /** Past the slow (p90) duration for jobs like this, by the local clock or the node's flag. */
  overdue: boolean;
}

/**
 * Progress between two of the node's updates (which come at least every few seconds), by the
 * node's own rules carried on with the local clock, so the bar never runs ahead of what the
 * node will say next:
 * - Estimated progress moves along the protocol's curve at the rate the node's estimate moves
 *   (seen between its updates, else one typical job length per `p50Ms`), past the typical
 *   duration creeping towards 99 % without reaching it.
 * - Measured progress is the truth: the bar starts at it and may move on at the rate measured so
 *   far towards the next expected value (the last step again), never past it.
 * - The time left counts down, but as the node computes it: for measured progress, the time the
 *   progress so far took, scaled to what is left; for estimated progress, at the pace the node's
 *   own time left fell between its updates, never under a second while the node says more.
 */
export function localView(s: JobSnapshot, sinceMs: number, hints: ProgressHints = {}): LocalView {
  const since = Math.max(0, sinceMs);
  const eta = s.eta;
  const running = s.status === 'running';
  const elapsed = s.elapsedMs + (running ? since : 0);
  const overdue = s.flags.slowerThanUsual || s.flags.likelyStuck || (running && eta !== null && elapsed > eta.p90Ms);
  if (s.status === 'succeeded') return { fraction: 1, remainingMs: 0, overdue: false };
  const f = Math.min(MAX_ESTIMATED, s.progress.fraction);
  if (!running || !eta) {
    const remainingMs = eta ? Math.max(0, eta.remainingMs - (s.status === 'queued' ? since : 0)) : null;
    return { fraction: f, remainingMs, overdue };
  }
  if (s.progress.measured) {
    // From when this fraction was first reported, at the rate measured up to then.
    const reportedAt = Math.min(s.elapsedMs, hints.measuredSinceElapsedMs ?? s.elapsedMs);
    const rate = reportedAt > 0 && f > 0 ? f / reportedAt : eta.remainingMs > 0 ? (1 - f) / eta.remainingMs : 0;
    const step = Math.max(0, hints.measuredStep ?? 0);
    const moving = Math.max(0, elapsed - reportedAt);
    const fraction = Math.min(MAX_ESTIMATED, f + Math.min(step, rate * moving));
    const remainingMs =
      fraction >= MIN_MEASURED_FOR_RATE
        ? Math.round((elapsed * (1 - fraction)) / fraction)
        : Math.max(0, eta.remainingMs - since);
    return { fraction, remainingMs, overdue };
  }
  const rate = hints.estimatedRatePerMs ?? (eta.p50Ms > 0 ? 1 / eta.p50Ms : 0);
  const fraction = Math.max(f, Math.min(MAX_ESTIMATED, eased(uneased(f) + Math.max(0, rate) * since)));
  // The time left counts down at the pace the node's did (before any pair of updates: the clock's
  // before the typical duration, held after it), and not under a second while the node says more:
  // "a few seconds left" does not turn into "almost done" and back at the next update.
  const counted =
    hints.remainingRatePerMs != null
      ? since * Math.min(1, Math.max(0, hints.remainingRatePerMs))
      : Math.min(since, Math.max(0, eta.p50Ms - s.elapsedMs));
  const remainingMs = Math.max(Math.min(eta.remainingMs, MIN_LEFT_MS), Math.round(eta.remainingMs - counted));
  return { fraction, remainingMs, overdue };
}

/**
 * The time left in words, one source for the whole element: "taking longer than usual" once the
 * job is past its slow duration (and from then on, whatever time left the node still computes),
 * else the countdown ("about 20 s left", "a few seconds left").
 */
export function timeLeftInWords(view: LocalView): string {
  if (view.overdue) return 'taking longer than usual';
  if (view.remainingMs === null) return 'estimating…';
  return view.remainingMs > 0 ? etaInWords(view.remainingMs) : 'almost done…';
}
