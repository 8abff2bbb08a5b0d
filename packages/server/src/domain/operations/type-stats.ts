import type { JobTypeStats } from '@inloop/protocol';
import type { JobStore } from '../../ports/job-store.js';
import type { JobService } from '../jobs/service.js';
import type { NodeReport } from './activity.js';
import type { JobViews } from './job-views.js';

/** Recent runs read for a type's charts, and the histogram's bins. */
const RECENT = 200;
const BINS = 20;

/**
 * The job types the cluster knows: those defined on this node, then those the other nodes'
 * reports on the shared board carry (each report's points list every type its node defines).
 */
export function clusterTypeNames(jobs: JobService, reports: NodeReport[]): string[] {
  const names = new Set(jobs.typeNames());
  for (const r of reports) for (const p of r.series) for (const type of Object.keys(p.jobs)) names.add(type);
  return [...names];
}

/**
 * What an operator's console charts for one job type; null when no node of the cluster defines
 * the type and the shared backend holds no run of it.
 */
export async function typeStats(
  type: string,
  d: { jobs: JobService; store: JobStore; views: JobViews; reports: NodeReport[] },
): Promise<JobTypeStats | null> {
  const known =
    clusterTypeNames(d.jobs, d.reports).includes(type) ||
    (await d.store.durations(type, '', 1)).length > 0 ||
    (await d.views.list({ type, limit: 1 })).jobs.length > 0;
  const info = await d.jobs.typeInfo(type, known);
  if (!info) return null;
  const samples = await d.store.durations(type, '', RECENT);
  const max = samples.reduce((m, s) => Math.max(m, s.ms), 0);
  const binMs = Math.max(1, Math.ceil((max * 1.05) / BINS));
  const counts = new Array<number>(BINS).fill(0);
  for (const s of samples) counts[Math.min(BINS - 1, Math.floor(s.ms / binMs))]!++;
  const finished = [];
  let cursor: string | undefined;
  for (let page = 0; page < 4 && finished.length < RECENT; page++) {
    const { jobs, next } = await d.views.list({ type, cursor, limit: 100 });
    for (const j of jobs)
      if (j.finishedAt !== null)
        finished.push({
          id: j.id,
          status: j.status,
          finishedAt: j.finishedAt,
          waitMs: j.startedAt === null ? null : j.startedAt - j.createdAt,
          runMs: j.runMs,
          promisedP50Ms: j.promised.p50Ms,
          promisedP90Ms: j.promised.p90Ms,
        });
    if (!next) break;
    cursor = next;
  }
  const byAt = new Map<number, JobTypeStats['series'][number]>();
  for (const r of d.reports)
    for (const p of r.series) {
      const j = p.jobs[type];
      if (!j) continue;
      const s = byAt.get(p.at) ?? {
        at: p.at,
        created: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
        queued: 0,
        running: 0,
      };
      s.created += j.created;
      s.succeeded += j.succeeded;
      s.failed += j.failed;
      s.cancelled += j.cancelled;
      s.queued += j.queued;
      s.running += j.running;
      byAt.set(p.at, s);
    }
  return {
    ...info,
    durations: { binMs, counts, samples: samples.length },
    recent: finished.slice(0, RECENT).reverse(),
    series: [...byAt.values()].sort((a, b) => a.at - b.at),
  };
}
