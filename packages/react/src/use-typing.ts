import { useEffect, useRef, useState } from 'react';
import type { InloopError, TypingChannel, TypingOptions } from '@inloop/client';
import { settle, type HookOptions, type HookStatus } from './hook-state.js';
import { useInloop } from './provider.js';

export interface UseTypingResult {
  typers: readonly string[];
  keystroke: () => void;
  stop: () => void;
  error: InloopError | null;
  status: HookStatus;
}

/**
 * Typing on a topic: who else is typing, and `keystroke()` / `stop()` for this user. Shares the
 * topic's subscription with any `useTopic` on it: unmounting one never silences the other. A refusal
 * (the token does not cover the topic: `forbidden`) is its `error`, with status `'error'`.
 *
 * ```tsx
 * const { typers, keystroke } = useTyping('conv:support-42');
 * <input onInput={keystroke} />
 * ```
 */
export function useTyping(topic: string, options: TypingOptions & HookOptions = {}): UseTypingResult {
  const { client, error: connection } = useInloop(options.client);
  const [typers, setTypers] = useState<readonly string[]>([]);
  const [error, setError] = useState<InloopError | null>(null);
  const channel = useRef<TypingChannel | null>(null);
  const { throttleMs, idleMs } = options;
  useEffect(() => {
    const c = client.typing(topic, {
      ...(throttleMs === undefined ? {} : { throttleMs }),
      ...(idleMs === undefined ? {} : { idleMs }),
    });
    channel.current = c;
    setTypers(c.typers);
    setError(c.error);
    const offs = [c.on('change', (who) => setTypers(who)), c.on('error', (e) => setError(e))];
    return () => {
      for (const off of offs) off();
      c.close();
      if (channel.current === c) channel.current = null;
    };
  }, [client, topic, throttleMs, idleMs]);
  return {
    typers,
    keystroke: () => channel.current?.keystroke(),
    stop: () => channel.current?.stop(),
    ...settle(error, connection, 'ready'),
  };
}
