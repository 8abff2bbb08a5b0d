import type {
  Json,
  Occupancy,
  PresenceDiffMessage,
  PresenceLeft,
  PresenceMember,
  PresenceStateMessage,
} from '@inloop/protocol';
import type { Metrics } from '../metrics.js';
import type { PresenceStore } from '../ports/presence-store.js';

/** Somewhere to send presence messages: a WebSocket session. */
export interface PresenceWatcher {
  push(chunk: Buffer): void;
  readonly closed: boolean;
}

export interface PresenceOptions {
  store: PresenceStore;
  metrics?: Metrics;
  /** A connection that shows no sign of life for this long is removed. @default 30_000 */
  ttlMs?: number;
  /** Changes to one topic are sent at most once per this interval, coalesced. @default 100 */
  flushMs?: number;
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
}

export interface JoinOptions {
  meta?: Json;
  device?: string;
  /** Override the node's TTL for this connection (HTTP members heartbeat on their own schedule). */
  ttlMs?: number;
}

interface Connection {
  readonly id: string;
  readonly member: string;
  readonly device: string | undefined;
  expiresAt: number;
  ttlMs: number;
}

interface MemberState {
  readonly id: string;
  meta: Json;
  readonly joinedAt: number;
  readonly connections: Map<string, Connection>;
}

/** One topic's members, watchers and changes not yet sent. */
class TopicPresence {
  readonly members = new Map<string, MemberState>();
  readonly watchers = new Set<PresenceWatcher>();
  connections = 0;
  /** Members changed since the last flush; true when the change includes a join. */
  pending = new Map<string, boolean>();
  lastFlush = -Infinity;
  timer: NodeJS.Timeout | undefined;

  constructor(readonly topic: string) {}

  get occupancy(): Occupancy {
    return { members: this.members.size, connections: this.connections };
  }

  get idle(): boolean {
    return this.members.size === 0 && this.watchers.size === 0 && this.timer === undefined;
  }
}

function view(m: MemberState): PresenceMember {
  const devices = new Set<string>();
  for (const c of m.connections.values()) if (c.device !== undefined) devices.add(c.device);
  return { id: m.id, meta: m.meta, connections: m.connections.size, devices: [...devices], joinedAt: m.joinedAt };
}

/**
 * Presence: who is on each topic, through which connections, and who is watching. A member joins
 * with its first connection and leaves with its last; a second tab is an update (connection count),
 * not a second member. Connections stay while they show signs of life (`touch`); one silent for
 * the TTL is swept, so a crashed client disappears without a close. A clean close leaves at once.
 *
 * Changes are coalesced per topic: the first change of a quiet topic is sent on the next tick,
 * later ones at most once per `flushMs`, each diff encoded once and shared by every watcher. A
 * thousand members joining within a second thus cost each watcher about ten messages, not a
 * thousand, and the node about 10·N instead of N².
 */
export class Presence {
  readonly #topics = new Map<string, TopicPresence>();
  /** Each connection's entries by topic: `touch` runs on every incoming frame, so no scans. */
  readonly #byConnection = new Map<string, Map<string, Connection>>();
  readonly #watching = new Map<PresenceWatcher, Set<string>>();
  readonly #store: PresenceStore;
  readonly #metrics: Metrics | undefined;
  readonly #ttlMs: number;
  readonly #flushMs: number;
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: PresenceOptions) {
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#flushMs = options.flushMs ?? 100;
    this.#now = options.now ?? Date.now;
    this.#sweep = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, this.#ttlMs / 4)));
    this.#sweep.unref();
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /**
   * Add connection `connectionId` of `member` to `topic` (again: refresh it and apply `meta`).
   * Returns the topic's state as the joiner should see it.
   */
  join(topic: string, member: string, connectionId: string, options: JoinOptions = {}): PresenceStateMessage {
    const t = this.#topic(topic);
    const now = this.#now();
    let m = t.members.get(member);
    const joined = !m;
    if (!m) {
      m = { id: member, meta: options.meta ?? null, joinedAt: now, connections: new Map() };
      t.members.set(member, m);
    } else if (options.meta !== undefined) m.meta = options.meta;
    const ttlMs = options.ttlMs ?? this.#ttlMs;
    const existing = m.connections.get(connectionId);
    if (existing) {
      existing.expiresAt = now + ttlMs;
      existing.ttlMs = ttlMs;
    } else {
      const c: Connection = { id: connectionId, member, device: options.device, expiresAt: now + ttlMs, ttlMs };
      m.connections.set(connectionId, c);
      t.connections++;
      let entries = this.#byConnection.get(connectionId);
      if (!entries) this.#byConnection.set(connectionId, (entries = new Map()));
      entries.set(topic, c);
    }
    if (joined || !existing || options.meta !== undefined) this.#changed(t, member, joined);
    return this.state(topic);
  }

  /** Replace a member's metadata. False when the member is not present. */
  update(topic: string, member: string, meta: Json): boolean {
    const t = this.#topics.get(topic);
    const m = t?.members.get(member);
    if (!t || !m) return false;
    m.meta = meta;
    this.#changed(t, member, false);
    return true;
  }

  /** Remove one connection from `topic`; the member leaves with its last. */
  leave(topic: string, connectionId: string): void {
    const t = this.#topics.get(topic);
    if (!t) return;
    const c = this.#byConnection.get(connectionId)?.get(topic);
    const m = c && t.members.get(c.member);
    if (m) this.#removeConnection(t, m, connectionId);
    this.#byConnection.get(connectionId)?.delete(topic);
    this.#release(t);
  }

  /** Whether `member` is present on `topic` through `connectionId`. */
  has(topic: string, member: string, connectionId?: string): boolean {
    const m = this.#topics.get(topic)?.members.get(member);
    return m !== undefined && (connectionId === undefined || m.connections.has(connectionId));
  }

  /** The connection showed a sign of life: keep all its presence entries. */
  touch(connectionId: string): void {
    const entries = this.#byConnection.get(connectionId);
    if (!entries) return;
    const now = this.#now();
    for (const c of entries.values()) c.expiresAt = now + c.ttlMs;
  }

  /** The connection closed cleanly: leave everywhere at once, stop watching. */
  dropConnection(connectionId: string, watcher?: PresenceWatcher): void {
    const entries = this.#byConnection.get(connectionId);
    if (entries) for (const topic of [...entries.keys()]) this.leave(topic, connectionId);
    this.#byConnection.delete(connectionId);
    if (watcher) for (const topic of [...(this.#watching.get(watcher) ?? [])]) this.unwatch(topic, watcher);
  }

  /** Send `watcher` the changes of `topic` from now on; returns the current state. */
  watch(topic: string, watcher: PresenceWatcher): PresenceStateMessage {
    const t = this.#topic(topic);
    t.watchers.add(watcher);
    let topics = this.#watching.get(watcher);
    if (!topics) this.#watching.set(watcher, (topics = new Set()));
    topics.add(topic);
    return this.state(topic);
  }

  unwatch(topic: string, watcher: PresenceWatcher): void {
    const t = this.#topics.get(topic);
    t?.watchers.delete(watcher);
    const topics = this.#watching.get(watcher);
    topics?.delete(topic);
    if (topics?.size === 0) this.#watching.delete(watcher);
    if (t) this.#release(t);
  }

  /** Topics `watcher` watches (to bound them per connection). */
  watchedBy(watcher: PresenceWatcher): number {
    return this.#watching.get(watcher)?.size ?? 0;
  }

  /** The current members and occupancy of `topic`. */
  state(topic: string): PresenceStateMessage {
    const t = this.#topics.get(topic);
    return {
      type: 'presence.state',
      topic,
      members: t ? [...t.members.values()].map(view) : [],
      occupancy: t ? t.occupancy : { members: 0, connections: 0 },
    };
  }

  /** Members seen on `topic` before, latest first (durable across restarts). */
  lastSeen(topic: string, limit = 50): ReturnType<PresenceStore['lastSeen']> {
    return this.#store.lastSeen(topic, limit);
  }

  /** Remove connections whose TTL has passed. Runs on a timer; public for tests. */
  sweep(): void {
    const now = this.#now();
    for (const t of [...this.#topics.values()]) {
      for (const m of [...t.members.values()]) {
        for (const c of [...m.connections.values()]) {
          if (c.expiresAt > now) continue;
          this.#removeConnection(t, m, c.id);
          this.#byConnection.get(c.id)?.delete(t.topic);
          this.#metrics?.drops.inc({ reason: 'presence_ttl' });
        }
      }
      this.#release(t);
    }
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const t of this.#topics.values()) clearTimeout(t.timer);
    this.#topics.clear();
  }

  #topic(topic: string): TopicPresence {
    let t = this.#topics.get(topic);
    if (!t) this.#topics.set(topic, (t = new TopicPresence(topic)));
    return t;
  }

  #release(t: TopicPresence): void {
    if (t.idle) this.#topics.delete(t.topic);
  }

  #removeConnection(t: TopicPresence, m: MemberState, connectionId: string): void {
    if (!m.connections.delete(connectionId)) return;
    t.connections--;
    if (m.connections.size === 0) {
      t.members.delete(m.id);
      this.#store.left(t.topic, m.id, m.meta, this.#now());
    }
    this.#changed(t, m.id, false);
  }

  #changed(t: TopicPresence, member: string, joined: boolean): void {
    t.pending.set(member, joined || t.pending.get(member) === true);
    if (t.timer !== undefined) return;
    const wait = t.lastFlush + this.#flushMs - this.#now();
    // The first change of a quiet topic goes out at once (after what this tick brings); later
    // ones wait out the interval.
    t.timer = setTimeout(() => this.#flush(t), Math.max(0, wait));
  }

  #flush(t: TopicPresence): void {
    t.timer = undefined;
    t.lastFlush = this.#now();
    const pending = t.pending;
    t.pending = new Map();
    if (t.watchers.size > 0 && pending.size > 0) {
      const diff: PresenceDiffMessage = {
        type: 'presence.diff',
        topic: t.topic,
        joins: [],
        updates: [],
        leaves: [],
        occupancy: t.occupancy,
      };
      const now = this.#now();
      for (const [id, joined] of pending) {
        const m = t.members.get(id);
        // A member who joined and left within one interval is reported as left: a watcher that
        // took its snapshot in between must hear of the leave; others ignore an unknown leave.
        if (!m) diff.leaves.push({ id, lastSeen: now } satisfies PresenceLeft);
        else (joined ? diff.joins : diff.updates).push(view(m));
      }
      const bytes = Buffer.from(JSON.stringify(diff));
      let sent = 0;
      for (const w of t.watchers) {
        if (w.closed) continue;
        w.push(bytes);
        sent++;
      }
      this.#metrics?.presenceMessages.inc(sent);
    }
    this.#release(t);
  }
}
