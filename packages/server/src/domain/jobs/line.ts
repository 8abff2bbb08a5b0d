import type { JobRecord } from '../../ports/job-store.js';
import type { Estimate } from './estimator.js';
import type { LinePlace } from './progress.js';
import { remainingGiven, Z90 } from './duration-model.js';
import { DRAWN_AHEAD_MAX, DRAWN_SLOTS_MAX, drawnStart, type DrawnStart } from './line-draws.js';
import { PromiseCalibration, type LineCalibration, type Promised } from './line-calibration.js';
import { LineQueue } from './line-queue.js';

/** How long a burst of running jobs counts as the type's concurrency after it ends. */
const PEAK_MEMORY_MS = 60_000;
/**
 * A job this node saw queued or running but never saw leave (in a cluster another node may
 * lease or finish it) is forgotten this long after it joined, or after four times its p90 once
 * running, so it neither holds a place nor a slot for ever.
 */
const FORGET_QUEUED_MS = 15 * 60_000;
/** Jobs ahead scheduled one by one, per slot; the rest of a longer line is spread evenly. */
const EXACT_SLOTS_FACTOR = 2;
/** The least spread (p90 - p50) of a promised end, as a share of its p50. */
const MIN_SPREAD = 0.05;
/** A running job's time left is read from its curve again after this long (it is costly). */
const LEFT_FRESH_MS = 250;
/** Running jobs are checked for being forgotten at most this often per type. */
const PRUNE_EVERY_MS = 1000;

interface Entry {
  estimate: Estimate;
  startedAt: number | null;
  /** When it joined the line (or started running). */
  since: number;
  /** Its run's p50, and the variance of its run (from its p50-p90 spread). */
  p50Ms: number;
  variance: number;
  /** A running job's time left when last read from its curve, and when. */
  left?: { p50Ms: number; p90Ms: number; at: number };
}

const entryOf = (estimate: Estimate, startedAt: number | null, since: number): Entry => ({
  estimate,
  startedAt,
  since,
  p50Ms: estimate.p50Ms,
  variance: ((estimate.p90Ms - estimate.p50Ms) / Z90) ** 2,
});

interface TypeLine {
  queued: LineQueue<Entry>;
  running: Map<string, Entry>;
  prunedAt: number;
  /** Bumped by every change a full front's schedule depends on (see {@link FrontSchedule}). */
  version: number;
  front: FrontSchedule | null;
  /** When slots freed while jobs waited, not yet taken again (oldest first). */
  freed: number[];
  /** Typical time from a slot freeing to the next job starting in it (the worker's round trip). */
  handoffMs: number;
  /**
   * Typical time from a job's creation to its start when a slot was idle for it (a worker's
   * long poll waking, its lease request, the lease): a job that never waits still pays it.
   */
  pickupMs: number;
  /** The first promise of each job that queued, checked when it starts and when it ends. */
  promised: Map<string, Promised>;
  /** How the start and end promised to queued jobs held (see line-calibration.ts). */
  calibration: PromiseCalibration;
  /** Most jobs of the type seen running at once lately, and when. */
  peak: number;
  peakAt: number;
  /** Drawn starts by the number of jobs ahead, kept as a full front's schedule is. */
  drawn: { version: number; at: number; starts: Map<number, DrawnStart> } | null;
}

/**
 * The wait in line: the jobs of each type this node has queued and running, and for a queued job
 * its place and expected start. The start comes from a list schedule: the type runs as many
 * jobs at once as it was lately seen running (its workers), each running job frees its slot
 * after its remaining p50 (given how long it has run), and the jobs ahead take the free slots
 * in order, each for its own p50. The p90 of a start adds the spread of the runs before it as
 * a sum (it grows with the square root of their number, not with it). Near the front of a line
 * over a few workers the schedule is drawn instead (see line-draws.ts): there the jobs of
 * one round of the workers start in the order their slots free, which p50s cannot tell apart.
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
          queued: new LineQueue<Entry>(),
          running: new Map(),
          prunedAt: 0,
          version: 0,
          front: null,
          peak: 0,
          peakAt: 0,
          freed: [],
          handoffMs: 0,
          pickupMs: 0,
          promised: new Map(),
          calibration: new PromiseCalibration(),
          drawn: null,
        }),
      );
    return line;
  }

  /** The job waits (created, or handed back for a retry): it joins the end of its type's line. */
  queued(job: JobRecord, now = Date.now()): void {
    const line = this.#of(job.type);
    line.running.delete(job.id);
    line.queued.delete(job.id);
    // A retry is promised anew.
    line.promised.delete(job.id);
    line.queued.push(job.id, entryOf(job.estimate, null, now));
    // A job joining behind a full front changes no schedule ahead of it.
    if (line.queued.size <= EXACT_SLOTS_FACTOR * this.#concurrency(line, now)) line.version++;
  }

  /** The job was leased. */
  started(job: JobRecord, now = Date.now()): void {
    const line = this.#of(job.type);
    line.version++;
    if (line.queued.delete(job.id)) {
      const freedAt = line.freed.shift();
      if (freedAt !== undefined) line.handoffMs += (now - freedAt - line.handoffMs) / 8;
      const promised = line.promised.get(job.id);
      if (promised?.idle) line.pickupMs += (Math.max(0, now - promised.createdAt) - line.pickupMs) / 8;
      if (promised) line.calibration.started(promised, now);
    }
    line.running.set(job.id, entryOf(job.estimate, job.startedAt ?? now, now));
    if (line.running.size >= line.peak || now - line.peakAt > PEAK_MEMORY_MS) {
      line.peak = line.running.size;
      line.peakAt = now;
    }
  }

  /** The job ended (or is gone); a success that queued checks the end it was promised. */
  ended(job: { id: string; type: string; status?: string }, now = Date.now()): void {
    const line = this.#types.get(job.type);
    if (!line) return;
    line.version++;
    line.queued.delete(job.id);
    const promised = line.promised.get(job.id);
    line.promised.delete(job.id);
    if (promised && job.status === 'succeeded') line.calibration.ended(promised, now);
    if (!line.running.delete(job.id)) return;
    if (line.running.size + 1 >= line.peak) line.peakAt = now;
    if (line.queued.size > line.freed.length) line.freed.push(now);
    if (line.freed.length > line.peak + 1) line.freed.shift();
  }

  /** How the promises to the type's queued jobs held on this node, and the start delay learned. */
  calibration(type: string): LineCalibration {
    return (this.#types.get(type)?.calibration ?? new PromiseCalibration()).summary();
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
    for (let first = line.queued.first(); first; first = line.queued.first()) {
      // Oldest first: stop at the first one still young.
      if (now - first.entry.since <= FORGET_QUEUED_MS) break;
      line.queued.delete(first.id);
      line.promised.delete(first.id);
      line.version++;
    }
    if (now - line.prunedAt < PRUNE_EVERY_MS) return;
    line.prunedAt = now;
    for (const [id, entry] of line.running)
      if (now - entry.since > Math.max(60_000, 4 * entry.estimate.p90Ms)) {
        line.running.delete(id);
        line.promised.delete(id);
        line.version++;
      }
  }

  #concurrency(line: TypeLine, now: number): number {
    return Math.max(line.running.size, now - line.peakAt <= PEAK_MEMORY_MS ? line.peak : 0);
  }

  /**
   * The slots once the first `exact` jobs in line took them. The earliest free slot takes the
   * next job: a heap, so a long line over many slots costs (jobs ahead) x log(slots), not
   * jobs x slots. Past EXACT_SLOTS_FACTOR x slots jobs ahead, the rest is taken as alike (their
   * mean run, from the line's running sums): they fill the slots in turn, whole rounds of the
   * workers at a time, so the last of a burst of 12 on 4 workers waits the round it is in, not a
   * share of the jobs ahead spread evenly over the slots. The schedule of a full front is kept
   * until the line's front or its running jobs change, so a burst of thousands joining behind it
   * costs one schedule, not one each.
   */
  #schedule(line: TypeLine, now: number, slots: number, exact: number): { heap: SlotOrder; idleSlots: number } {
    const full = exact === EXACT_SLOTS_FACTOR * slots;
    const kept = line.front;
    if (full && kept && kept.version === line.version && kept.slots === slots && now - kept.at < LEFT_FRESH_MS)
      return kept;
    // Each slot: when it is next free (p50) and the variance of that time.
    const free: Slot[] = [];
    for (const run of line.running.values()) {
      const left = timeLeft(run, now);
      free.push({ at: now + left.p50Ms, variance: ((left.p90Ms - left.p50Ms) / Z90) ** 2, idle: false });
    }
    const idleSlots = Math.max(0, slots - free.length);
    // Fewer jobs ahead than idle slots, and no running job due yet: this job takes an idle slot,
    // as every job ahead of it did (the common case of a type with room to spare).
    if (exact < idleSlots && free.every((f) => f.at > now)) return { heap: idleOnly(now), idleSlots };
    while (free.length < slots) free.push({ at: now, variance: 0, idle: true });
    const heap = new SlotHeap(free);
    // A job that finds a slot idle starts once a worker picks it up; else once the worker is
    // back from the run before it.
    for (const entry of line.queued.front(exact))
      heap.advance(entry.p50Ms, entry.variance, entry.since + line.pickupMs, line.handoffMs);
    if (full) line.front = { version: line.version, slots, at: now, heap, idleSlots };
    return { heap, idleSlots };
  }

  /**
   * The drawn start of the job behind the line's first `jobsAhead` jobs (see line-draws.ts),
   * kept as a full front's schedule is: while the line is unchanged, for {@link LEFT_FRESH_MS}.
   */
  #drawn(line: TypeLine, now: number, slots: number, jobsAhead: number): DrawnStart {
    const kept = line.drawn;
    if (kept && kept.version === line.version && now - kept.at < LEFT_FRESH_MS) {
      const start = kept.starts.get(jobsAhead);
      if (start) return start;
    } else line.drawn = { version: line.version, at: now, starts: new Map() };
    const running = [...line.running.values()].map((run) => {
      const left = timeLeft(run, now);
      return { p50Ms: left.p50Ms, sdMs: Math.max(0, left.p90Ms - left.p50Ms) / Z90 };
    });
    const start = drawnStart({
      now,
      slots,
      running,
      ahead: line.queued.front(jobsAhead),
      pickupMs: line.pickupMs,
      handoffMs: line.handoffMs,
    });
    line.drawn!.starts.set(jobsAhead, start);
    return start;
  }

  /** A queued job's place in line, or null when this node does not know it as queued. */
  place(job: JobRecord, now = Date.now()): LinePlace | null {
    const line = this.#types.get(job.type);
    if (!line) return null;
    if (!line.queued.has(job.id)) return null;
    this.#prune(line, now);
    const ahead = line.queued.ahead(job.id);
    if (ahead < 0) return null;
    const slots = this.#concurrency(line, now);
    if (slots === 0) return { position: ahead + 1, startAt: null, startP90At: null };
    const exact = Math.min(ahead, EXACT_SLOTS_FACTOR * slots);
    const { heap, idleSlots } = this.#schedule(line, now, slots, exact);
    const rest = ahead - exact;
    const restSums = line.queued.sums(exact, ahead);
    const restMs = restSums.p50Ms + rest * line.handoffMs;
    const restVariance = restSums.variance;
    const position = ahead + 1;
    const earliest = heap.earliest;
    let next: Slot = earliest;
    if (rest > 0) {
      const slot = heap.nth(rest % slots);
      const turns = Math.floor(rest / slots);
      next = {
        at: slot.at + (turns * restMs) / rest,
        variance: slot.variance + (turns * restVariance) / rest,
        idle: false,
      };
    }
    // A slot idle for this job: it starts once a worker picks it up. Else once the slot it
    // waits for frees and the worker comes back for it.
    const idle = earliest.idle && rest === 0;
    let scheduled = idle
      ? Math.max(job.createdAt + Math.round(line.pickupMs), now)
      : Math.max(now, Math.round(next.at + line.handoffMs));
    let startVariance = next.variance;
    // Within a few workers' reach, the start is an order statistic: the 5th job of a burst on 4
    // workers starts when the first of the 4 runs ahead ends, the 8th when the last does, while
    // the slots' p50s promised all four the same start.
    if (!idle && ahead <= DRAWN_AHEAD_MAX && slots <= DRAWN_SLOTS_MAX) {
      const drawn = this.#drawn(line, now, slots, ahead);
      scheduled = Math.max(now, Math.round(drawn.p50At));
      startVariance = drawn.variance;
    }
    // The rounds of the workers it waits: 0 when a slot is idle for it.
    const rounds = idle ? 0 : 1 + Math.floor(Math.max(0, ahead - idleSlots) / slots);
    // What the line's schedule misses (pickup and handoff latency it has not learned, runs that
    // end later than their p50 when the line is full): the start delay observed on recent
    // queued jobs for as many rounds.
    const startAt = Math.max(now, job.runAfter, scheduled + line.calibration.startDelay(rounds, job.estimate.samples));
    const startP90At = Math.round(startAt + Z90 * Math.sqrt(startVariance));
    // The end: the start, then its own run; p90 adds the spreads as independent parts.
    const e = job.estimate;
    const p50Ms = startAt - now + e.p50Ms;
    // Timings jitter by a few percent at least: a spread of 0 (a constant type) would make every
    // error look infinite next to it.
    const spreadMs = Math.max(Math.hypot(startP90At - startAt, e.p90Ms - e.p50Ms), MIN_SPREAD * p50Ms, 1);
    const base = { p50Ms, spreadMs };
    const calibrated = line.calibration.done(base, idle, e.samples);
    // An end is never surer than the run it ends with. The scores scale the spread of each
    // promise by how past promises' spreads held, and while a type's model grows its spreads
    // shrink: scores of promises made wider than needed shrank the next ones below the run's own
    // spread (bench:eta's saturated family, its 4th burst: p90 9 ms past p50 for 80 ms runs whose
    // own p90 is 17 ms past theirs, 10 of 12 late).
    const done = {
      p50Ms: calibrated.p50Ms,
      p90Ms: Math.max(calibrated.p90Ms, calibrated.p50Ms + e.p90Ms - e.p50Ms),
    };
    // The first promise a job gets is the one checked when it starts and ends; not a cold
    // start's, whose error is the default duration's, not the line's.
    if (!line.promised.has(job.id) && e.source !== 'default')
      line.promised.set(job.id, {
        createdAt: job.createdAt,
        idle,
        rounds,
        scheduledStart: scheduled,
        doneP50At: now + base.p50Ms,
        spreadMs: base.spreadMs,
        doneP90At: now + done.p90Ms,
        runs: e.samples,
        group: line.calibration.groupOf(now, e.p50Ms),
      });
    return { position, startAt, startP90At, doneAt: now + done.p50Ms, doneP90At: now + done.p90Ms };
  }
}

/**
 * A running job's time left (p50, p90) given how long it has run, read from its curve at most
 * every {@link LEFT_FRESH_MS} and counted down in between: a line's every place reads every
 * running job, and a curve read costs far more than a subtraction.
 */
function timeLeft(run: Entry, now: number): { p50Ms: number; p90Ms: number } {
  const cached = run.left;
  if (cached && now - cached.at < LEFT_FRESH_MS) {
    const gone = now - cached.at;
    return { p50Ms: Math.max(0, cached.p50Ms - gone), p90Ms: Math.max(0, cached.p90Ms - gone) };
  }
  const elapsed = now - (run.startedAt ?? now);
  const e = run.estimate;
  const left = e.curve
    ? remainingGiven(e.curve, elapsed, e.p50Ms, e.p90Ms)
    : { p50Ms: Math.max(0, e.p50Ms - elapsed), p90Ms: Math.max(0, e.p90Ms - elapsed) };
  run.left = { ...left, at: now };
  return left;
}

/** The schedule of a line's full front, kept while nothing it depends on changed. */
interface FrontSchedule {
  version: number;
  slots: number;
  at: number;
  /** Read only once kept. */
  heap: SlotOrder;
  idleSlots: number;
}

/** A worker's slot: when it is next free (p50), the variance of that, and whether it is idle now. */
interface Slot {
  at: number;
  variance: number;
  idle: boolean;
}

/** What a place reads of the slots once the jobs ahead took theirs. */
interface SlotOrder {
  readonly earliest: Slot;
  /** The slot free nth (0: the earliest). */
  nth(n: number): Slot;
}

/** Slots of which the earliest is idle now and no job ahead waits for one. */
const idleOnly = (now: number): SlotOrder => {
  const slot = { at: now, variance: 0, idle: true };
  return { earliest: slot, nth: () => slot };
};

/** Slots by when they are next free, earliest first (ties: the slot listed first). */
class SlotHeap implements SlotOrder {
  readonly #slots: (Slot & { index: number })[];
  /** The slots in the order they free, once asked for (a kept schedule is asked many times). */
  #sorted: Slot[] | null = null;

  constructor(free: Slot[]) {
    this.#slots = free.map((f, index) => ({ at: f.at, variance: f.variance, idle: f.idle, index }));
    for (let i = (this.#slots.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  get earliest(): Slot {
    return this.#slots[0]!;
  }

  /** The slot free nth (0: the earliest). */
  nth(n: number): Slot {
    if (n === 0) return this.#slots[0]!;
    this.#sorted ??= [...this.#slots].sort((a, b) => (this.#before(a, b) ? -1 : 1));
    return this.#sorted[n]!;
  }

  /**
   * The earliest slot runs one more job for `ms`: from `pickedUpAt` at the earliest when the
   * slot is idle, else `handoffMs` after it frees.
   */
  advance(ms: number, variance: number, pickedUpAt: number, handoffMs: number): void {
    this.#sorted = null;
    const top = this.#slots[0]!;
    top.at = (top.idle ? Math.max(top.at, pickedUpAt) : top.at + handoffMs) + ms;
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
