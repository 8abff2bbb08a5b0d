import type { JobSnapshot } from '@inloop/protocol';

/** Estimated progress is drawn linearly up to here, then eases towards {@link CEILING}. */
const KNEE = 0.9;
/** Estimated progress never shows more than this before the job has ended. */
const CEILING = 0.99;
/**
 * How slowly the curve approaches the ceiling past the knee, in lengths of a typical job: a
 * hyperbola, not an exponential, so a job that runs long keeps creeping (97 % at three times its
 * typical length, 98 % at five) instead of sitting at 97-98 % for most of the overrun.
 */
const SOFTNESS = 0.5;

/** Job-lengths elapsed (x) to what the bar shows: linear to the knee, then a slow approach to 99 %. */
export function eased(x: number): number {
  if (x <= KNEE) return Math.max(0, x);
  return KNEE + (CEILING - KNEE) * (1 - 1 / (1 + (x - KNEE) / SOFTNESS));
}

/** The inverse of {@link eased}: where on the curve a fraction the node reported sits. */
export function uneased(fraction: number): number {
  if (fraction <= KNEE) return Math.max(0, fraction);
  const u = Math.min(0.999, (fraction - KNEE) / (CEILING - KNEE));
  return KNEE + SOFTNESS * (1 / (1 - u) - 1);
}

/** What the element shows `sinceMs` after the snapshot arrived. */
export interface LocalView {
  /** 0..0.99 while the job runs; 1 only once it has succeeded. */
  fraction: number;
  /** Time left by the snapshot's ETA, counted down locally (0 once it has passed); null without an ETA. */
  remainingMs: number | null;
  /** Past the slow (p90) duration for jobs like this, by the local clock or the node's flag. */
  overdue: boolean;
}

/**
 * Progress between two of the node's updates (which come at least every few seconds). The
 * snapshot's fraction is where the bar starts (it snaps there when an update arrives); estimated
 * progress then advances with the local clock at the rate that would end it when the ETA says,
 * and past the ETA by one typical job length per `p50Ms`, eased so that it never reaches 100 %.
 * Measured progress (the worker reported it) is not extrapolated: a guess is not a measurement.
 */
export function localView(s: JobSnapshot, sinceMs: number): LocalView {
  const since = Math.max(0, sinceMs);
  const eta = s.eta;
  const running = s.status === 'running';
  const remainingMs = eta ? Math.max(0, eta.remainingMs - (running || s.status === 'queued' ? since : 0)) : null;
  const overdue =
    s.flags.slowerThanUsual || s.flags.likelyStuck || (running && eta !== null && s.elapsedMs + since > eta.p90Ms);
  if (s.status === 'succeeded') return { fraction: 1, remainingMs: 0, overdue: false };
  if (!running || s.progress.measured || !eta || eta.p50Ms <= 0)
    return { fraction: Math.min(CEILING, s.progress.fraction), remainingMs, overdue };
  const x0 = uneased(s.progress.fraction);
  // Until the ETA: cover what is left of the job by then. After it: one job length per p50.
  const R = Math.max(0, eta.remainingMs);
  const x =
    x0 < 1 && since < R ? x0 + ((1 - x0) * since) / R : x0 < 1 ? 1 + (since - R) / eta.p50Ms : x0 + since / eta.p50Ms;
  return { fraction: Math.max(s.progress.fraction, Math.min(CEILING, eased(x))), remainingMs, overdue };
}
