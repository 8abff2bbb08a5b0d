import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT that
 * pushes the WAL past 1,000 pages: that COMMIT copies the WAL into the database file and fsyncs
 * it, on the thread that serves requests, so every few hundred group commits one stalls for tens
 * to hundreds of milliseconds (the tail of `202` at 1,000 jobs/s). Here the node's connection has
 * `wal_autocheckpoint = 0`, and a worker thread with a connection of its own does the copying:
 * at most once per interval while commits happen (never when idle), two PASSIVE checkpoints
 * back to back (they never block a writer; the second copies what was committed during the
 * first).
 *
 * The interval follows the write rate: from `intervalMs` (0.5 s) it doubles, up to
 * {@link MAX_INTERVAL_MS}, while a checkpoint finds fewer than {@link TARGET_FRAMES} pages to
 * copy, and halves when it finds over twice as many. Each checkpoint costs a worker wake-up, its
 * fsyncs and the worker's own garbage collections whatever it copies: at 75 publications/s, one
 * every 0.5 s was about 1 % of the node's CPU, as much as a tenth of its fan-out to 1,000
 * sockets. Busy nodes keep the short interval, so the WAL stays near
 * {@link TARGET_FRAMES}-{@link TARGET_FRAMES}x2 pages (4 KiB each) or one short interval's writes.
 *
 * A WAL starts over from its beginning only when a writer finds every frame copied, which a
 * checkpoint beside a busy writer never leaves it: a commit always lands meanwhile. So once the
 * worker is done, the node finishes the job itself right after its next COMMIT (`finish`: a
 * PASSIVE checkpoint of the few frames committed since, on its own connection), and its next
 * write starts the WAL over. The WAL stays about one interval's writes long.
 *
 * If the worker cannot start or fails, the connection goes back to SQLite's own checkpoints:
 * slower tails, never an unbounded WAL.
 */
/** A checkpoint that finds fewer WAL pages than this lengthens the interval; over twice, shortens it. */
export const TARGET_FRAMES = 512;
/** The longest interval between checkpoints while commits happen. */
export const MAX_INTERVAL_MS = 8000;

export class Checkpointer {
  #worker: Worker | null;
  #timer: NodeJS.Timeout | null = null;
  /** The worker is copying: no other request until it is done. */
  #copying = false;
  /** The worker is done: the next commit finishes the checkpoint on the node's connection. */
  #finishDue = false;
  readonly #fallback: () => void;
  readonly #finish: () => void;
  /** The current interval, between `intervalMs` and {@link MAX_INTERVAL_MS}. */
  #interval: number;

  /**
   * @param driver the resolved path of better-sqlite3 (the worker loads the same build)
   * @param finish a PASSIVE checkpoint on the node's own connection
   * @param fallback turns SQLite's automatic checkpoints back on
   */
  constructor(
    file: string,
    driver: string,
    finish: () => void,
    fallback: () => void,
    readonly intervalMs = 500,
  ) {
    this.#finish = finish;
    this.#fallback = fallback;
    this.#interval = intervalMs;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    this.#worker.unref();
    this.#worker.on('message', (frames: number) => {
      this.#copying = false;
      this.#finishDue = true;
      this.#adapt(frames);
    });
    this.#worker.on('error', () => this.#giveUp());
    this.#worker.on('exit', () => this.#giveUp());
  }

  /** The interval the next checkpoint waits (see the class comment). */
  get interval(): number {
    return this.#interval;
  }

  /** Called after each COMMIT: finish a checkpoint the worker did, or ask for one within the interval. */
  committed(): void {
    if (this.#worker === null) return;
    if (this.#finishDue) {
      this.#finishDue = false;
      try {
        this.#finish();
      } catch {
        // Busy: the next round finishes it.
      }
    }
    if (this.#timer !== null || this.#copying) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#copying = true;
      this.#worker?.postMessage('checkpoint');
    }, this.#interval);
    this.#timer.unref();
  }

  /** `frames`: the WAL pages the worker's first checkpoint found (-1 when it failed). */
  #adapt(frames: number): void {
    if (frames < 0) return;
    if (frames < TARGET_FRAMES) this.#interval = Math.min(this.#interval * 2, MAX_INTERVAL_MS);
    else if (frames > TARGET_FRAMES * 2) this.#interval = Math.max(this.#interval / 2, this.intervalMs);
  }

  /** Stop the worker (its connection closes; the node's own close does the final checkpoint). */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const worker = this.#worker;
    this.#worker = null;
    worker?.removeAllListeners('exit');
    worker?.postMessage('close');
  }

  #giveUp(): void {
    if (this.#worker === null) return;
    this.#worker = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#fallback();
  }
}

// Plain JavaScript, evaluated as the worker (CommonJS): no loader or build step involved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
parentPort.on('message', (message) => {
  if (message === 'checkpoint') {
    // The pages the WAL held: the node sets the next interval by them.
    let frames = -1;
    try {
      frames = checkpoint.get().log;
      checkpoint.get();
    } catch {
      // Busy or interrupted: the next round copies it.
    }
    parentPort.postMessage(frames);
  } else if (message === 'close') {
    db.close();
    parentPort.close();
  }
});
`;
