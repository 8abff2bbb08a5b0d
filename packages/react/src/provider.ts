import { createContext, createElement, useContext, useEffect, useState, type ReactNode } from 'react';
import {
  createClient,
  type ClientOptions,
  type ConnectionState,
  type InloopClient,
  type InloopError,
} from '@inloop/client';

/** What the provider shares: the client, and its connection as React state. */
export interface InloopContextValue {
  client: InloopClient;
  state: ConnectionState;
  /** Why the client stopped for good (a refused token, an origin not allowed), else null. */
  error: InloopError | null;
}

const InloopContext = createContext<InloopContextValue | null>(null);

export interface InloopProviderProps {
  /** A client made elsewhere (the provider does not close it)... */
  client?: InloopClient;
  /** ...or the options to make one: created once, closed when the provider unmounts. */
  options?: ClientOptions;
  children?: ReactNode;
}

/**
 * Shares one Inloop client with every hook below it. One client means one connection and one
 * subscription per topic, however many components use the topic.
 *
 * ```tsx
 * <InloopProvider options={{ url: 'https://rt.example.com', token: fetchToken }}>
 *   <App />
 * </InloopProvider>
 * ```
 */
export function InloopProvider(props: InloopProviderProps): ReactNode {
  // Made on first render; StrictMode's discarded second render makes one that never connects.
  const [owned] = useState(() => (props.client ? null : createClient(props.options!)));
  const client = props.client ?? owned!;
  const [conn, setConn] = useState(() => ({ state: client.state, error: client.error ?? null }));
  useEffect(() => {
    setConn({ state: client.state, error: client.error ?? null });
    const off = client.on('state', (change) => setConn({ state: change.to, error: client.error ?? null }));
    return off;
  }, [client]);
  useEffect(() => {
    if (!owned) return;
    // StrictMode unmounts and mounts again at once: close only if no mount follows.
    clearTimeout(closing.get(owned));
    return () =>
      void closing.set(
        owned,
        setTimeout(() => void owned.close(), 0),
      );
  }, [owned]);
  const value: InloopContextValue = { client, state: conn.state, error: conn.error };
  return createElement(InloopContext.Provider, { value }, props.children);
}

const closing = new WeakMap<InloopClient, ReturnType<typeof setTimeout>>();

/**
 * The provider's client and connection. A hook given its own `client` uses that instead
 * (no provider needed), with the client's own connection state.
 */
export function useInloop(client?: InloopClient): InloopContextValue {
  const context = useContext(InloopContext);
  const [, rerender] = useState(0);
  const own = client && client !== context?.client ? client : undefined;
  useEffect(() => own?.on('state', () => rerender((n) => n + 1)), [own]);
  if (own) return { client: own, state: own.state, error: own.error ?? null };
  if (!context) throw new Error('no Inloop client: wrap the app in <InloopProvider> or pass a client to the hook');
  return context;
}

/** The connection's state and, once the client has stopped for good, why. */
export function useConnection(): { state: ConnectionState; error: InloopError | null } {
  const { state, error } = useInloop();
  return { state, error };
}
