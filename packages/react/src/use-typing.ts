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
 * topic's subscription with any `useTopic` on it: unmounting one never silences the other.
 *
 * ```tsx
 * const { typers, keystroke } = useTyping('conv:support-42');
 * <input onInput={keystroke} />
 * ```
 */
export function useTyping(topic: string, options: TypingOptions & HookOptions = {}): UseTypingResult {
  const { client, error: connection } = useInloop(options.client);
  const [typers, setTypers] = useState<readonly string[]>([]);
  const channel = useRef<TypingChannel | null>(null);
  const { throttleMs, idleMs } = options;
  useEffect(() => {
    const c = client.typing(topic, {
      ...(throttleMs === undefined ? {} : { throttleMs }),
      ...(idleMs === undefined ? {} : { idleMs }),
    });
    channel.current = c;
    setTypers(c.typers);
    const off = c.on('change', (who) => setTypers(who));
    return () => {
      off();
      c.close();
      if (channel.current === c) channel.current = null;
    };
  }, [client, topic, throttleMs, idleMs]);
  return {
    typers,
    keystroke: () => channel.current?.keystroke(),
    stop: () => channel.current?.stop(),
    ...settle(null, connection, 'ready'),
  };
}
