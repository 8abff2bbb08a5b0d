import type {
  Json,
  LastSeen,
  Occupancy,
  PresenceDiffMessage,
  PresenceMember,
  PresenceStateMessage,
} from '@inloop/protocol';
import { Emitter } from './emitter.js';
import { InloopError } from './errors.js';
import type { ClientLink } from './link.js';

export interface PresenceOptions {
  /** Join as a member (true) or only watch who is here (false). @default true */
  join?: boolean;
  /** Metadata shown to others: name, avatar, status. At most 1 KiB of JSON. */
  meta?: Json;
  /** A device label (`web`, `ios` ...), shown in the member's `devices`. */
  device?: string;
}

export type PresenceEvents = {
  /** A member arrived (its first connection). */
  join: (member: PresenceMember) => void;
  /** A member's metadata or connections changed. */
  update: (member: PresenceMember) => void;
  /** A member left (its last connection went), with when it was last seen. */
  leave: (member: PresenceMember, lastSeen: number) => void;
  /** Anything changed: the current members and occupancy (and `stale`). */
  change: (members: ReadonlyMap<string, PresenceMember>, occupancy: Occupancy) => void;
  error: (error: InloopError) => void;
};

/**
 * Presence on one topic: who is here (`members`), how many (`occupancy`), and events as that
 * changes. It (re)joins on every connect; after a reconnect the fresh state is compared with the
 * old, so the app hears of exactly the joins and leaves it missed.
 */
export class PresenceChannel extends Emitter<PresenceEvents> {
  readonly members = new Map<string, PresenceMember>();
  occupancy: Occupancy = { members: 0, connections: 0 };
  /** When members who left were last seen (ms since the epoch), as heard while watching. */
  readonly lastSeen = new Map<string, number>();
  /**
   * True while the connection is lost: `members` is what was known when it dropped, and nobody
   * can say who is still here (the node may already have told the others that we left). Show
   * them as unknown, not online. Cleared by the fresh state after the reconnect.
   */
  stale = false;
  #meta: Json | undefined;
  #closed = false;
  readonly #unhook: () => void;
  readonly #unhookLost: () => void;
  /** How many `presence()` calls hold this channel; the last `leave()` leaves. */
  #holders = 1;
  #leaving: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;

  constructor(
    readonly topic: string,
    private readonly link: ClientLink,
    private readonly options: PresenceOptions,
    private readonly onClose: (channel: PresenceChannel) => void,
    private readonly leaveGraceMs = 0,
  ) {
    super();
    this.#meta = options.meta;
    this.#unhook = link.onConnected(() => void this.#sync());
    this.#unhookLost = link.onDisconnected(() => {
      if (this.#closed || this.stale) return;
      this.stale = true;
      this.emit('change', this.members, this.occupancy);
    });
  }

  /** Whether this client joined (as opposed to only watching). */
  get joined(): boolean {
    return this.options.join !== false;
  }

  /** Replace this member's metadata (e.g. `{ status: 'away' }`); kept for rejoins. */
  async update(meta: Json): Promise<void> {
    this.#meta = meta;
    await this.link.request({ type: 'presence.update', topic: this.topic, meta });
  }

  /** Members seen on the topic before, latest first (from the node, durable). */
  async recent(): Promise<LastSeen[]> {
    const reply = await this.link.http<{ recent: LastSeen[] }>(
      'GET',
      `/v1/topics/${encodeURIComponent(this.topic)}/presence`,
    );
    return reply.recent;
  }

  /** @internal Another `presence()` call on the topic shares this channel (and cancels a pending leave). */
  retain(): void {
    this.#holders++;
    if (!this.#leaving) return;
    clearTimeout(this.#leaving.timer);
    this.#leaving.resolve();
    this.#leaving = undefined;
  }

  /**
   * Leave (or stop watching), once per `presence()` call. The last holder's leave reaches the node
   * after the client's `presenceLeaveGraceMs`, unless the topic is joined again meanwhile (React's
   * StrictMode remount, a quick route change): then nobody sees a leave and a rejoin.
   */
  leave(): Promise<void> {
    if (this.#closed || this.#holders === 0) return Promise.resolve();
    if (--this.#holders > 0) return Promise.resolve();
    if (this.leaveGraceMs <= 0) return this.#leaveNow();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#leaving = undefined;
        void this.#leaveNow().then(resolve);
      }, this.leaveGraceMs);
      this.#leaving = { timer, resolve };
    });
  }

  async #leaveNow(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unhook();
    this.#unhookLost();
    this.onClose(this);
    await this.link
      .request({ type: this.joined ? 'presence.leave' : 'presence.unwatch', topic: this.topic })
      .catch(() => {});
  }

  async #sync(): Promise<void> {
    if (this.#closed) return;
    const frame = this.joined
      ? {
          type: 'presence.join' as const,
          topic: this.topic,
          ...(this.#meta === undefined ? {} : { meta: this.#meta }),
          ...(this.options.device === undefined ? {} : { device: this.options.device }),
        }
      : { type: 'presence.watch' as const, topic: this.topic };
    try {
      this.handleState(await this.link.request<PresenceStateMessage>(frame));
    } catch (err) {
      // A dropped connection retries on the next connect; a refusal is for the app. A refusal of
      // access (`forbidden`, `not_member`: say the member was removed while the connection was
      // down) ends the channel as `presence.ended` does, so the app's next `presence()` call on
      // the topic (once access is back) opens a fresh channel that joins at once.
      if (!(err instanceof InloopError) || err.code === 'unavailable') return;
      if (err.code === 'forbidden' || err.code === 'not_member') this.handleEnd(err);
      else this.emit('error', err);
    }
  }

  /** @internal The full state: reconcile with what we had. */
  handleState(state: PresenceStateMessage): void {
    if (this.#closed) return;
    const next = new Map(state.members.map((m) => [m.id, m]));
    const now = Date.now();
    for (const [id, old] of this.members) {
      if (next.has(id)) continue;
      this.members.delete(id);
      this.lastSeen.set(id, now);
      this.emit('leave', old, now);
    }
    for (const m of state.members) this.#put(m, this.members.has(m.id) ? 'update' : 'join');
    this.occupancy = state.occupancy;
    this.stale = !this.link.connected();
    this.emit('change', this.members, this.occupancy);
  }

  /** @internal A coalesced diff. Joins of known members count as updates; unknown leaves are ignored. */
  handleDiff(diff: PresenceDiffMessage): void {
    if (this.#closed) return;
    for (const m of diff.joins) this.#put(m, this.members.has(m.id) ? 'update' : 'join');
    for (const m of diff.updates) this.#put(m, this.members.has(m.id) ? 'update' : 'join');
    for (const left of diff.leaves) {
      const old = this.members.get(left.id);
      this.lastSeen.set(left.id, left.lastSeen);
      if (!old) continue;
      this.members.delete(left.id);
      this.emit('leave', old, left.lastSeen);
    }
    this.occupancy = diff.occupancy;
    this.emit('change', this.members, this.occupancy);
  }

  /**
   * @internal The node ended this presence (the connection lost the right to it): stop for good,
   * as `leave()` does, and report why.
   */
  handleEnd(error: InloopError): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#leaving) clearTimeout(this.#leaving.timer);
    this.#leaving?.resolve();
    this.#unhook();
    this.#unhookLost();
    this.onClose(this);
    this.emit('error', error);
  }

  #put(member: PresenceMember, event: 'join' | 'update'): void {
    this.members.set(member.id, member);
    this.lastSeen.delete(member.id);
    this.emit(event, member);
  }
}
