import { useEffect, useState } from 'react';
import type { InloopError, JobWatch } from '@inloop/client';
import type { JobSnapshot } from '@inloop/protocol';
import { asInloopError, settle, type HookOptions, type HookStatus } from './hook-state.js';
import { useInloop } from './provider.js';

export interface UseJobResult {
  /** `null` until loaded, then every update through reconnects. */
  snapshot: JobSnapshot | null;
  /** The job succeeded, failed or was cancelled (also for a job that had ended before the hook ran). */
  done: boolean;
  error: InloopError | null;
  status: HookStatus;
  watch: JobWatch | null;
}

interface JobState {
  snapshot: JobSnapshot | null;
  done: boolean;
  error: InloopError | null;
  watch: JobWatch | null;
}

const initial: JobState = { snapshot: null, done: false, error: null, watch: null };

/**
 * A job's live snapshot.
 *
 * ```tsx
 * const { snapshot, done, error } = useJob(job.id, { token: job.token });
 * return snapshot && <Bar value={snapshot.progress.fraction} eta={snapshot.eta?.remainingMs} />;
 * ```
 */
export function useJob(
  id: string | null | undefined,
  options: HookOptions & { token?: string | undefined } = {},
): UseJobResult {
  const { client, error: connection } = useInloop(options.client);
  const { token } = options;
  const [state, setState] = useState<JobState>(initial);
  useEffect(() => {
    setState(initial);
    if (!id) return;
    let watch: JobWatch | null = null;
    let cancelled = false;
    client.watchJob(id, token === undefined ? {} : { token }).then(
      (w) => {
        if (cancelled) return w.close();
        watch = w;
        setState({ snapshot: w.snapshot, done: false, error: null, watch: w });
        w.on('update', (s) => setState((prev) => ({ ...prev, snapshot: s })));
        // Called at once for a job that ended before we listened.
        w.on('done', (s) => setState((prev) => ({ ...prev, snapshot: s, done: true })));
        w.on('error', (error) => setState((prev) => ({ ...prev, error })));
      },
      (error: unknown) => !cancelled && setState((prev) => ({ ...prev, error: asInloopError(error) })),
    );
    return () => {
      cancelled = true;
      watch?.close();
    };
  }, [client, id, token]);
  const status: HookStatus = state.done ? 'done' : state.snapshot ? 'ready' : 'loading';
  return { ...state, ...settle(state.error, connection, status) };
}
