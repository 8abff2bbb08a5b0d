import { ErrorCatalog, isErrorCode, type ErrorCode } from '@inloop/protocol';

/** An error from the node (or the SDK) with the stable protocol code. */
export class InloopError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: ErrorCode,
    message?: string,
  ) {
    super(message ?? ErrorCatalog[code].title);
    this.name = 'InloopError';
    this.retryable = ErrorCatalog[code].retryable;
  }

  /** From an HTTP problem document (or whatever the body was). */
  static fromProblem(status: number, body: unknown): InloopError {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; detail?: unknown };
    const code: ErrorCode = isErrorCode(b.code) ? b.code : status >= 500 ? 'unavailable' : 'bad_request';
    return new InloopError(code, typeof b.detail === 'string' ? b.detail : undefined);
  }
}
