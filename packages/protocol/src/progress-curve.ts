/**
 * The one curve that turns elapsed time into estimated progress, shared by the node (the
 * `progress.fraction` it sends) and the UI kit (which moves the bar on between the node's
 * updates with the same rule, so the two never disagree and the bar never sits ahead of the
 * node's next update).
 */

/** Estimated progress is linear up to here (in lengths of a typical job), then eases towards {@link MAX_ESTIMATED}. */
export const PROGRESS_KNEE = 0.9;
/** Estimated progress never shows more than this before the job has ended. */
export const MAX_ESTIMATED = 0.99;
/**
 * How slowly the curve approaches the ceiling past the knee, in lengths of a typical job: a
 * hyperbola, not an exponential, so a job that runs long keeps creeping (about 95 % at twice its
 * typical length, 97 % at four times, 98 % at eight) instead of sitting at 98 % for most of the
 * overrun.
 */
const SOFTNESS = 1;

/** Job-lengths elapsed (x) to estimated progress: linear to the knee, then a slow approach to 99 %. */
export function progressCurve(x: number): number {
  if (!(x > 0)) return 0;
  if (x <= PROGRESS_KNEE) return x;
  return PROGRESS_KNEE + (MAX_ESTIMATED - PROGRESS_KNEE) * (1 - 1 / (1 + (x - PROGRESS_KNEE) / SOFTNESS));
}

/** The inverse of {@link progressCurve}: how many job-lengths a fraction stands for. */
export function progressCurveInverse(fraction: number): number {
  if (fraction <= PROGRESS_KNEE) return Math.max(0, fraction);
  const u = Math.min(0.999, (fraction - PROGRESS_KNEE) / (MAX_ESTIMATED - PROGRESS_KNEE));
  return PROGRESS_KNEE + SOFTNESS * (1 / (1 - u) - 1);
}
