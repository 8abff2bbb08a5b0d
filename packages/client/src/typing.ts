import type { TypingStartSignal } from '@inloop/protocol';
import { Emitter } from './emitter.js';
import { InloopError } from './errors.js';
import type { ClientLink } from './link.js';
import type { Signal, Subscription } from './subscription.js';

export interface TypingOptions {
  /** At most one `typing.start` per this interval while keys are pressed. @default 2000 */
  throttleMs?: number;
  /** Send `typing.stop` this long after the last keystroke. @default 4000 */
  idleMs?: number;
}

export type TypingEvents = {
  /** Who is typing now (not counting this client's own member). */
  change: (typers: readonly string[]) => void;
  /**
   * The node refused this channel: its topic's subscription (say `forbidden`, the token does not
   * cover the topic) or a `typing.start`/`typing.stop`. A dropped connection is not reported here.
   */
  error: (error: InloopError) => void;
};

/** Grace added to a start's `expiresInMs` before a receiver drops an indicator by itself. */
const EXPIRY_GRACE_MS = 500;

/**
 * Typing on one topic. Call `keystroke()` on every key press: it sends at most one start per
 * `throttleMs` and a stop after `idleMs` of quiet. `typers` lists who else is typing, each
 * dropped by itself if its indicator is not renewed in time (a crashed typist never sticks).
 */
export class TypingChannel extends Emitter<TypingEvents> {
  readonly #typers = new Map<string, ReturnType<typeof setTimeout>>();
  #lastStart = -Infinity;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #typing = false;
  #closed = false;
  readonly #sub: Subscription;
  readonly #offs: (() => void)[];
  /** The last refusal, if any. */
  error: InloopError | null = null;

  constructor(
    readonly topic: string,
    private readonly link: ClientLink,
    private readonly options: TypingOptions = {},
  ) {
    super();
    this.#sub = link.share(topic);
    this.#offs = [this.#sub.on('signal', (s) => this.handleSignal(s)), this.#sub.on('error', (e) => this.#fail(e))];
  }

  /** Who is typing now, not counting this client's own member. */
  get typers(): string[] {
    return [...this.#typers.keys()];
  }

  /** The user pressed a key. Cheap to call on every key press. */
  keystroke(): void {
    if (this.#closed) return;
    const now = Date.now();
    if (now - this.#lastStart >= (this.options.throttleMs ?? 2000)) {
      this.#lastStart = now;
      this.#typing = true;
      this.link.request({ type: 'typing.start', topic: this.topic }).catch((e: unknown) => this.#fail(e));
    }
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.stop(), this.options.idleMs ?? 4000);
  }

  /** The user stopped typing (cleared the field, say). Sending a message stops it on the node. */
  stop(): void {
    clearTimeout(this.#idle);
    if (!this.#typing) return;
    this.#typing = false;
    this.#lastStart = -Infinity;
    this.link.request({ type: 'typing.stop', topic: this.topic }).catch((e: unknown) => this.#fail(e));
  }

  /** Forget the indicator state after this member sent (the node has cleared it already). */
  sent(): void {
    clearTimeout(this.#idle);
    this.#typing = false;
    this.#lastStart = -Infinity;
  }

  /** @internal */
  handleSignal(signal: Signal): void {
    if (signal.kind !== 'typing.start' && signal.kind !== 'typing.stop') return;
    if (signal.from === this.link.subject()) return;
    const had = this.#typers.has(signal.from);
    clearTimeout(this.#typers.get(signal.from));
    if (signal.kind === 'typing.start') {
      const expiresInMs = (signal.data as unknown as TypingStartSignal | null)?.expiresInMs ?? 6000;
      this.#typers.set(
        signal.from,
        setTimeout(() => this.#drop(signal.from), expiresInMs + EXPIRY_GRACE_MS),
      );
      if (!had) this.emit('change', this.typers);
    } else if (had) this.#drop(signal.from);
  }

  /** A member's message arrived: whatever it was typing is done. */
  clear(member: string): void {
    if (this.#typers.has(member)) this.#drop(member);
  }

  #fail(err: unknown): void {
    if (this.#closed || !(err instanceof InloopError) || err.code === 'unavailable') return;
    this.error = err;
    this.emit('error', err);
  }

  #drop(member: string): void {
    clearTimeout(this.#typers.get(member));
    this.#typers.delete(member);
    this.emit('change', this.typers);
  }

  close(): void {
    if (this.#closed) return;
    this.stop();
    this.#closed = true;
    for (const off of this.#offs) off();
    for (const t of this.#typers.values()) clearTimeout(t);
    this.#typers.clear();
    this.link.release(this.#sub);
  }
}
