import type {
  ErrorCode,
  Json,
  Occupancy,
  PresenceDiffMessage,
  PresenceLeft,
  PresenceMember,
  PresenceStateMessage,
} from '@inloop/protocol';
import type { Metrics } from '../metrics.js';
import type { PresenceStore } from '../ports/presence-store.js';
import type { PresenceReplica, ReplicaChange, ReplicatedMember } from '../ports/presence-replica.js';
import { Refusal } from '../errors.js';
import type { Outlet } from './outlet.js';

/**
 * A connection watching presence (a WebSocket session, an SSE stream with `?presence=1`): an
 * outlet its diffs are fanned out to like publications, encoded once per codec.
 */
export interface PresenceWatcher extends Pick<Outlet, 'codec' | 'push' | 'closed'> {
  /** The member whose rights the watch rests on (a token's subject); null for an API key. */
  readonly subject: string | null;
  /** The node ended this connection's presence on `topic` (join and watch): tell it why. */
  presenceEnded(topic: string, code: ErrorCode): void;
}

/** Queues a message on each watcher (the hub's {@link Hub.fanOut}); returns how many it reached. */
export type PresenceFanOut = (watchers: Iterable<PresenceWatcher>, message: PresenceDiffMessage) => number;

/** Without a hub: each watcher's codec asked once per diff. */
const directFanOut: PresenceFanOut = (watchers, message) => {
  let sent = 0;
  for (const w of watchers) {
    if (w.closed) continue;
    w.push(w.codec.message(message));
    sent++;
  }
  return sent;
};

export interface PresenceOptions {
  store: PresenceStore;
  /** How a diff reaches its watchers: the hub's fan-out, so it is queued against each budget. */
  fanOut?: PresenceFanOut;
  metrics?: Metrics;
  /** A connection that shows no sign of life for this long is removed. @default 30_000 */
  ttlMs?: number;
  /** Changes to one topic are sent at most once per this interval, coalesced. @default 100 */
  flushMs?: number;
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
  /** Presence shared with other nodes (cluster mode); members on other nodes are merged in. */
  replica?: PresenceReplica;
  /**
   * Told when this node starts (`true`) and stops holding anything of a topic's presence (a
   * member or a watcher), so the node can follow changes to the topic made elsewhere.
   */
  onTopic?: (topic: string, held: boolean) => void;
  /**
   * Told when a topic's presence becomes occupied (a first member) or vacant (the last left), at
   * most once per flush. In a cluster, only the node where the deciding change was made is told.
   */
  onOccupancy?: (topic: string, occupied: boolean, members: number) => void;
  /**
   * Topics one member may be present on at once on this node, over all its connections (HTTP
   * members included); a join past it is refused with `too_many_subscriptions`. @default 100
   */
  maxTopicsPerMember?: number;
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

/** Another node's share of a member, kept until that node stops proving it is alive. */
interface RemoteShare {
  readonly node: string;
  entry: ReplicatedMember;
  expiresAt: number;
}

/** One topic's members, watchers and changes not yet sent. */
class TopicPresence {
  /** Members with connections on this node. */
  readonly members = new Map<string, MemberState>();
  /** Members' shares on other nodes (cluster mode), by member then node. */
  readonly remote = new Map<string, Map<string, RemoteShare>>();
  /** The latest change applied per `node member`, so a late one never undoes a newer one. */
  readonly seqs = new Map<string, number>();
  /** Following the topic on the replica: resolves once the other nodes' shares are merged. */
  followed: Promise<void> | undefined;
  readonly watchers = new Set<PresenceWatcher>();
  connections = 0;
  /** Members changed since the last flush; true when the change includes a join. */
  pending = new Map<string, boolean>();
  lastFlush = -Infinity;
  timer: NodeJS.Timeout | undefined;

  /** Changed members whose change was made here (their share goes to the replica). */
  localPending = new Set<string>();
  /** Occupancy last reported to `onOccupancy`, and whether this flush's changes include one made here. */
  reportedOccupied = false;
  localChange = false;

  constructor(readonly topic: string) {}

  has(member: string): boolean {
    return this.members.has(member) || this.remote.has(member);
  }

  /** Every member present on any node. */
  ids(): Set<string> {
    return new Set([...this.members.keys(), ...this.remote.keys()]);
  }

  get occupancy(): Occupancy {
    let connections = this.connections;
    for (const shares of this.remote.values()) for (const s of shares.values()) connections += s.entry.connections;
    return { members: this.remote.size === 0 ? this.members.size : this.ids().size, connections };
  }

  get idle(): boolean {
    return this.members.size === 0 && this.watchers.size === 0 && this.timer === undefined;
  }

  /** A member as watchers see it: this node's connections merged with the other nodes' shares. */
  view(id: string): PresenceMember | null {
    const m = this.members.get(id);
    const shares = this.remote.get(id);
    if (!m && !shares) return null;
    const devices = new Set<string>();
    let connections = 0;
    let meta: Json = null;
    let joinedAt = Infinity;
    let latest = -Infinity;
    for (const s of shares?.values() ?? []) {
      connections += s.entry.connections;
      for (const d of s.entry.devices) devices.add(d);
      joinedAt = Math.min(joinedAt, s.entry.joinedAt);
      if (s.entry.joinedAt > latest) [latest, meta] = [s.entry.joinedAt, s.entry.meta];
    }
    if (m) {
      for (const c of m.connections.values()) if (c.device !== undefined) devices.add(c.device);
      connections += m.connections.size;
      joinedAt = Math.min(joinedAt, m.joinedAt);
      meta = m.meta;
    }
    return { id, meta, connections, devices: [...devices], joinedAt };
  }
}

/** This node's share of a member, for the replica. */
function share(m: MemberState): ReplicatedMember {
  const devices = new Set<string>();
  for (const c of m.connections.values()) if (c.device !== undefined) devices.add(c.device);
  return { meta: m.meta, connections: m.connections.size, devices: [...devices], joinedAt: m.joinedAt };
}

/**
 * Presence: who is on each topic, through which connections, and who is watching. A member joins
 * with its first connection and leaves with its last; a second tab is an update (connection count),
 * not a second member. Connections stay while they show signs of life (`touch`); one silent for
 * the TTL is swept, so a crashed client disappears without a close. A clean close leaves at once.
 *
 * Changes are coalesced per topic: the first change of a quiet topic is sent on the next tick,
 * later ones at most once per `flushMs`, each diff handed to the hub's fan-out, encoded once per
 * codec and shared by every watcher, WebSocket or SSE. A
 * thousand members joining within a second thus cost each watcher about ten messages, not a
 * thousand, and the node about 10·N instead of N².
 */
export class Presence {
  readonly #topics = new Map<string, TopicPresence>();
  /** Each connection's entries by topic: `touch` runs on every incoming frame, so no scans. */
  readonly #byConnection = new Map<string, Map<string, Connection>>();
  readonly #watching = new Map<PresenceWatcher, Set<string>>();
  /** How many topics each member is present on here: a join past the bound is refused. */
  readonly #topicsOf = new Map<string, number>();
  readonly #maxTopicsPerMember: number;
  readonly #store: PresenceStore;
  readonly #metrics: Metrics | undefined;
  readonly #ttlMs: number;
  readonly #flushMs: number;
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;
  readonly #replica: PresenceReplica | undefined;
  readonly #onTopic: PresenceOptions['onTopic'];
  readonly #onOccupancy: PresenceOptions['onOccupancy'];
  readonly #fanOut: PresenceFanOut;

  constructor(options: PresenceOptions) {
    this.#store = options.store;
    this.#fanOut = options.fanOut ?? directFanOut;
    this.#replica = options.replica;
    this.#onTopic = options.onTopic;
    this.#onOccupancy = options.onOccupancy;
    this.#replica?.onChange((c) => {
      const t = this.#topics.get(c.topic);
      if (t) this.#applyRemote(t, c);
    });
    this.#replica?.onResync((topic, read) => {
      const t = this.#topics.get(topic);
      if (!t) return;
      // What is held now; a change arriving while the read is under way is newer than it.
      const before = new Map<string, { member: string; node: string; seq: number | undefined }>();
      for (const [member, held] of t.remote)
        for (const node of held.keys())
          before.set(`${node} ${member}`, { member, node, seq: t.seqs.get(`${node} ${member}`) });
      void read.then(
        (shares) => {
          if (this.#topics.get(topic) !== t) return;
          const present = new Set(shares.map((c) => `${c.node} ${c.member}`));
          for (const [key, held] of before)
            if (!present.has(key) && t.seqs.get(key) === held.seq) this.#dropShare(t, held.member, held.node);
          for (const c of shares) this.#applyRemote(t, c);
        },
        () => {},
      );
    });
    this.#replica?.onNodeAlive((node) => {
      const expiresAt = this.#now() + this.#replica!.ttlMs;
      for (const t of this.#topics.values())
        for (const shares of t.remote.values()) {
          const s = shares.get(node);
          if (s) s.expiresAt = expiresAt;
        }
    });
    this.#replica?.onNodeGone((node) => {
      for (const t of this.#topics.values())
        for (const [member, shares] of t.remote) if (shares.has(node)) this.#dropShare(t, member, node);
    });
    this.#metrics = options.metrics;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#flushMs = options.flushMs ?? 100;
    this.#now = options.now ?? Date.now;
    this.#maxTopicsPerMember = options.maxTopicsPerMember ?? 100;
    this.#sweep = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, this.#ttlMs / 4)));
    this.#sweep.unref();
  }

  /** Occupancy of every topic with presence here (members on any node, and their connections). */
  *occupancies(): Generator<{ topic: string; members: number; connections: number }> {
    for (const t of this.#topics.values()) {
      const { members, connections } = t.occupancy;
      if (members > 0) yield { topic: t.topic, members, connections };
    }
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /**
   * Add connection `connectionId` of `member` to `topic` (again: refresh it and apply `meta`).
   * Returns the topic's state as the joiner should see it. Throws a `too_many_subscriptions`
   * refusal when the member is already present on `maxTopicsPerMember` other topics.
   */
  join(topic: string, member: string, connectionId: string, options: JoinOptions = {}): PresenceStateMessage {
    const held = this.#topicsOf.get(member) ?? 0;
    if (held >= this.#maxTopicsPerMember && !this.#topics.get(topic)?.members.has(member)) {
      throw new Refusal('too_many_subscriptions', `present on ${held} topics, the most one member may be`);
    }
    const t = this.#topic(topic);
    const now = this.#now();
    let m = t.members.get(member);
    const joined = !t.has(member);
    if (!m) {
      m = { id: member, meta: options.meta ?? null, joinedAt: now, connections: new Map() };
      t.members.set(member, m);
      this.#topicsOf.set(member, held + 1);
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
    if (joined || !existing || options.meta !== undefined) this.#changed(t, member, joined, true);
    return this.state(topic);
  }

  /** Replace a member's metadata. False when the member is not present. */
  update(topic: string, member: string, meta: Json): boolean {
    const t = this.#topics.get(topic);
    const m = t?.members.get(member);
    if (!t || !m) return false;
    m.meta = meta;
    this.#changed(t, member, false, true);
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

  /** Topics `connectionId` is present on or `watcher` watches. */
  heldBy(connectionId: string, watcher: PresenceWatcher): Set<string> {
    return new Set([...(this.#byConnection.get(connectionId)?.keys() ?? []), ...(this.#watching.get(watcher) ?? [])]);
  }

  /** End the connection's presence on `topic` (its join and its watch) and tell it `code`. */
  end(topic: string, connectionId: string, watcher: PresenceWatcher, code: ErrorCode): void {
    this.leave(topic, connectionId);
    this.unwatch(topic, watcher);
    watcher.presenceEnded(topic, code);
  }

  /**
   * `member` lost the right to `topic` (removed from its conversation): its connections on this
   * node leave at once (HTTP ones included), and the watches resting on its rights end, each
   * told `code`. Other nodes do the same when they hear of it.
   */
  revoke(topic: string, member: string, code: ErrorCode): void {
    const t = this.#topics.get(topic);
    if (!t) return;
    const m = t.members.get(member);
    for (const id of [...(m?.connections.keys() ?? [])]) this.leave(topic, id);
    for (const w of [...t.watchers]) {
      if (w.subject !== member) continue;
      this.unwatch(topic, w);
      w.presenceEnded(topic, code);
    }
  }

  /** Topics `watcher` watches (to bound them per connection). */
  watchedBy(watcher: PresenceWatcher): number {
    return this.#watching.get(watcher)?.size ?? 0;
  }

  /** The current members and occupancy of `topic`, as far as this node knows them now. */
  state(topic: string): PresenceStateMessage {
    const t = this.#topics.get(topic);
    return {
      type: 'presence.state',
      topic,
      members: t ? [...t.ids()].map((id) => t.view(id)!) : [],
      occupancy: t ? t.occupancy : { members: 0, connections: 0 },
    };
  }

  /**
   * Resolves once the other nodes' members of `topic` are merged in (at once on a single node).
   * Call before `watch`, so the state a watcher starts from already holds them.
   */
  async ready(topic: string): Promise<void> {
    await this.#topic(topic).followed;
  }

  /** The members of `topic` on every node, also when this node neither holds nor watches it. */
  async snapshot(topic: string): Promise<PresenceStateMessage> {
    if (this.#topics.has(topic) || !this.#replica) {
      await this.#topics.get(topic)?.followed;
      return this.state(topic);
    }
    const t = new TopicPresence(topic);
    for (const c of await this.#replica.read(topic)) this.#applyRemote(t, c, true);
    return { type: 'presence.state', topic, members: [...t.ids()].map((id) => t.view(id)!), occupancy: t.occupancy };
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
      for (const [member, shares] of t.remote)
        for (const s of shares.values()) if (s.expiresAt <= now) this.#dropShare(t, member, s.node);
      this.#release(t);
    }
  }

  close(): void {
    clearInterval(this.#sweep);
    for (const t of this.#topics.values()) clearTimeout(t.timer);
    this.#topics.clear();
    this.#topicsOf.clear();
  }

  #topic(topic: string): TopicPresence {
    let t = this.#topics.get(topic);
    if (!t) {
      this.#topics.set(topic, (t = new TopicPresence(topic)));
      this.#onTopic?.(topic, true);
      if (this.#replica) {
        const created = t;
        created.followed = this.#replica.follow(topic).then(
          (changes) => {
            if (this.#topics.get(topic) === created) for (const c of changes) this.#applyRemote(created, c);
          },
          // Without the replica this node shows its own members; the next follow tries again.
          () => {},
        );
      }
    }
    return t;
  }

  #release(t: TopicPresence): void {
    if (!t.idle) return;
    this.#topics.delete(t.topic);
    if (t.followed) this.#replica?.unfollow(t.topic);
    this.#onTopic?.(t.topic, false);
  }

  /** Merge another node's share of a member (`quiet`: building a one-off snapshot, tell no one). */
  #applyRemote(t: TopicPresence, c: ReplicaChange, quiet = false): void {
    const key = `${c.node} ${c.member}`;
    if ((t.seqs.get(key) ?? -1) >= c.seq) return;
    t.seqs.set(key, c.seq);
    const before = t.has(c.member);
    let shares = t.remote.get(c.member);
    if (c.entry) {
      if (!shares) t.remote.set(c.member, (shares = new Map()));
      const expiresAt = this.#now() + (this.#replica?.ttlMs ?? this.#ttlMs);
      shares.set(c.node, { node: c.node, entry: c.entry, expiresAt });
    } else if (shares?.delete(c.node) && shares.size === 0) t.remote.delete(c.member);
    if (!quiet) this.#changed(t, c.member, !before && t.has(c.member), false);
  }

  /** Another node's share is gone (that node closed or stopped proving it is alive). */
  #dropShare(t: TopicPresence, member: string, node: string): void {
    const shares = t.remote.get(member);
    if (!shares?.delete(node)) return;
    if (shares.size === 0) t.remote.delete(member);
    this.#changed(t, member, false, false);
  }

  #removeConnection(t: TopicPresence, m: MemberState, connectionId: string): void {
    if (!m.connections.delete(connectionId)) return;
    t.connections--;
    if (m.connections.size === 0) {
      t.members.delete(m.id);
      const held = (this.#topicsOf.get(m.id) ?? 1) - 1;
      if (held > 0) this.#topicsOf.set(m.id, held);
      else this.#topicsOf.delete(m.id);
      if (!t.has(m.id)) this.#store.left(t.topic, m.id, m.meta, this.#now());
    }
    this.#changed(t, m.id, false, true);
  }

  #changed(t: TopicPresence, member: string, joined: boolean, local: boolean): void {
    t.pending.set(member, joined || t.pending.get(member) === true);
    if (local) t.localChange = true;
    if (local && this.#replica) t.localPending.add(member);
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
    for (const id of t.localPending) {
      const m = t.members.get(id);
      this.#replica?.publish(t.topic, id, m ? share(m) : null);
    }
    t.localPending.clear();
    const members = t.occupancy.members;
    if (members > 0 !== t.reportedOccupied) {
      t.reportedOccupied = members > 0;
      if (t.localChange || !this.#replica) this.#onOccupancy?.(t.topic, members > 0, members);
    }
    t.localChange = false;
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
        const m = t.view(id);
        // A member who joined and left within one interval is reported as left: a watcher that
        // took its snapshot in between must hear of the leave; others ignore an unknown leave.
        if (!m) diff.leaves.push({ id, lastSeen: now } satisfies PresenceLeft);
        else (joined ? diff.joins : diff.updates).push(m);
      }
      const sent = this.#fanOut(t.watchers, diff);
      this.#metrics?.presenceMessages.inc(sent);
    }
    this.#release(t);
  }
}
