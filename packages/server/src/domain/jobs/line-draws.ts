import { Z90 } from './duration-model.js';

/** A start near the front of a line is read from this many drawn schedules. */
const DRAWS = 64;
/** Lines over at most this many slots are drawn; wider ones keep the slots' p50 schedule. */
export const DRAWN_SLOTS_MAX = 8;
/** A job with at most this many ahead of it is drawn; further back, the rounds are alike. */
export const DRAWN_AHEAD_MAX = 32;

/** A drawn start: its median, and its variance read from its 90th percentile. */
export interface DrawnStart {
  p50At: number;
  variance: number;
}

/** What a drawn schedule is read from: the line's slots now, and the jobs ahead in order. */
export interface DrawnLine {
  now: number;
  /** How many jobs of the type run at once (its workers). */
  slots: number;
  /** The running jobs' time left: p50 and standard deviation. */
  running: readonly { p50Ms: number; sdMs: number }[];
  /** The jobs ahead, in line order: their run's p50 and variance, and when they joined. */
  ahead: Iterable<{ readonly p50Ms: number; readonly variance: number; readonly since: number }>;
  /** A worker's pickup of a job that finds it idle, and its way back for the next after a run. */
  pickupMs: number;
  handoffMs: number;
}

/**
 * The start of the job behind `ahead`, read from {@link DRAWS} drawn schedules: each running job
 * ends after a draw of its time left, each job ahead runs a draw of its own run (normal, from p50
 * and p90, never below 0) in the slot that frees first, as the line's list schedule does with
 * p50s. So the k-th job to wait for a slot is promised the k-th of the slots' ends: the 5th job
 * of a burst on 4 workers starts when the first of the 4 runs ahead ends, the 8th when the last
 * does, where p50s promise all four the same start. Returns the median start (after the worker's
 * handoff) and the variance read from its p90. The draws are the same on every call: a start read
 * again on an unchanged line is the same number, and moves little when the line moves little.
 */
export function drawnStart(line: DrawnLine): DrawnStart {
  const { now, running, pickupMs, handoffMs } = line;
  const ahead = [...line.ahead];
  const z = normals();
  let k = 0;
  const normal = () => z[k++ % z.length]!;
  const at = new Float64Array(Math.max(line.slots, running.length));
  const idle = new Uint8Array(at.length);
  const starts = new Float64Array(DRAWS);
  for (let d = 0; d < DRAWS; d++) {
    for (let i = 0; i < at.length; i++) {
      const run = running[i];
      at[i] = run ? now + Math.max(0, run.p50Ms + run.sdMs * normal()) : now;
      idle[i] = run ? 0 : 1;
    }
    for (const job of ahead) {
      const i = earliestOf(at);
      const ms = Math.max(0, job.p50Ms + Math.sqrt(job.variance) * normal());
      at[i] = (idle[i] ? Math.max(at[i]!, job.since + pickupMs) : at[i]! + handoffMs) + ms;
      idle[i] = 0;
    }
    const i = earliestOf(at);
    starts[d] = idle[i] ? Math.max(at[i]!, now) : at[i]! + handoffMs;
  }
  starts.sort();
  const p50At = (starts[DRAWS / 2 - 1]! + starts[DRAWS / 2]!) / 2;
  const p90At = starts[Math.ceil(0.9 * DRAWS) - 1]!;
  return { p50At, variance: (Math.max(0, p90At - p50At) / Z90) ** 2 };
}

/** The index of the least of `at` (the first of equals). */
function earliestOf(at: Float64Array): number {
  let best = 0;
  for (let i = 1; i < at.length; i++) if (at[i]! < at[best]!) best = i;
  return best;
}

let table: Float64Array | undefined;

/**
 * Standard normal draws, enough for the largest drawn schedule, the same for every caller: made
 * once (a seeded generator, Box-Muller), then read in order.
 */
function normals(): Float64Array {
  if (table) return table;
  const z = new Float64Array(DRAWS * (DRAWN_AHEAD_MAX + DRAWN_SLOTS_MAX));
  let s = 0x2545f491;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  for (let i = 0; i < z.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    z[i] = r * Math.cos(theta);
    z[i + 1] = r * Math.sin(theta);
  }
  return (table = z);
}
