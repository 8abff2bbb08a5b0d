import { useEffect, useState } from 'react';
import type { InloopError, PresenceChannel, PresenceOptions } from '@inloop/client';
import type { Occupancy, PresenceMember } from '@inloop/protocol';
import { settle, type HookOptions, type HookStatus } from './hook-state.js';
import { useInloop } from './provider.js';

export interface UsePresenceResult {
  members: PresenceMember[];
  occupancy: Occupancy;
  /** The connection is lost: `members` is what was known then (see `PresenceChannel.stale`). */
  stale: boolean;
  channel: PresenceChannel | null;
  error: InloopError | null;
  status: HookStatus;
}

interface PresenceState {
  members: PresenceMember[];
  occupancy: Occupancy;
  stale: boolean;
  channel: PresenceChannel | null;
  error: InloopError | null;
  live: boolean;
}

const empty: PresenceState = {
  members: [],
  occupancy: { members: 0, connections: 0 },
  stale: false,
  channel: null,
  error: null,
  live: false,
};

/**
 * Presence on a topic: members and occupancy, re-rendered on every change. Joins as the
 * client's subject unless `join: false`. A remount (StrictMode) or a quick return to the page is
 * not seen by others as a leave and a join.
 *
 * ```tsx
 * const { members, occupancy, error } = usePresence('room:42', { meta: { name } });
 * ```
 */
export function usePresence(topic: string, options: PresenceOptions & HookOptions = {}): UsePresenceResult {
  const { client, error: connection } = useInloop(options.client);
  const [state, setState] = useState<PresenceState>(empty);
  const { join, device } = options;
  const meta = JSON.stringify(options.meta ?? null);
  useEffect(() => {
    const c = client.presence(topic, {
      ...(join === undefined ? {} : { join }),
      ...(device === undefined ? {} : { device }),
      meta: JSON.parse(meta) as never,
    });
    const read = (live: boolean) => (prev: PresenceState) => ({
      ...prev,
      members: [...c.members.values()],
      occupancy: c.occupancy,
      stale: c.stale,
      channel: c,
      live: prev.live || live,
    });
    // Shared with another component already: its state is current.
    setState({ ...read(c.members.size > 0)(empty), error: null });
    const offs = [
      c.on('change', () => setState(read(true))),
      c.on('error', (error) => setState((prev) => ({ ...prev, error }))),
    ];
    return () => {
      for (const off of offs) off();
      void c.leave();
    };
  }, [client, topic, join, device, meta]);
  const { members, occupancy, stale, channel } = state;
  return { members, occupancy, stale, channel, ...settle(state.error, connection, state.live ? 'ready' : 'loading') };
}
