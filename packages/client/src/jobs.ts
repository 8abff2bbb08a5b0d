import { isTerminal, jobTopic, type JobEvent, type JobSnapshot, type Json, type WaitStrategy } from '@inloop/protocol';
import { Emitter } from './emitter.js';
import { InloopError } from './errors.js';
import type { StreamWatch } from './streams.js';
import type { Subscription } from './subscription.js';

/** The answer to starting a job. */
export interface StartedJob {
  id: string;
  type: string;
  status: string;
  topic: string;
  /** A read token for this job alone: watch and cancel it with this. */
  token: string;
  tokenExpiresAt: number;
  eta: JobSnapshot['eta'];
  strategy: WaitStrategy;
  createdAt: number;
  links: { self: string; stream: string; cancel: string };
}

export interface StartJobOptions {
  /** One named measure of the input, e.g. `{ audioSeconds: 240 }`: scales the learned ETA. */
  size?: Record<string, number>;
  /** The same key returns the same job instead of starting another. */
  idempotencyKey?: string;
}

export type JobWatchEvents = {
  /** Any change: an event or a tick. `snapshot` is the live state. */
  update: (snapshot: JobSnapshot, event: JobEvent) => void;
  partial: (chunk: Json, snapshot: JobSnapshot) => void;
  /** Exactly once: the job succeeded, failed or was cancelled. */
  done: (snapshot: JobSnapshot) => void;
  error: (error: InloopError) => void;
};

/**
 * A live view of one job: `snapshot` is always the current state (with every partial result so
 * far), kept up to date across reconnects: it resumes the job's topic from the last event seen,
 * and refetches the snapshot when history cannot fill a gap.
 */
export class JobWatch extends Emitter<JobWatchEvents> {
  snapshot: JobSnapshot;
  /** Resolves with the final snapshot once the job has ended. */
  readonly done: Promise<JobSnapshot>;
  #resolve!: (s: JobSnapshot) => void;
  #finished = false;
  /** The job ended (as opposed to the watch being closed). */
  #ended = false;
  readonly #streams = new Set<StreamWatch>();

  constructor(
    initial: JobSnapshot,
    private readonly subscription: Subscription,
    private readonly refetch: () => Promise<JobSnapshot>,
    private readonly openStream?: (name: string) => StreamWatch,
  ) {
    super();
    this.snapshot = initial;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
    subscription.on('publication', (p) => this.#apply(p.data as unknown as JobEvent, p.offset));
    subscription.on('reset', () => {
      void this.refetch().then(
        (s) => this.#replace(s),
        (err: unknown) => this.emit('error', err instanceof InloopError ? err : new InloopError('unavailable')),
      );
    });
    subscription.on('error', (err) => this.emit('error', err));
    if (isTerminal(initial.status)) queueMicrotask(() => this.#finish());
  }

  /** Whether the job has ended (or the watch was closed). */
  get finished(): boolean {
    return this.#finished;
  }

  /** Listen. A `done` listener added after the job ended is called at once (in a microtask). */
  override on<K extends keyof JobWatchEvents>(event: K, listener: JobWatchEvents[K]): () => void {
    const off = super.on(event, listener);
    if (event === 'done' && this.#ended) {
      queueMicrotask(() => (listener as JobWatchEvents['done'])(this.snapshot));
    }
    return off;
  }

  #apply(event: JobEvent, offset: number | undefined): void {
    if (this.#finished || !event?.job) return;
    const partials =
      event.type === 'job.partial' && event.partial !== undefined
        ? [...this.snapshot.partials, event.partial]
        : this.snapshot.partials;
    this.snapshot = { ...event.job, partials, epoch: this.snapshot.epoch, offset: offset ?? this.snapshot.offset };
    if (event.type === 'job.partial' && event.partial !== undefined) this.emit('partial', event.partial, this.snapshot);
    this.emit('update', this.snapshot, event);
    if (isTerminal(event.job.status)) this.#finish();
  }

  #replace(snapshot: JobSnapshot): void {
    if (this.#finished) return;
    this.snapshot = snapshot;
    this.emit('update', snapshot, { type: 'job.tick', job: snapshot });
    if (isTerminal(snapshot.status)) this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#ended = true;
    this.subscription.unsubscribe();
    this.emit('done', this.snapshot);
    this.#resolve(this.snapshot);
  }

  /**
   * Watch one of the job's streams (`answer`, `log`): the text so far, then what the worker
   * appends, through reconnects, with this watch's token. Iterate it for `{ delta, text }`, or
   * listen to its events; `stop()` on it stops the job's generation (the job is cancelled).
   *
   * ```ts
   * for await (const { delta, text } of watch.stream('answer')) render(text);
   * ```
   */
  stream(name: string): StreamWatch {
    if (!this.openStream) throw new InloopError('unavailable', 'this watch cannot open streams');
    const stream = this.openStream(name);
    this.#streams.add(stream);
    return stream;
  }

  /** Stop watching (the job goes on), and its streams opened here. */
  close(): void {
    this.#finished = true;
    this.subscription.unsubscribe();
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
  }
}

export { jobTopic };
