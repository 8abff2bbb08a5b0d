import { useCallback, useEffect, useRef, useState } from 'react';
import type { InloopError, Publication, PublishOptions, PublishResult, SubscribedEvent } from '@inloop/client';
import type { Json, Position } from '@inloop/protocol';
import { settle, type HookOptions, type HookStatus } from './hook-state.js';
import { useInloop } from './provider.js';

export interface UseTopicOptions extends HookOptions {
  /** Keep the last this many publications. @default 100 */
  keep?: number;
  /**
   * Start after this position: everything published since is replayed from history first, also
   * when another component already holds the topic (then read over HTTP history, which the token
   * must allow). When history no longer has it all, the feed starts from now and `resets` counts it.
   */
  since?: Position;
  /** A token for this topic alone. */
  token?: string;
  onPublication?: (publication: Publication) => void;
  /**
   * Publications were missed and could not be replayed (history trimmed, a new epoch, a `since` too
   * old): whatever the app built from earlier publications may be stale. `publications` goes on
   * from the new position.
   */
  onReset?: (event: SubscribedEvent) => void;
}

export interface UseTopicResult {
  /** Newest last. */
  publications: readonly Publication[];
  /** Publish on this topic. */
  publish: (data: Json, options?: PublishOptions) => Promise<PublishResult>;
  /** How many times publications were missed without replay (`recovered: false`), see `onReset`. */
  resets: number;
  error: InloopError | null;
  status: HookStatus;
}

/**
 * The publications of a topic, and a `publish` bound to it. Any number of components may use the
 * same topic: they share one subscription.
 *
 * ```tsx
 * const { publications, publish, error } = useTopic('room:42', { keep: 50 });
 * <button onClick={() => publish({ text: 'hi' })}>Send</button>
 * ```
 */
export function useTopic(topic: string, options: UseTopicOptions = {}): UseTopicResult {
  const { client, error: connection } = useInloop(options.client);
  const [publications, setPublications] = useState<Publication[]>([]);
  const [own, setOwn] = useState<{ error: InloopError | null; live: boolean }>({ error: null, live: false });
  const [resets, setResets] = useState(0);
  const onPublication = useRef(options.onPublication);
  onPublication.current = options.onPublication;
  const onReset = useRef(options.onReset);
  onReset.current = options.onReset;
  const keep = options.keep ?? 100;
  const since = options.since ? `${options.since.epoch}:${options.since.offset}` : '';
  const { token } = options;
  useEffect(() => {
    // Another topic, position or window: what was shown belongs to the old one.
    setOwn({ error: null, live: false });
    setPublications([]);
    setResets(0);
    const at = since
      ? { epoch: since.slice(0, since.lastIndexOf(':')), offset: Number(since.slice(since.lastIndexOf(':') + 1)) }
      : undefined;
    const sub = client.subscribe(topic, { ...(at ? { since: at } : {}), ...(token === undefined ? {} : { token }) });
    const offs = [
      sub.on('publication', (p) => {
        onPublication.current?.(p);
        setPublications((prev) => [...prev, p].slice(-keep));
      }),
      sub.on('subscribed', () => setOwn((o) => (o.live ? o : { ...o, live: true }))),
      sub.on('reset', (event) => {
        onReset.current?.(event);
        setResets((n) => n + 1);
      }),
      sub.on('error', (error) => setOwn({ error, live: false })),
    ];
    return () => {
      for (const off of offs) off();
      sub.unsubscribe();
    };
  }, [client, topic, keep, since, token]);
  const publish = useCallback(
    (data: Json, publishOptions?: PublishOptions) => client.publish(topic, data, publishOptions),
    [client, topic],
  );
  return { publications, publish, resets, ...settle(own.error, connection, own.live ? 'ready' : 'loading') };
}
