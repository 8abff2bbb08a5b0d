import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT that
 * pushes the WAL past 1,000 pages: that COMMIT copies the WAL into the database file and fsyncs
 * it, on the thread that serves requests, so every few hundred group commits one stalls for tens
 * to hundreds of milliseconds (the tail of `202` at 1,000 jobs/s). Here the node's connection has
 * `wal_autocheckpoint = 0`, and a worker thread with a connection of its own runs a PASSIVE
 * checkpoint (never blocks a writer, never waits for one) at most once per `intervalMs` while
 * commits happen, and none when idle. Once a checkpoint has copied every frame, the node's next
 * write starts the WAL over from its beginning, so the file stays the size of one interval's
 * writes.
 *
 * If the worker cannot start or fails, the connection goes back to SQLite's own checkpoints:
 * slower tails, never an unbounded WAL.
 */
export class Checkpointer {
  #worker: Worker | null;
  #timer: NodeJS.Timeout | null = null;
  readonly #fallback: () => void;

  /**
   * @param driver the resolved path of better-sqlite3 (the worker loads the same build)
   * @param fallback turns SQLite's automatic checkpoints back on
   */
  constructor(
    file: string,
    driver: string,
    fallback: () => void,
    readonly intervalMs = 500,
  ) {
    this.#fallback = fallback;
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    this.#worker.unref();
    this.#worker.on('error', () => this.#giveUp());
    this.#worker.on('exit', () => this.#giveUp());
  }

  /** A commit happened: make sure a checkpoint follows within `intervalMs`. */
  committed(): void {
    if (this.#timer !== null || this.#worker === null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#worker?.postMessage('checkpoint');
    }, this.intervalMs);
    this.#timer.unref();
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
    try {
      checkpoint.get();
    } catch {
      // Busy or interrupted: the next commit asks again.
    }
  } else if (message === 'close') {
    db.close();
    parentPort.close();
  }
});
`;
