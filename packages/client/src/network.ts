/** What the browser says about the network, as the client needs it. */
export type NetworkEvent =
  /** The browser has a network again (`online`). */
  | 'online'
  /** The browser lost its network (`offline`). */
  | 'offline'
  /** The page is shown again (`visibilitychange` to visible): a background tab's timers ran late. */
  | 'visible';

/**
 * Where the client hears about the network. Browsers have one (`window` and `document`, the
 * default); Node has none. Tests and other runtimes can pass their own.
 */
export interface NetworkSignals {
  /** Whether the runtime believes it is online (`navigator.onLine`). A `true` is no promise. */
  online(): boolean;
  /** Listen; returns an unlisten. */
  listen(fn: (event: NetworkEvent) => void): () => void;
}

interface BrowserLike {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

/** The browser's signals, or `undefined` outside a browser. */
export function browserNetwork(): NetworkSignals | undefined {
  const g = globalThis as {
    window?: BrowserLike;
    document?: BrowserLike & { visibilityState?: string };
    navigator?: { onLine?: boolean };
  };
  const win = g.window;
  if (!win || typeof win.addEventListener !== 'function') return undefined;
  const doc = g.document;
  return {
    online: () => g.navigator?.onLine !== false,
    listen(fn) {
      const online = () => fn('online');
      const offline = () => fn('offline');
      const visible = () => doc?.visibilityState === 'visible' && fn('visible');
      win.addEventListener('online', online);
      win.addEventListener('offline', offline);
      doc?.addEventListener('visibilitychange', visible);
      return () => {
        win.removeEventListener('online', online);
        win.removeEventListener('offline', offline);
        doc?.removeEventListener('visibilitychange', visible);
      };
    },
  };
}
