import type { Json } from '@inloop/protocol';

export interface TypingOptions {
  /** Send a typing signal to the topic's subscribers (an ephemeral publication). */
  signal(topic: string, member: string, kind: 'typing.start' | 'typing.stop', data: Json): Promise<void>;
  /** An indicator with no fresh start for this long stops by itself. @default 6000 */
  ttlMs?: number;
  /** Repeated starts are passed on at most this often (they refresh receivers' expiry). @default 1000 */
  refreshMs?: number;
}

interface Typist {
  readonly topic: string;
  readonly member: string;
  timer: NodeJS.Timeout;
  lastSent: number;
}

/**
 * Typing indicators: who is typing where, and for how long. A start turns the indicator on (and
 * tells subscribers how long it lasts); more starts only extend it, passed on at most once per
 * `refreshMs`, so a flood of keystrokes costs subscribers almost nothing. It turns off on `stop`,
 * when the member sends, or by itself `ttlMs` after the last start. Never stored.
 */
export class Typing {
  readonly #active = new Map<string, Typist>();
  readonly #signal: TypingOptions['signal'];
  readonly #ttlMs: number;
  readonly #refreshMs: number;

  constructor(options: TypingOptions) {
    this.#signal = options.signal;
    this.#ttlMs = options.ttlMs ?? 6000;
    this.#refreshMs = options.refreshMs ?? 1000;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** `member` is typing on `topic`. Resolves once the signal is on its way (if one was due). */
  start(topic: string, member: string): Promise<void> {
    const key = `${topic}\n${member}`;
    const now = Date.now();
    const typist = this.#active.get(key);
    if (typist) {
      typist.timer.refresh();
      if (now - typist.lastSent < this.#refreshMs) return Promise.resolve();
      typist.lastSent = now;
    } else {
      const timer = setTimeout(() => void this.stop(topic, member).catch(() => {}), this.#ttlMs);
      timer.unref();
      this.#active.set(key, { topic, member, timer, lastSent: now });
    }
    return this.#signal(topic, member, 'typing.start', { expiresInMs: this.#ttlMs });
  }

  /** `member` stopped typing (or sent, or went quiet). Nothing happens if it was not typing. */
  stop(topic: string, member: string): Promise<void> {
    const key = `${topic}\n${member}`;
    const typist = this.#active.get(key);
    if (!typist) return Promise.resolve();
    clearTimeout(typist.timer);
    this.#active.delete(key);
    return this.#signal(topic, member, 'typing.stop', {});
  }

  /** Whether `member` is typing on `topic`. */
  isTyping(topic: string, member: string): boolean {
    return this.#active.has(`${topic}\n${member}`);
  }

  close(): void {
    for (const t of this.#active.values()) clearTimeout(t.timer);
    this.#active.clear();
  }
}
