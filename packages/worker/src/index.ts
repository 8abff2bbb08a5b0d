import { ErrorCatalog, isErrorCode, type ErrorCode, type Json } from '@inloop/protocol';
import { HttpWorkerStream, type WorkerStream } from './streams.js';

export type { WorkerStream } from './streams.js';

/** What a remote handler sees of its job. */
export interface LeasedJob {
  id: string;
  type: string;
  input: Json;
  size: { unit: string; value: number } | null;
  attempt: number;
  /** Fencing token: larger for every later lease of this job. Pass it to your own storage to reject stale writers. */
  fence: number;
}

/** The handler's way to keep watchers in the loop; every call also renews the lease. */
export interface WorkerContext {
  stage(name: string, options?: { weight?: number }): Promise<void>;
  progress(fraction: number): Promise<void>;
  partial(chunk: Json): Promise<void>;
  message(text: string): Promise<void>;
  /**
   * A named stream of the job (`answer`): text watchers join late and resume by offset
   * (docs/streams.md). Each request renews the lease; it ends with the job, or with `end()`.
   */
  stream(name: string): WorkerStream;
  /** Aborted when the job is cancelled (a stream stopped) or the lease is lost. */
  signal: AbortSignal;
}

export type WorkerHandler = (job: LeasedJob, ctx: WorkerContext) => Promise<Json | void> | Json | void;

export interface WorkerOptions {
  /** The node's base URL. */
  url: string;
  /** A backend API key. */
  apiKey: string;
  types: string[];
  handler: WorkerHandler;
  /** Jobs run at once. @default 1 */
  concurrency?: number;
  /** Name shown in the node's logs. @default `worker-<pid>` */
  name?: string;
  /** Lease length to ask for. @default the type's */
  leaseMs?: number;
  /** Heartbeat interval. @default a third of the lease */
  heartbeatMs?: number;
  /** Long-poll wait per lease request. @default 20_000 */
  waitMs?: number;
  fetch?: typeof fetch;
}

/** The union of what the worker endpoints answer (lease, lease state, job status). */
interface LeaseResponse {
  job: Omit<LeasedJob, 'fence'>;
  lease: { token: string; fence: number; expiresAt: number };
  cancelRequested?: boolean;
}

/** An HTTP error from the node, with its stable code. */
export class WorkerError extends Error {
  constructor(
    readonly code: ErrorCode | string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

/** Throw from a handler for a failure that retrying cannot fix. */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly code = 'failed',
  ) {
    super(message);
    this.name = 'PermanentError';
  }
}

/**
 * A remote worker: long-polls `POST /v1/workers/lease` for jobs of its types, runs the handler,
 * heartbeats while it works, reports stages and progress, and completes or fails the job. A
 * cancel (seen in any lease reply) or a lost lease aborts `ctx.signal`.
 *
 * ```ts
 * const worker = createWorker({ url, apiKey, types: ['transcribe'], handler: async (job, ctx) => { ... } });
 * await worker.start();
 * ```
 */
export class Worker {
  #running = false;
  #loops: Promise<void>[] = [];
  #abort = new AbortController();
  readonly #fetch: typeof fetch;
  readonly #name: string;

  constructor(private readonly o: WorkerOptions) {
    this.#fetch = o.fetch ?? globalThis.fetch;
    this.#name = o.name ?? `worker-${typeof process === 'undefined' ? 'web' : process.pid}`;
  }

  async #post(
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: LeaseResponse | null }> {
    const res = await this.#fetch(this.o.url.replace(/\/$/, '') + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.o.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (res.status >= 400) {
      const p = (parsed ?? {}) as { code?: string; detail?: string; title?: string };
      const code = p.code ?? 'unavailable';
      throw new WorkerError(
        code,
        res.status,
        p.detail ?? p.title ?? (isErrorCode(code) ? ErrorCatalog[code].title : code),
      );
    }
    return { status: res.status, body: parsed as LeaseResponse | null };
  }

  /** Start `concurrency` lease loops. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    for (let i = 0; i < (this.o.concurrency ?? 1); i++) this.#loops.push(this.#loop());
  }

  /** Stop leasing; jobs in progress finish first. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    await Promise.allSettled(this.#loops);
    this.#loops = [];
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      try {
        const { status, body } = await this.#post(
          '/v1/workers/lease',
          {
            types: this.o.types,
            worker: this.#name,
            waitMs: this.o.waitMs ?? 20_000,
            ...(this.o.leaseMs ? { leaseMs: this.o.leaseMs } : {}),
          },
          this.#abort.signal,
        );
        failures = 0;
        if (status === 204 || !body) continue;
        await this.#run({ ...body.job, fence: body.lease.fence }, body.lease.token, body.lease.expiresAt);
      } catch (err) {
        if (!this.#running) return;
        if (err instanceof WorkerError && err.status < 500 && err.code !== 'rate_limited') throw err;
        await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** failures++)));
      }
    }
  }

  async #run(job: LeasedJob, lease: string, expiresAt: number): Promise<void> {
    const abort = new AbortController();
    const path = `/v1/jobs/${job.id}`;
    const report = async (body: Record<string, unknown>, endpoint = 'progress') => {
      if (abort.signal.aborted) return;
      try {
        const { body: reply } = await this.#post(`${path}/${endpoint}`, { lease, ...body });
        if (reply?.cancelRequested) abort.abort(new Error('cancelled'));
      } catch (err) {
        if (err instanceof WorkerError && (err.code === 'lease_lost' || err.code === 'not_found')) abort.abort(err);
        else throw err;
      }
    };
    const every = this.o.heartbeatMs ?? Math.max(250, (expiresAt - Date.now()) / 3);
    const heartbeat = setInterval(() => void report({}, 'heartbeat').catch(() => {}), every);
    const streams = new Map<string, HttpWorkerStream>();
    const post = async (name: string, body: { append?: string; end?: 'finished' | 'failed' }) => {
      try {
        const { body: reply } = await this.#post(`${path}/streams/${encodeURIComponent(name)}`, { lease, ...body });
        const r = reply as unknown as { from: number; to: number; cancelRequested?: boolean };
        if (r.cancelRequested) abort.abort(new Error('cancelled'));
        return { from: r.from, to: r.to };
      } catch (err) {
        if (err instanceof WorkerError && (err.code === 'lease_lost' || err.code === 'not_found')) abort.abort(err);
        // A stopped stream: the job is being cancelled; the next heartbeat's reply says so.
        if (err instanceof WorkerError && err.code === 'stream_ended') await report({}, 'heartbeat').catch(() => {});
        throw err;
      }
    };
    const ctx: WorkerContext = {
      stream: (name) => {
        let s = streams.get(name);
        if (!s) streams.set(name, (s = new HttpWorkerStream(name, post)));
        return s;
      },
      stage: (name, options) => report({ stage: { name, ...options } }),
      progress: (fraction) => report({ progress: fraction }),
      partial: (chunk) => report({ partial: chunk }),
      message: (text) => report({ message: text }),
      signal: abort.signal,
    };
    try {
      const result = await this.o.handler(job, ctx);
      // Appends still on their way land before the job (and so its streams) ends.
      await Promise.all([...streams.values()].map((s) => s.settled()));
      await this.#post(`${path}/complete`, { lease, result: result ?? null });
    } catch (err) {
      const permanent = err instanceof PermanentError;
      await this.#post(`${path}/fail`, {
        lease,
        error: {
          message: err instanceof Error ? err.message : String(err),
          code: permanent ? err.code : 'worker_error',
        },
        retryable: !permanent,
      }).catch(() => {
        // The lease is gone (cancelled or expired): the node has already decided this job's fate.
      });
    } finally {
      clearInterval(heartbeat);
    }
  }
}

export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}

export {
  verifyWebhook,
  WebhookVerificationError,
  type VerifyWebhookOptions,
  type WebhookDelivery,
} from './webhooks.js';
