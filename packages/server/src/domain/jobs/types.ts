import type { Json } from '@inloop/protocol';
import type { PlannedStage } from '../../ports/job-store.js';

/** Per-type settings. */
export interface JobTypeOptions {
  /** In-process handlers run at most this many jobs of the type at once. @default 4 */
  concurrency?: number;
  /** Attempts before a job fails for good. @default 3 */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, jittered, capped at 60 s. @default 1000 */
  backoffMs?: number;
  /** Lease length; a worker must report or heartbeat within it. @default 30_000 */
  leaseMs?: number;
  /** Typical duration before any job of the type has finished (cold-start ETA). @default 10_000 */
  expectedMs?: number;
  /** The stages the work goes through, with relative weights, when known up front. */
  stages?: PlannedStage[];
}

/** What a worker may report under its lease. */
export interface Report {
  stage?: { name: string; weight?: number };
  /** Measured fraction, 0..1 (of the current stage when staged). */
  progress?: number;
  partial?: Json;
  message?: string;
  /** True when the report itself is a sign of life from the worker (not an automatic renewal). */
  sign?: boolean;
}
