import type { ErrorCode } from '@inloop/protocol';

/** Options of a {@link Refusal}: a cause for the log, and a wait for `rate_limited`. */
export interface RefusalOptions extends ErrorOptions {
  /** How long the caller should wait before retrying (HTTP `Retry-After`, `retryAfterMs`). */
  retryAfterMs?: number;
}

/**
 * An error that carries its catalog code, as fastify's `createError` errors do: anything in the
 * node that refuses a request (the domain, a port, a transport) throws one, and each transport maps
 * it in exactly one place (a problem document, a WebSocket `error`, an SSE `error` event). Every
 * other error is a fault: logged with its stack, answered `internal`, never shown on the wire.
 * `detail` must be safe to show.
 */
export class Refusal extends Error {
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    options?: RefusalOptions,
  ) {
    super(detail ?? code, options);
    this.name = 'Refusal';
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The refusal `err` is, or null for a fault (whose message must stay in the log). */
export function refusalOf(err: unknown): Refusal | null {
  return err instanceof Refusal ? err : null;
}
