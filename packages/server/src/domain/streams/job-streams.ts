import { isStreamName, type StreamEndReason } from '@inloop/protocol';
import { Refusal } from '../../errors.js';
import type { StreamService } from './service.js';

/** A handler's side of one of its job's streams (`ctx.stream('answer')`). */
export interface JobStream {
  /**
   * Append text. Appends are ordered and need not be awaited one by one; the promise gives the
   * range the text got. A refused append (`stream_ended` after a stop, `stream_too_long`) rejects
   * it and every later one of this stream.
   */
  append(text: string): Promise<{ from: number; to: number }>;
  /** End the stream before the job ends (`finished` by default). */
  end(reason?: Exclude<StreamEndReason, 'stopped'>): Promise<void>;
  /** Characters this handler appended so far (accepted or on their way). */
  readonly length: number;
}

class OneStream implements JobStream {
  #tail: Promise<unknown> = Promise.resolve();
  #error: unknown = null;
  #length = 0;

  constructor(
    private readonly service: StreamService,
    private readonly jobId: string,
    private readonly name: string,
  ) {}

  get length(): number {
    return this.#length;
  }

  get settled(): Promise<unknown> {
    return this.#tail;
  }

  append(text: string): Promise<{ from: number; to: number }> {
    this.#length += text.length;
    return this.#queue(() => this.service.append({ job: this.jobId, name: this.name }, text));
  }

  async end(reason: Exclude<StreamEndReason, 'stopped'> = 'finished'): Promise<void> {
    await this.#queue(() => this.service.end({ job: this.jobId, name: this.name }, reason));
  }

  #queue<T>(step: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(() => {
      if (this.#error !== null) throw this.#error;
      return step();
    });
    this.#tail = p.then(
      () => {},
      (err: unknown) => {
        this.#error ??= err;
      },
    );
    // A handler may ignore the promise: its rejection is then not a process-wide fault.
    p.catch(() => {});
    return p;
  }
}

/** The streams of one running job, as its in-process handler writes them. */
export class JobStreams {
  readonly #streams = new Map<string, OneStream>();

  constructor(
    private readonly jobId: string,
    private readonly service: StreamService | undefined,
  ) {}

  get(name: string): JobStream {
    if (!isStreamName(name)) throw new Refusal('invalid_stream', 'a stream name is 1-64 of A-Z a-z 0-9 _ . -');
    if (!this.service) throw new Refusal('unavailable', 'this runner has no streams');
    let s = this.#streams.get(name);
    if (!s) this.#streams.set(name, (s = new OneStream(this.service, this.jobId, name)));
    return s;
  }

  /** Every append made so far has landed (or failed). */
  async settled(): Promise<void> {
    await Promise.all([...this.#streams.values()].map((s) => s.settled));
  }
}
