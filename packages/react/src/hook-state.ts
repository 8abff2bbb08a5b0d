import { InloopError, type InloopClient } from '@inloop/client';

/** Where a hook stands: loading its first state, live, finished (a job), or failed (see `error`). */
export type HookStatus = 'loading' | 'ready' | 'done' | 'error';

/** What every hook accepts besides its own options. */
export interface HookOptions {
  /** Use this client instead of the provider's. */
  client?: InloopClient;
}

/** Any failure as an `InloopError` (network failures of `fetch` become `unavailable`). */
export function asInloopError(err: unknown): InloopError {
  return err instanceof InloopError ? err : new InloopError('unavailable', (err as Error)?.message);
}

/** The hook's own error first, else the connection's; the status follows. */
export function settle(
  own: InloopError | null,
  connection: InloopError | null,
  status: HookStatus,
): { error: InloopError | null; status: HookStatus } {
  const error = own ?? connection;
  return { error, status: error ? 'error' : status };
}
