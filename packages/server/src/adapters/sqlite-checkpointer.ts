import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT that
 * pushes the WAL past 1,000 pages: that COMMIT copies the WAL into the database file and fsyncs
 * it, on the thread that serves requests, so every few hundred group commits one stalls for tens
 * to hundreds of milliseconds (the tail of `202` at 1,000 jobs/s). Here the node's connection has
 * `wal_autocheckpoint = 0`, and a worker thread with a connection of its own does the copying:
 * at most once per `intervalMs` while commits happen (never when idle), two PASSIVE checkpoints
 * back to back (they never block a writer; the second copies what was committed during the
 * first).
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
export class Checkpointer {
  #worker: Worker | null;
  #timer: NodeJS.Timeout | null = null;
  /** The worker is copying: no other request until it is done. */
  #copying = false;
  /** The worker is done: the next commit finishes the checkpoint on the node's connection. */
  #finishDue = false;
  readonly #fallback: () => void;
  readonly #finish: () => void;

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
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } });
    this.#worker.unref();
    this.#worker.on('message', () => {
      this.#copying = false;
      this.#finishDue = true;
    });
    this.#worker.on('error', () => this.#giveUp());
    this.#worker.on('exit', () => this.#giveUp());
  }

  /** Called after each COMMIT: finish a checkpoint the worker did, or ask for one within `intervalMs`. */
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
      checkpoint.get();
    } catch {
      // Busy or interrupted: the next round copies it.
    }
    parentPort.postMessage('copied');
  } else if (message === 'close') {
    db.close();
    parentPort.close();
  }
});
`;
