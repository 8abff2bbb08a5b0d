import type { JobTypeInfo } from '@inloop/protocol';
import type { JobRecord } from '../../ports/job-store.js';
import type { JobCore } from './core.js';

/**
 * A job succeeded: check what it was promised when it started against what it took (the rolling
 * calibration /metrics reads on scrape, with how the end promised at creation held: see
 * {@link exportCalibrations}), learn its duration and its stages', and, for a type that declared
 * no stages, the plan its stages make.
 */
export async function learnFromRun(core: JobCore, job: JobRecord, now: number): Promise<void> {
  if (job.startedAt === null) return;
  const size = job.size?.value ?? null;
  core.estimator.observe(job.type, job.estimate, now - job.startedAt);
  await core.estimator.record({ type: job.type, stage: '', ms: now - job.startedAt, size, at: now });
  // Stages follow one another to the run's end: each ended where the ones after it began. Its own
  // end tells the model which runs of a stage were in flight together (see duration-model.ts).
  let end = now - job.stageDurations.reduce((sum, s) => sum + s.ms, 0);
  for (const s of job.stageDurations) {
    end += s.ms;
    await core.estimator.record({ type: job.type, stage: s.name, ms: s.ms, size, at: end });
  }
  if (!core.types.get(job.type)?.stages && job.stageDurations.length > 0) {
    core.learnedPlans.set(
      job.type,
      job.stageDurations.map((s) => ({ name: s.name, weight: Math.max(1, s.ms) })),
    );
  }
}

/**
 * The rolling calibrations of the types that had a run succeed, read by /metrics when scraped.
 * They were computed after every successful run (two medians over the last 100 runs, and the
 * line's start-delay fit): at 1,000 jobs/s about 2 % of the node's CPU, for gauges read every
 * few seconds at most.
 */
export function exportCalibrations(core: JobCore): void {
  core.o.metrics.observeCalibrations(() =>
    core.estimator
      .observedTypes()
      .map((type) => ({ type, run: core.estimator.calibration(type), line: core.line.calibration(type) })),
  );
}

/**
 * What a console charts about a type (`GET /v1/job-types/{type}`): model, calibration, and the
 * line with how its promises to queued jobs held. The shape is the wire's (`@inloop/protocol`).
 */
export type { JobTypeInfo };

/**
 * The type's model, its line on this node and its calibration; null when the type is unknown
 * here, unless `elsewhere` (a type defined on another node of the cluster: its model is read from
 * the shared durations, its line here is empty).
 */
export async function typeInfo(core: JobCore, type: string, elsewhere = false): Promise<JobTypeInfo | null> {
  if (!elsewhere && !core.types.has(type)) return null;
  const model = (await core.estimator.model(type, '', true)) ?? (await core.estimator.model(type, '', false));
  const estimate = (await core.estimator.estimate(type, null))!;
  return {
    type,
    model: model
      ? {
          fixedMs: Math.round(model.fit.fixedMs),
          perUnitMs: model.fit.perUnitMs,
          samples: model.samples,
          shifted: model.shifted,
        }
      : null,
    estimate: { p50Ms: estimate.p50Ms, p90Ms: estimate.p90Ms, source: estimate.source, samples: estimate.samples },
    calibration: core.estimator.calibration(type),
    line: { ...core.line.counts(type), calibration: core.line.calibration(type) },
  };
}
