import { formatEventId, SseParser, type Position, type PublicationMessage, type SseEvent } from '@inloop/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { InloopError } from './errors.js';
import { Subscription, type SubscribedEvent } from './subscription.js';
import type { TokenSource } from './token.js';

export interface SseOptions {
  /** The node's base URL, `http(s)://host:port`. */
  url: string;
  topic: string;
  token: TokenSource;
  /** Resume after this position. */
  since?: Position;
  backoff?: BackoffOptions;
  /** fetch implementation. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** An SSE subscription: a {@link Subscription} with its own connection. */
export class SseSubscription extends Subscription {
  #controller: AbortController | undefined;
  #token: string | undefined;
  #attempt = 0;
  /** Successful (re)connections so far. */
  connections = 0;

  constructor(private readonly options: SseOptions) {
    super(options.topic, options.since, () => this.#controller?.abort());
    void this.#run();
  }

  /** Drop the stream and reconnect at once, resuming with Last-Event-ID. */
  reconnect(): void {
    this.#controller?.abort();
  }

  async #getToken(): Promise<string> {
    const source = this.options.token;
    if (typeof source === 'string') return source;
    return (this.#token ??= await source());
  }

  async #run(): Promise<void> {
    const doFetch = this.options.fetch ?? globalThis.fetch;
    const base = this.options.url.replace(/\/$/, '');
    while (!this.ended) {
      const controller = (this.#controller = new AbortController());
      try {
        const headers: Record<string, string> = {
          authorization: `Bearer ${await this.#getToken()}`,
          accept: 'text/event-stream',
        };
        if (this.position) headers['last-event-id'] = formatEventId(this.position);
        const res = await doFetch(`${base}/v1/topics/${encodeURIComponent(this.topic)}/stream`, {
          headers,
          signal: controller.signal,
        });
        if (!res.ok || !res.body) {
          const error = InloopError.fromProblem(res.status, await res.json().catch(() => null));
          if (error.code === 'token_expired' && typeof this.options.token !== 'string') this.#token = undefined;
          else if (!error.retryable) return this.handleEnd(error);
        } else {
          await this.#read(res.body, controller);
        }
      } catch {
        // Aborted, network failure or a torn stream: all end in a resume from the last position.
        if (this.ended) return;
      }
      if (this.ended) return;
      await new Promise((r) =>
        setTimeout(r, controller.signal.aborted ? 0 : backoffDelay(this.#attempt++, this.options.backoff)),
      );
    }
  }

  async #read(body: ReadableStream<Uint8Array>, controller: AbortController): Promise<void> {
    const decoder = new TextDecoder();
    const reader = body.getReader();
    const parser = new SseParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const event of parser.feed(decoder.decode(value, { stream: true }))) this.#event(event, controller);
    }
  }

  #event({ event, data }: SseEvent, controller: AbortController): void {
    if (!data) return;
    const payload: unknown = JSON.parse(data);
    if (event === 'ready' || event === 'reset') {
      this.#attempt = 0;
      this.connections++;
      this.handleSubscribed(payload as SubscribedEvent);
    } else if (event === 'pub') {
      if (this.handlePublication(payload as PublicationMessage) === 'gap') controller.abort();
    } else if (event === 'disconnect') {
      if ((payload as { code?: string }).code === 'token_expired') this.#token = undefined;
    }
  }
}

/** Subscribe to one topic over Server-Sent Events: receive-only, resumes by Last-Event-ID. */
export function subscribeSse(options: SseOptions): SseSubscription {
  return new SseSubscription(options);
}
