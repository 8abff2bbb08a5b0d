import type { WriteFollower } from '../ports/broker.js';

/** Something with queued output to write at the end of the tick. */
export interface Flushable {
  flush(): void;
  /**
   * `flush` threw: an unexpected fault in this connection alone. Close it with a catalogued code
   * (WebSocket 4003, an SSE `disconnect`); every other connection in the tick is still written.
   */
  abort(err: unknown): void;
}

/** Told of a fault the ticker contained; `target` is the connection it was aborted, if any. */
export type FaultListener = (err: unknown, target?: Flushable) => void;

/** What a cleared slot holds: nothing to flush, and no connection kept from being collected. */
const UNSET: Flushable = { flush() {}, abort() {} };

/**
 * Coalesces writes: everything queued during one turn of the event loop is written once, at
 * `setImmediate`. A connection that receives ten publications in a tick gets one frame and one
 * syscall, not ten; this is where fan-out throughput comes from.
 */
export class Ticker implements WriteFollower {
  /**
   * What to flush this tick: the first `#count` slots. An array, not a set: a connection
   * schedules itself only when its queue goes from empty to one chunk, and a flush of an empty
   * queue is a no-op, so a repeat costs nothing and a set's hashing per delivery is spared. The
   * array keeps its size between ticks and its used slots are cleared with `fill`: setting
   * `length = 0` is a call into the runtime that gives the storage back, and the next tick's
   * thousand pushes grow it again.
   */
  #dirty: Flushable[] = [];
  #count = 0;
  #armed = false;
  /** The queued tick, while armed (so {@link follow} can move it behind a step queued later). */
  #immediate: NodeJS.Immediate | null = null;
  /** Moved behind another step once since the last tick (it is moved at most once a tick). */
  #moved = false;
  /** Running the `before` phase: an `arm` now asks for another tick after this one. */
  #inBefore = false;
  #again = false;
  readonly #run = (): void => this.#tick();

  #spare: Flushable[] = [];

  constructor(
    /** Runs first in each tick (the hub turns pending publications into outlet writes). */
    private before: () => void = () => {},
    /** Runs after every outlet has written. */
    private after: () => void = () => {},
    /** Hears every fault contained here (to log it); the process never sees them. */
    private onFault: FaultListener = () => {},
  ) {}

  /**
   * Set the phases of each tick: the node builds one ticker, hands it to the hub (which turns
   * pending publications into writes in `before`) and to every connection (which schedule their
   * flushes on it).
   */
  use(phases: { before?: () => void; after?: () => void; onFault?: FaultListener }): void {
    if (phases.before) this.before = phases.before;
    if (phases.after) this.after = phases.after;
    if (phases.onFault) this.onFault = phases.onFault;
  }

  /** Make sure a tick runs soon. */
  arm(): void {
    if (this.#inBefore) this.#again = true;
    this.#queue();
  }

  #queue(): void {
    if (this.#armed) return;
    this.#armed = true;
    this.#immediate = setImmediate(this.#run);
  }

  /**
   * A step was just queued with `setImmediate` whose results this ticker writes (a group commit
   * that releases publications and the acks of their publishers): make sure the tick runs after
   * it, in the same turn of the event loop, instead of one turn later. Node runs the immediates
   * queued before a turn's check phase in order, and settles promises between them, so the
   * step's deliveries and acks are all queued by the time the tick runs; without this, the tick
   * ran one turn of the loop later (one more `epoll_wait`, timers and immediates checked once
   * more per publication at a low rate). A tick already queued
   * is moved behind the step, at most once per tick, so a stream of steps cannot starve it.
   */
  follow(): void {
    if (!this.#armed) return this.#queue();
    if (this.#moved || this.#immediate === null) return;
    this.#moved = true;
    clearImmediate(this.#immediate);
    this.#immediate = setImmediate(this.#run);
  }

  /** Flush `target` at the end of this tick. */
  schedule(target: Flushable): void {
    const dirty = this.#dirty;
    if (this.#count < dirty.length) dirty[this.#count] = target;
    else dirty.push(target);
    this.#count++;
    this.#queue();
  }

  /**
   * Nothing thrown here may escape: an exception from a `setImmediate` callback is uncaught, and
   * an uncaught exception ends the process and every client's connection with it. So each step is
   * fenced, and a fault in one connection's write costs that connection only.
   */
  #tick(): void {
    // Still armed while `before` runs: the writes it queues (the hub's deliveries) are flushed in
    // this tick, so they need no tick of their own.
    this.#inBefore = true;
    this.#guard(this.before);
    this.#inBefore = false;
    this.#armed = false;
    this.#moved = false;
    this.#immediate = null;
    if (this.#again) {
      this.#again = false;
      this.#queue();
    }
    // Two arrays swapped in turn: a tick allocates nothing when the fan-out is steady. A flush
    // that schedules (a write that fails and closes) lands in the other array, for the next tick.
    const dirty = this.#dirty;
    const count = this.#count;
    this.#dirty = this.#spare;
    this.#count = 0;
    for (let i = 0; i < count; i++) {
      const target = dirty[i]!;
      try {
        target.flush();
      } catch (err) {
        this.onFault(err, target);
        this.#guard(() => target.abort(err));
      }
    }
    dirty.fill(UNSET, 0, count);
    this.#spare = dirty;
    this.#guard(this.after);
  }

  #guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.onFault(err);
    }
  }
}
