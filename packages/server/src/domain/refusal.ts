import type { ErrorCode } from '@inloop/protocol';

/**
 * A request the domain refuses, with the stable code to report. Transports turn it into an
 * `error` message or a problem document; `detail` must be safe to show.
 */
export class Refusal extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    options?: ErrorOptions,
  ) {
    super(detail ?? code, options);
    this.name = 'Refusal';
  }
}
