import type { Logger } from 'pino';
import type { Json } from '@inloop/protocol';
import type { NextTaken } from '../../ports/job-queue.js';
import type { JobRecord, SizeHint } from '../../ports/job-store.js';
import { LeaseLostError } from './errors.js';
import type { JobService, JobTypeOptions, Report } from './service.js';
import type { StreamService } from '../streams/service.js';
import { JobStreams, type JobStream } from '../streams/job-streams.js';

/** What a handler sees of its job. */
export interface JobView {
  id: string;
  type: string;
  input: Json;
  size: SizeHint | null;
  /** 1 for the first attempt. */
  attempt: number;
  /** Fencing token of this attempt's lease: larger for every later attempt. */
  fence: number;
}

/** A handler's way to keep its watchers in the loop. Each call publishes at once (progress is coalesced to 10/s). */
export interface JobContext {
  /** Enter a stage; `weight` is its share of the whole (relative to the other stages). */
  stage(name: string, options?: { weight?: number }): Promise<void>;
  /** Measured progress, 0..1 (of the current stage when staged). */
  progress(fraction: number): Promise<void>;
  /** A partial result, delivered to watchers now and kept in the snapshot. */
  partial(chunk: Json): Promise<void>;
  /** A line for the person waiting ("Transcribing chapter 2"). */
  message(text: string): Promise<void>;
  /**
   * A named stream of the job (`answer`): append text as it is generated; watchers join late and
   * resume by offset (docs/streams.md). It ends with the job, or earlier with `end()`.
   */
  stream(name: string): JobStream;
  /** Aborted when the job is cancelled (or a stream stopped) or its lease is lost: stop work and return. */
  signal: AbortSignal;
}

export type JobHandler = (job: JobView, ctx: JobContext) => Promise<Json | void> | Json | void;

/** Throw this from a handler for a failure that retrying cannot fix. */
export class PermanentJobError extends Error {
  constructor(
    message: string,
    readonly code = 'failed',
  ) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/**
 * A run's abort, whose signal is made only when someone reads it. Many handlers never do (a
 * trivial or CPU-bound one), and an AbortSignal is an EventTarget with two maps of its own: at
 * 1,000 jobs/s they were about a seventh of the bytes that outlived the node's young-generation
 * collections, which is what brings on its full ones (the 202's tail).
 */
class LazyAbort {
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** The signal, aborted already (with its reason) when the run was aborted before it was read. */
  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

interface Registration {
  handler: JobHandler;
  concurrency: number;
  running: number;
  pumping: boolean;
  /** Woken while pumping: look once more when done (the job that woke it may be past its look). */
  again: boolean;
  /** Calls of the pump so far: a job's end that saw one since its own look pumps after all. */
  wakes: number;
}

/**
 * Runs registered handlers in this process. It takes jobs through the same leases as remote
 * workers (so a crash of this process leaves leases that the next start retries), renews the
 * lease while a handler runs, and turns the handler's outcome into complete / fail.
 */
export class InProcessRunner {
  readonly #handlers = new Map<string, Registration>();
  readonly #running = new Map<string, LazyAbort>();
  readonly #settled = new Set<Promise<void>>();
  /** Lease renewals of running handlers: stopped on close, so a hung handler's job goes elsewhere. */
  readonly #renewals = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(
    private readonly service: JobService,
    private readonly worker: string,
    private readonly logger: Logger,
    private readonly streams?: StreamService,
  ) {
    service.on('available', (type) => void this.#pump(type));
    service.on('cancel', (id) => this.#running.get(id)?.abort(new Error('cancelled')));
  }

  handle(type: string, handler: JobHandler, options: JobTypeOptions = {}): void {
    this.service.define(type, options);
    this.#handlers.set(type, {
      handler,
      concurrency: options.concurrency ?? 4,
      running: 0,
      pumping: false,
      again: false,
      wakes: 0,
    });
    void this.#pump(type);
  }

  /** Types with an in-process handler. */
  get types(): string[] {
    return [...this.#handlers.keys()];
  }

  /**
   * Fill the free slots. Each look for jobs costs a call to the queue (on BullMQ a script of a
   * dozen commands), so a look that found fewer jobs than it asked for is the last: the queue had
   * no more, and a job added since wakes this again. A wake that comes while a look is on its way
   * is not lost: one more look follows it.
   */
  async #pump(type: string): Promise<void> {
    const reg = this.#handlers.get(type);
    if (!reg || this.#closed) return;
    reg.wakes++;
    if (reg.pumping) {
      reg.again = true;
      return;
    }
    reg.pumping = true;
    try {
      do {
        reg.again = false;
        while (reg.running < reg.concurrency && !this.#closed) {
          const free = reg.concurrency - reg.running;
          // Take every free slot's job in one go: one commit for all of them.
          const jobs = await this.service.leaseMany([type], this.worker, free);
          for (const job of jobs) this.#start(job, reg, type);
          if (jobs.length < free) break;
        }
      } while (reg.again && !this.#closed);
    } catch (err) {
      this.logger.error({ err, type }, 'leasing failed');
    } finally {
      reg.pumping = false;
    }
  }

  #start(job: JobRecord, reg: Registration, type: string): void {
    reg.running++;
    /**
     * The queue, asked for the next job as this one ended, had none, and no wake came since that
     * look: the slot waits for the next wake. (A wake that came while every slot was busy found
     * none to fill, so this slot looks after all.)
     */
    let drained = false;
    const mark = { wakes: 0 };
    const run = this.#run(job, reg, mark)
      // The job taken as this one left the queue takes its slot (leased before the slot frees,
      // so the pump below does not take one more). A closing node leaves it to BullMQ, which
      // hands it back once its lock lapses.
      .then(async (taken) => {
        drained = taken === null;
        const next = taken && !this.#closed ? await this.service.leaseTaken(taken, this.worker) : null;
        if (next) this.#start(next, reg, type);
      })
      .catch((err: unknown) => {
        if (!this.#closed) this.logger.error({ err, job: job.id }, 'job run failed');
      })
      .finally(() => {
        reg.running--;
        this.#settled.delete(run);
        // A look now would find what the end's own look just did not (a job added since wakes
        // the pump): on BullMQ it was one of the five scripts a job cost at a low rate.
        if (!drained || reg.wakes !== mark.wakes) void this.#pump(type);
      });
    this.#settled.add(run);
  }

  /**
   * Run the handler and end the job; resolves to what its end's look for the next job found
   * ({@link NextTaken}; a failed job's end makes none).
   */
  async #run(job: JobRecord, reg: Registration, mark: { wakes: number }): Promise<NextTaken> {
    const token = job.lease!.token;
    const abort = new LazyAbort();
    this.#running.set(job.id, abort);
    const leaseMs = this.service.typeOptions(job.type)?.leaseMs ?? 30_000;
    // The record as leased, until a report changes the stored one: the job's end then needs no read.
    let held: JobRecord | undefined = job;
    const report = async (r: Report) => {
      held = undefined;
      if (abort.aborted) return;
      try {
        const reply = await this.service.report(job.id, token, r);
        if (reply.cancelRequested) abort.abort(new Error('cancelled'));
      } catch (err) {
        if (err instanceof LeaseLostError) abort.abort(err);
        else throw err;
      }
    };
    // Renewals keep the lease alive while the handler works; they are not signs of progress.
    const renew = setInterval(() => void report({}).catch(() => {}), Math.max(250, leaseMs / 3));
    this.#renewals.add(renew);
    const streams = new JobStreams(job.id, this.streams);
    const ctx: JobContext = {
      stream: (name) => streams.get(name),
      stage: (name, options) => report({ stage: { name, ...options }, sign: true }),
      progress: (fraction) => report({ progress: fraction, sign: true }),
      partial: (chunk) => report({ partial: chunk, sign: true }),
      message: (text) => report({ message: text, sign: true }),
      get signal() {
        return abort.signal;
      },
    };
    const view: JobView = {
      id: job.id,
      type: job.type,
      input: job.input,
      size: job.size,
      attempt: job.attempt,
      fence: job.lease!.fence,
    };
    try {
      const result = await reg.handler(view, ctx);
      // Appends still on their way land before the job (and so its streams) ends.
      await streams.settled();
      // The next job of the type is taken in the same step where the queue can (BullMQ's fetchNext).
      mark.wakes = reg.wakes;
      return await this.service.complete(job.id, token, (result ?? null) as Json, held, !this.#closed);
    } catch (err) {
      const permanent = err instanceof PermanentJobError;
      const error = {
        code: permanent ? err.code : 'handler_error',
        message: err instanceof Error ? err.message : String(err),
      };
      if (!permanent) this.logger.warn({ err, job: job.id }, 'job handler failed');
      await this.service.fail(job.id, token, error, !permanent).catch((e: unknown) => {
        if (!(e instanceof LeaseLostError)) throw e;
      });
      return undefined;
    } finally {
      clearInterval(renew);
      this.#renewals.delete(renew);
      this.#running.delete(job.id);
    }
  }

  /** Abort running handlers and give them `graceMs` to settle; their jobs are retried later. */
  async close(graceMs = 2000): Promise<void> {
    this.#closed = true;
    for (const abort of this.#running.values()) abort.abort(new Error('node shutting down'));
    await Promise.race([Promise.allSettled(this.#settled), new Promise((r) => setTimeout(r, graceMs).unref())]);
    for (const renew of this.#renewals) clearInterval(renew);
    this.#renewals.clear();
  }
}
