/** One of a job's streams as a remote worker writes it (`ctx.stream('answer')`). */
export interface WorkerStream {
  /**
   * Append text (need not be awaited one by one: appends are ordered, and those made while a
   * request is on its way go together in the next one). The promise gives the text's range. A
   * refused append (`stream_ended` after a stop, `stream_too_long`) rejects it and every later one.
   */
  append(text: string): Promise<{ from: number; to: number }>;
  /** End the stream before the job ends (`finished` by default). */
  end(reason?: 'finished' | 'failed'): Promise<void>;
}

/** What the stream needs of the worker: one POST under the lease, and news of the reply. */
export type StreamPost = (
  name: string,
  body: { append?: string; end?: 'finished' | 'failed' },
) => Promise<{ from: number; to: number }>;

/** Most characters sent in one request (the node's maxStreamAppendChars is 65,536 by default). */
const BATCH_CHARS = 60_000;

interface Waiting {
  text: string;
  resolve: (range: { from: number; to: number }) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalescing over HTTP: at most one request per stream is in flight, and everything appended
 * meanwhile goes in the next one, so a fast generator costs a request per round trip, not one
 * per token, and the text keeps its order.
 */
export class HttpWorkerStream implements WorkerStream {
  #waiting: Waiting[] = [];
  #busy: Promise<void> | null = null;
  #error: unknown = null;

  constructor(
    private readonly name: string,
    private readonly post: StreamPost,
  ) {}

  append(text: string): Promise<{ from: number; to: number }> {
    if (this.#error !== null) return handled(Promise.reject(this.#error));
    const p = new Promise<{ from: number; to: number }>((resolve, reject) =>
      this.#waiting.push({ text, resolve, reject }),
    );
    this.#busy ??= this.#pump();
    return handled(p);
  }

  async end(reason: 'finished' | 'failed' = 'finished'): Promise<void> {
    await this.settled();
    if (this.#error !== null) throw this.#error;
    await this.post(this.name, { end: reason });
  }

  /** Every append made so far has been answered. */
  async settled(): Promise<void> {
    while (this.#busy) await this.#busy;
  }

  async #pump(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const batch: Waiting[] = [];
        let chars = 0;
        while (
          this.#waiting.length > 0 &&
          (batch.length === 0 || chars + this.#waiting[0]!.text.length <= BATCH_CHARS)
        ) {
          const next = this.#waiting.shift()!;
          chars += next.text.length;
          batch.push(next);
        }
        try {
          const { from } = await this.post(this.name, { append: batch.map((w) => w.text).join('') });
          let at = from;
          for (const w of batch) {
            w.resolve({ from: at, to: at + w.text.length });
            at += w.text.length;
          }
        } catch (err) {
          this.#error ??= err;
          for (const w of [...batch, ...this.#waiting.splice(0)]) w.reject(err);
        }
      }
    } finally {
      this.#busy = null;
    }
  }
}

/** A promise a handler may ignore without its rejection becoming a process-wide fault. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
