import { useCallback, useEffect, useState } from 'react';
import type { InloopError, StreamWatch } from '@inloop/client';
import { streamKey, type StreamEndReason, type StreamRef } from '@inloop/protocol';
import { asInloopError, settle, type HookOptions, type HookStatus } from './hook-state.js';
import { useInloop } from './provider.js';

export interface UseStreamResult {
  /** The whole text so far: the text at join in one piece, then every delta, through reconnects. */
  text: string;
  /** How the stream ended (`finished`, `stopped`, `failed`), or null while it runs. */
  end: StreamEndReason | null;
  error: InloopError | null;
  /** `loading` until the first text arrives, `ready` while it grows, `done` once it ended. */
  status: HookStatus;
  /** Stop the generation for everyone (a job is cancelled); resolves once the node has it. */
  stop: () => Promise<void>;
}

interface StreamState {
  text: string;
  end: StreamEndReason | null;
  error: InloopError | null;
  joined: boolean;
}

const initial: StreamState = { text: '', end: null, error: null, joined: false };

/**
 * A stream's text as it grows: a job's (`{ job, name }`) or a conversation message's
 * (`{ conversation, message: clientId }`). Closing the component (or the tab) only stops
 * watching; `stop()` stops the generation.
 *
 * ```tsx
 * const { text, end, stop } = useStream({ job: job.id, name: 'answer' }, { token: job.token });
 * return <>
 *   <inloop-stream-text text={text} status={end ?? 'streaming'} />
 *   {!end && <button onClick={stop}>Stop</button>}
 * </>;
 * ```
 */
export function useStream(
  ref: StreamRef | null | undefined,
  options: HookOptions & { token?: string | undefined } = {},
): UseStreamResult {
  const { client, error: connection } = useInloop(options.client);
  const { token } = options;
  const key = ref ? streamKey(ref) : null;
  const [state, setState] = useState<StreamState>(initial);
  const [watch, setWatch] = useState<StreamWatch | null>(null);
  useEffect(() => {
    setState(initial);
    setWatch(null);
    if (!ref) return;
    const w = client.watchStream(ref, token === undefined ? {} : { token });
    setWatch(w);
    if (w.text || w.end) setState({ text: w.text, end: w.end, error: null, joined: true });
    const offs = [
      w.on('delta', (_delta, text) => setState((prev) => ({ ...prev, text, joined: true }))),
      w.on('reset', (text) => setState((prev) => ({ ...prev, text }))),
      w.on('end', (end, text) => setState((prev) => ({ ...prev, text, end, joined: true }))),
      w.on('error', (error) => setState((prev) => ({ ...prev, error }))),
    ];
    return () => {
      for (const off of offs) off();
      w.close();
    };
    // `ref` is named by its key: a new object for the same stream is the same stream.
  }, [client, key, token]);
  const stop = useCallback(
    () =>
      watch
        ? watch.stop().catch((err: unknown) => {
            setState((prev) => ({ ...prev, error: asInloopError(err) }));
          })
        : Promise.resolve(),
    [watch],
  );
  const status: HookStatus = state.end ? 'done' : state.joined ? 'ready' : 'loading';
  return { text: state.text, end: state.end, stop, ...settle(state.error, connection, status) };
}
