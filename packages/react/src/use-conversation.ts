import { useEffect, useReducer, useState } from 'react';
import type { Conversation, ConversationOptions, InloopError, PendingMessage } from '@inloop/client';
import type { ConversationMessage } from '@inloop/protocol';
import { settle, type HookOptions, type HookStatus } from './hook-state.js';
import { useInloop } from './provider.js';

export interface UseConversationResult {
  conversation: Conversation | null;
  messages: readonly ConversationMessage[];
  /** This client's messages not yet acknowledged by the node (show them as pending). */
  pending: readonly PendingMessage[];
  unread: number;
  typers: readonly string[];
  /** State and recent history are loaded. */
  ready: boolean;
  error: InloopError | null;
  status: HookStatus;
}

/**
 * A conversation, live: messages, receipts (re-rendered as they move), drafts, typing, unread.
 * Any number of components may open the same conversation (a badge and the chat page, say).
 *
 * ```tsx
 * const { conversation, messages, unread, error } = useConversation('support-42');
 * messages.map((m) => <Message key={m.offset} m={m} status={conversation?.statusOf(m)} />);
 * ```
 */
export function useConversation(id: string, options: ConversationOptions & HookOptions = {}): UseConversationResult {
  const { client, error: connection } = useInloop(options.client);
  const [, tick] = useReducer((n: number) => n + 1, 0);
  const [state, setState] = useState<{ c: Conversation | null; ready: boolean; error: InloopError | null }>({
    c: null,
    ready: false,
    error: null,
  });
  const { history, autoDeliver } = options;
  useEffect(() => {
    const c = client.conversation(id, {
      ...(history === undefined ? {} : { history }),
      ...(autoDeliver === undefined ? {} : { autoDeliver }),
      ...(options.typing ? { typing: options.typing } : {}),
    });
    setState({ c, ready: false, error: null });
    const offs = [
      c.on('message', () => tick()),
      c.on('receipt', () => tick()),
      c.on('pending', () => tick()),
      c.on('members', () => tick()),
      c.on('draft', () => tick()),
      c.on('ready', () => setState((prev) => (prev.c === c ? { ...prev, ready: true, error: null } : prev))),
      c.on('error', (error) => setState((prev) => (prev.c === c ? { ...prev, error } : prev))),
      c.typing.on('change', () => tick()),
    ];
    return () => {
      for (const off of offs) off();
      c.close();
    };
  }, [client, id, history, autoDeliver]);
  const { c, ready } = state;
  return {
    conversation: c,
    messages: c ? [...c.messages] : [],
    pending: c ? c.pending : [],
    unread: c ? c.unread : 0,
    typers: c ? c.typing.typers : [],
    ready,
    ...settle(state.error, connection, ready ? 'ready' : 'loading'),
  };
}
