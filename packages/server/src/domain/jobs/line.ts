import type { JobRecord } from '../../ports/job-store.js';
import type { Estimate } from './estimator.js';
import type { LinePlace } from './progress.js';
import { conformalQuantile, remainingGiven } from './duration-model.js';

/** How long a burst of running jobs counts as the type's concurrency after it ends. */
const PEAK_MEMORY_MS = 60_000;
/**
 * A job this node saw queued or running but never saw leave (in a cluster another node may
 * lease or finish it) is forgotten this long after it joined, or after four times its p90 once
 * running, so it neither holds a place nor a slot for ever.
 */
const FORGET_QUEUED_MS = 15 * 60_000;
/** Waits remembered to calibrate the line's promises. */
const WAIT_WINDOW = 100;
/** Jobs ahead scheduled one by one, per slot; the rest of a longer line is spread evenly. */
const EXACT_SLOTS_FACTOR = 2;
/** z of the normal 90th percentile, for the spread of a sum of runs. */
const Z90 = 1.2816;

interface Entry {
  estimate: Estimate;
  startedAt: number | null;
  /** When it joined the line (or started running). */
  since: number;
}

interface TypeLine {
  queued: Map<string, Entry>;
  running: Map<string, Entry>;
  /** When slots freed while jobs waited, not yet taken again (oldest first). */
  freed: number[];
  /** Typical time from a slot freeing to the next job starting in it (the worker's round trip). */
  handoffMs: number;
  /**
   * Typical time from a job's creation to its start when a slot was idle for it (a worker's
   * long poll waking, its lease request, the lease): a job that never waits still pays it.
   */
  pickupMs: number;
  /**
   * Promised starts of queued jobs: [created, p50 start, whether an idle slot was promised], to
   * learn how the line's promises hold.
   */
  promised: Map<string, [number, number, boolean]>;
  /** Recent actual wait / promised wait, ascending on read (the line's own errors). */
  waitRatios: number[];
  /** Most jobs of the type seen running at once lately, and when. */
  peak: number;
  peakAt: number;
}

/**
 * The wait in line: the jobs of each type this node has queued and running, and for a queued job
 * its place and expected start. The start comes from a list schedule: the type runs as many
 * jobs at once as it was lately seen running (its workers), each running job frees its slot
 * after its remaining p50 (given how long it has run), and the jobs ahead take the free slots
 * in order, each for its own p50. The p90 of a start adds the spread of the runs before it as
 * a sum (it grows with the square root of their number, not with it).
 *
 * Only this node's jobs are known: in a cluster a job created elsewhere does not count here,
 * and one leased or finished elsewhere is forgotten after a while (see FORGET_QUEUED_MS).
 */
export class JobLine {
  readonly #types = new Map<string, TypeLine>();

  #of(type: string): TypeLine {
    let line = this.#types.get(type);
    if (!line)
      this.#types.set(
        type,
        (line = {
          queued: new Map(),
          running: new Map(),
          peak: 0,
          peakAt: 0,
          freed: [],
          handoffMs: 0,
          pickupMs: 0,
          promised: new Map(),
          waitRatios: [],
        }),
      );
    return line;
  }

  /** The job waits (created, or handed back for a retry): it joins the end of its type's line. */
  queued(job: JobRecord): void {
    const line = this.#of(job.type);
    line.running.delete(job.id);
    line.queued.delete(job.id);
    line.queued.set(job.id, { estimate: job.estimate, startedAt: null, since: Date.now() });
  }

  /** The job was leased. */
  started(job: JobRecord, now = Date.now()): void {
    const line = this.#of(job.type);
    if (line.queued.delete(job.id)) {
      const freedAt = line.freed.shift();
      if (freedAt !== undefined) line.handoffMs += (now - freedAt - line.handoffMs) / 8;
      const promised = line.promised.get(job.id);
      if (promised?.[2]) line.pickupMs += (Math.max(0, now - promised[0]) - line.pickupMs) / 8;
      else if (promised && promised[1] > promised[0]) {
        line.waitRatios.push((now - promised[0]) / (promised[1] - promised[0]));
        if (line.waitRatios.length > WAIT_WINDOW) line.waitRatios.shift();
      }
    }
    line.promised.delete(job.id);
    line.running.set(job.id, { estimate: job.estimate, startedAt: job.startedAt ?? now, since: now });
    if (line.running.size >= line.peak || now - line.peakAt > PEAK_MEMORY_MS) {
      line.peak = line.running.size;
      line.peakAt = now;
    }
  }

  /** The job ended (or is gone). */
  ended(job: { id: string; type: string }, now = Date.now()): void {
    const line = this.#types.get(job.type);
    if (!line) return;
    line.queued.delete(job.id);
    line.promised.delete(job.id);
    if (!line.running.delete(job.id)) return;
    if (line.running.size + 1 >= line.peak) line.peakAt = now;
    if (line.queued.size > line.freed.length) line.freed.push(now);
    if (line.freed.length > line.peak + 1) line.freed.shift();
  }

  /** Jobs queued and running of a type on this node. */
  counts(type: string): { queued: number; running: number; concurrency: number } {
    const line = this.#types.get(type);
    if (!line) return { queued: 0, running: 0, concurrency: 0 };
    this.#prune(line, Date.now());
    return { queued: line.queued.size, running: line.running.size, concurrency: this.#concurrency(line, Date.now()) };
  }

  /** Forget what this node will not hear the end of (see {@link FORGET_QUEUED_MS}). */
  #prune(line: TypeLine, now: number): void {
    for (const [id, entry] of line.queued) {
      // Oldest first: stop at the first one still young.
      if (now - entry.since <= FORGET_QUEUED_MS) break;
      line.queued.delete(id);
      line.promised.delete(id);
    }
    for (const [id, entry] of line.running)
      if (now - entry.since > Math.max(60_000, 4 * entry.estimate.p90Ms)) line.running.delete(id);
  }

  #concurrency(line: TypeLine, now: number): number {
    return Math.max(line.running.size, now - line.peakAt <= PEAK_MEMORY_MS ? line.peak : 0);
  }

  /** A queued job's place in line, or null when this node does not know it as queued. */
  place(job: JobRecord, now = Date.now()): LinePlace | null {
    const line = this.#types.get(job.type);
    if (!line) return null;
    this.#prune(line, now);
    if (!line.queued.has(job.id)) return null;
    const slots = this.#concurrency(line, now);
    let ahead = 0;
    if (slots === 0) {
      for (const id of line.queued.keys()) {
        if (id === job.id) break;
        ahead++;
      }
      return { position: ahead + 1, startAt: null, startP90At: null };
    }
    // Each slot: when it is next free (p50) and the variance of that time.
    const free: Slot[] = [];
    for (const run of line.running.values()) {
      const elapsed = now - (run.startedAt ?? now);
      const left = run.estimate.curve
        ? remainingGiven(run.estimate.curve, elapsed, run.estimate.p50Ms, run.estimate.p90Ms)
        : { p50Ms: Math.max(0, run.estimate.p50Ms - elapsed), p90Ms: Math.max(0, run.estimate.p90Ms - elapsed) };
      free.push({ at: now + left.p50Ms, variance: ((left.p90Ms - left.p50Ms) / Z90) ** 2, idle: false });
    }
    while (free.length < slots) free.push({ at: now, variance: 0, idle: true });
    // The earliest free slot takes the next job: a heap, so a long line over many slots costs
    // (jobs ahead) x log(slots), not jobs x slots for every state of every queued job.
    // Past EXACT_SLOTS_FACTOR x slots jobs ahead, the rest is spread evenly over the slots (what
    // the schedule converges to), so a line of thousands costs no more than a short one.
    const heap = new SlotHeap(free);
    const exact = EXACT_SLOTS_FACTOR * slots;
    let restMs = 0;
    let restVariance = 0;
    for (const [id, entry] of line.queued) {
      if (id === job.id) break;
      const e = entry.estimate;
      const ms = e.p50Ms + line.handoffMs;
      const variance = ((e.p90Ms - e.p50Ms) / Z90) ** 2;
      if (ahead++ < exact) heap.advance(ms, variance);
      else {
        restMs += ms;
        restVariance += variance;
      }
    }
    const position = ahead + 1;
    const earliest = heap.earliest;
    const next = { at: earliest.at + restMs / slots, variance: earliest.variance + restVariance / slots };
    // A slot idle for this job: it starts once a worker picks it up. Else once the slot it
    // waits for frees and the worker comes back for it.
    const idle = earliest.idle && restMs === 0;
    let startAt = idle
      ? Math.max(now, job.runAfter, job.createdAt + Math.round(line.pickupMs))
      : Math.max(now, job.runAfter, Math.round(next.at + line.handoffMs));
    let startP90At = Math.round(startAt + Z90 * Math.sqrt(next.variance));
    // The first promise a job gets is the one checked when it starts.
    const first = line.promised.get(job.id);
    if (!first) line.promised.set(job.id, [job.createdAt, startAt, idle]);
    // Conformal: scale the wait by how the line's promises held on the jobs that started lately.
    if (!idle && line.waitRatios.length >= 10 && startAt > now) {
      const ratios = [...line.waitRatios].sort((a, b) => a - b);
      const wait = startAt - now;
      startAt = now + Math.round(wait * conformalQuantile(ratios, 0.5));
      startP90At = Math.max(startAt, now + Math.round(wait * conformalQuantile(ratios, 0.9)), startP90At);
    }
    return { position, startAt, startP90At };
  }
}

/** A worker's slot: when it is next free (p50), the variance of that, and whether it is idle now. */
interface Slot {
  at: number;
  variance: number;
  idle: boolean;
}

/** Slots by when they are next free, earliest first (ties: the slot listed first). */
class SlotHeap {
  readonly #slots: (Slot & { index: number })[];

  constructor(free: Slot[]) {
    this.#slots = free.map((f, index) => ({ ...f, index }));
    for (let i = (this.#slots.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  get earliest(): Slot {
    return this.#slots[0]!;
  }

  /** The earliest slot runs one more job: it is free again `ms` later. */
  advance(ms: number, variance: number): void {
    const top = this.#slots[0]!;
    top.at += ms;
    top.variance += variance;
    top.idle = false;
    this.#down(0);
  }

  #before(a: { at: number; index: number }, b: { at: number; index: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.index < b.index);
  }

  #down(i: number): void {
    const s = this.#slots;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < s.length && this.#before(s[l]!, s[m]!)) m = l;
      if (r < s.length && this.#before(s[r]!, s[m]!)) m = r;
      if (m === i) return;
      [s[i], s[m]] = [s[m]!, s[i]!];
      i = m;
    }
  }
}
