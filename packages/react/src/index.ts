import { useEffect, useReducer, useRef, useState } from 'react';
import type {
  Conversation,
  ConversationOptions,
  InloopClient,
  JobWatch,
  PresenceChannel,
  PresenceOptions,
  Publication,
  TypingChannel,
  TypingOptions,
} from '@inloop/client';
import type { ConversationMessage, JobSnapshot, Occupancy, PresenceMember } from '@inloop/protocol';

/** Re-render whenever `subscribe`'s callback fires; the source stays mutable (the SDK's objects are). */
function useTick(): [number, () => void] {
  return useReducer((n: number) => n + 1, 0);
}

/**
 * A job's live snapshot: `null` until loaded, then every update through reconnects.
 *
 * ```tsx
 * const { snapshot, done } = useJob(client, job.id, job.token);
 * return snapshot && <Bar value={snapshot.progress.fraction} eta={snapshot.eta?.remainingMs} />;
 * ```
 */
export function useJob(
  client: InloopClient,
  id: string | null | undefined,
  token?: string,
): { snapshot: JobSnapshot | null; done: boolean; error: Error | null; watch: JobWatch | null } {
  const [state, setState] = useState<{
    snapshot: JobSnapshot | null;
    done: boolean;
    error: Error | null;
    watch: JobWatch | null;
  }>({ snapshot: null, done: false, error: null, watch: null });
  useEffect(() => {
    if (!id) return;
    let watch: JobWatch | null = null;
    let cancelled = false;
    client.watchJob(id, token === undefined ? {} : { token }).then(
      (w) => {
        if (cancelled) return w.close();
        watch = w;
        setState({ snapshot: w.snapshot, done: false, error: null, watch: w });
        w.on('update', (s) => setState((prev) => ({ ...prev, snapshot: s })));
        w.on('done', (s) => setState((prev) => ({ ...prev, snapshot: s, done: true })));
        w.on('error', (error) => setState((prev) => ({ ...prev, error })));
      },
      (error: Error) => !cancelled && setState((prev) => ({ ...prev, error })),
    );
    return () => {
      cancelled = true;
      watch?.close();
    };
  }, [client, id, token]);
  return state;
}

/**
 * The publications of a topic, newest last (the last `keep`), and a way to publish.
 *
 * ```tsx
 * const { publications, publish } = useTopic(client, 'room:42', { keep: 50 });
 * ```
 */
export function useTopic(
  client: InloopClient,
  topic: string,
  options: { keep?: number; onPublication?: (p: Publication) => void } = {},
): { publications: readonly Publication[]; publish: InloopClient['publish'] } {
  const [publications, setPublications] = useState<Publication[]>([]);
  const onPublication = useRef(options.onPublication);
  onPublication.current = options.onPublication;
  const keep = options.keep ?? 100;
  useEffect(() => {
    const sub = client.subscribe(topic);
    const off = sub.on('publication', (p) => {
      onPublication.current?.(p);
      setPublications((prev) => [...prev, p].slice(-keep));
    });
    return () => {
      off();
      sub.unsubscribe();
    };
  }, [client, topic, keep]);
  return { publications, publish: client.publish.bind(client) };
}

/**
 * Presence on a topic: members and occupancy, re-rendered on every change. Joins as the
 * client's subject unless `join: false`.
 *
 * ```tsx
 * const { members, occupancy } = usePresence(client, 'room:42', { meta: { name } });
 * ```
 */
export function usePresence(
  client: InloopClient,
  topic: string,
  options: PresenceOptions = {},
): { members: PresenceMember[]; occupancy: Occupancy; channel: PresenceChannel | null } {
  const [, tick] = useTick();
  const channel = useRef<PresenceChannel | null>(null);
  const { join, device } = options;
  const meta = JSON.stringify(options.meta ?? null);
  useEffect(() => {
    const c = client.presence(topic, { ...options, meta: JSON.parse(meta) as never });
    channel.current = c;
    const off = c.on('change', () => tick());
    return () => {
      off();
      void c.leave();
      channel.current = null;
    };
  }, [client, topic, join, device, meta]);
  const c = channel.current;
  return {
    members: c ? [...c.members.values()] : [],
    occupancy: c ? c.occupancy : { members: 0, connections: 0 },
    channel: c,
  };
}

/**
 * Typing on a topic: who else is typing, and `keystroke()` / `stop()` for this user.
 *
 * ```tsx
 * const { typers, keystroke } = useTyping(client, 'conv:support-42');
 * <input onInput={keystroke} />
 * ```
 */
export function useTyping(
  client: InloopClient,
  topic: string,
  options: TypingOptions = {},
): { typers: readonly string[]; keystroke: () => void; stop: () => void } {
  const [typers, setTypers] = useState<readonly string[]>([]);
  const channel = useRef<TypingChannel | null>(null);
  useEffect(() => {
    const c = client.typing(topic, options);
    channel.current = c;
    const off = c.on('change', (who) => setTypers(who));
    return () => {
      off();
      c.close();
    };
  }, [client, topic]);
  return {
    typers,
    keystroke: () => channel.current?.keystroke(),
    stop: () => channel.current?.stop(),
  };
}

/**
 * A conversation, live: messages, receipts (re-rendered as they move), drafts, typing, unread.
 *
 * ```tsx
 * const { conversation, messages, unread } = useConversation(client, 'support-42');
 * messages.map((m) => <Message key={m.offset} m={m} status={conversation?.statusOf(m)} />);
 * ```
 */
export function useConversation(
  client: InloopClient,
  id: string,
  options: ConversationOptions = {},
): {
  conversation: Conversation | null;
  messages: readonly ConversationMessage[];
  unread: number;
  typers: readonly string[];
  ready: boolean;
} {
  const [, tick] = useTick();
  const ref = useRef<Conversation | null>(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const c = client.conversation(id, options);
    ref.current = c;
    const offs = [
      c.on('message', () => tick()),
      c.on('receipt', () => tick()),
      c.on('draft', () => tick()),
      c.on('ready', () => setReady(true)),
      c.typing.on('change', () => tick()),
    ];
    tick();
    return () => {
      for (const off of offs) off();
      c.close();
      ref.current = null;
      setReady(false);
    };
  }, [client, id]);
  const c = ref.current;
  return {
    conversation: c,
    messages: c ? [...c.messages] : [],
    unread: c ? c.unread : 0,
    typers: c ? c.typing.typers : [],
    ready,
  };
}
