import type { Redis } from 'ioredis';
import type { PresenceReplica, ReplicaChange, ReplicatedMember } from '@inloop/server/ports';
import type { Keys } from './connection.js';

/** A change on a topic's presence channel: node, member, entry (null: gone), sequence. */
interface WireChange {
  n: string;
  m: string;
  e: ReplicatedMember | null;
  s: number;
}
/** On the nodes channel: a node proves it is alive, or says it is gone. */
interface WireNode {
  n: string;
  gone?: true;
}
type Stored = ReplicatedMember & { s: number };

/**
 * Presence across nodes through Redis. Each node writes its share of each member into the
 * topic's hash (field `node member`) and publishes the change on the topic's channel; followers
 * subscribe to that channel. A node proves it is alive with a key that expires after the TTL and
 * a beat on the nodes channel every third of it: a crashed node stops beating, and followers drop
 * its shares within the TTL. After losing Redis for a while a node announces all its shares again.
 */
export class RedisPresenceReplica implements PresenceReplica {
  readonly ttlMs: number;
  /** This node's own shares, to announce again after a reconnect and to remove on close. */
  readonly #mine = new Map<string, Map<string, ReplicatedMember>>();
  /** Shares whose last change could not be written (Redis away): written again on reconnect. */
  readonly #unwritten = new Map<string, Set<string>>();
  readonly #following = new Map<string, number>();
  readonly #channels = new Map<string, string>();
  readonly #beat: NodeJS.Timeout;
  /** Starts from the clock, so a node restarted under the same id still moves forward. */
  #seq = Date.now() * 1000;
  #onChange: (c: ReplicaChange) => void = () => {};
  #onResync: (topic: string, shares: Promise<ReplicaChange[]>) => void = () => {};
  #onAlive: (node: string) => void = () => {};
  #onGone: (node: string) => void = () => {};
  #closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly sub: Redis,
    private readonly keys: Keys,
    private readonly node: string,
    ttlMs: number,
  ) {
    this.ttlMs = ttlMs;
    sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    // Back from a lost link: subscribe again (and wait for it), then read every followed topic
    // whole, since changes published meanwhile were missed.
    let subFirst = sub.status !== 'ready';
    sub.on('ready', () => {
      if (subFirst) return void (subFirst = false);
      const channels = [keys.nodesChannel, ...this.#channels.keys()];
      void sub.subscribe(...channels).then(
        () => {
          for (const topic of this.#following.keys()) this.#onResync(topic, this.#readPatiently(topic));
        },
        () => {},
      );
    });
    void sub.subscribe(keys.nodesChannel).catch(() => {});
    this.#beat = setInterval(() => this.#announceAlive(), Math.max(100, ttlMs / 3));
    this.#beat.unref();
    this.#announceAlive();
    // Changes made while Redis was away were lost: announce every share again, and the end of
    // those that ended meanwhile.
    let first = redis.status !== 'ready';
    redis.on('ready', () => {
      if (first) return void (first = false);
      const unwritten = [...this.#unwritten].flatMap(([topic, members]) =>
        [...members].map((m) => [topic, m] as const),
      );
      this.#unwritten.clear();
      for (const [topic, member] of unwritten)
        if (!this.#mine.get(topic)?.has(member)) this.#write(topic, member, null);
      for (const [topic, members] of this.#mine)
        for (const [member, entry] of members) this.#write(topic, member, entry);
    });
  }

  publish(topic: string, member: string, entry: ReplicatedMember | null): void {
    let members = this.#mine.get(topic);
    if (entry) {
      if (!members) this.#mine.set(topic, (members = new Map()));
      members.set(member, entry);
    } else if (members?.delete(member) && members.size === 0) this.#mine.delete(topic);
    this.#write(topic, member, entry);
  }

  #write(topic: string, member: string, entry: ReplicatedMember | null): void {
    if (this.#closed) return;
    const s = ++this.#seq;
    const field = `${this.node} ${member}`;
    const wire: WireChange = { n: this.node, m: member, e: entry, s };
    const multi = this.redis.multi();
    if (entry) multi.hset(this.keys.presence(topic), field, JSON.stringify({ ...entry, s }));
    else multi.hdel(this.keys.presence(topic), field);
    multi.publish(this.keys.presenceChannel(topic), JSON.stringify(wire));
    void multi.exec().catch(() => {
      let members = this.#unwritten.get(topic);
      if (!members) this.#unwritten.set(topic, (members = new Set()));
      members.add(member);
    });
  }

  async follow(topic: string): Promise<ReplicaChange[]> {
    const count = this.#following.get(topic) ?? 0;
    this.#following.set(topic, count + 1);
    if (count === 0) {
      const channel = this.keys.presenceChannel(topic);
      this.#channels.set(channel, topic);
      await this.sub.subscribe(channel);
    }
    return this.read(topic);
  }

  unfollow(topic: string): void {
    const count = this.#following.get(topic) ?? 0;
    if (count > 1) return void this.#following.set(topic, count - 1);
    this.#following.delete(topic);
    const channel = this.keys.presenceChannel(topic);
    this.#channels.delete(channel);
    void this.sub.unsubscribe(channel).catch(() => {});
  }

  async read(topic: string): Promise<ReplicaChange[]> {
    const all = await this.redis.hgetall(this.keys.presence(topic));
    const changes: ReplicaChange[] = [];
    for (const [field, text] of Object.entries(all)) {
      const space = field.indexOf(' ');
      const node = field.slice(0, space);
      if (node === this.node) continue;
      const { s, ...entry } = JSON.parse(text) as Stored;
      changes.push({ topic, node, member: field.slice(space + 1), entry, seq: s });
    }
    const nodes = [...new Set(changes.map((c) => c.node))];
    if (nodes.length === 0) return [];
    const alive = await this.redis.mget(nodes.map((n) => this.keys.nodeAlive(n)));
    const dead = new Set(nodes.filter((_, i) => alive[i] === null));
    if (dead.size > 0) {
      // Shares left behind by nodes that died: clean them up for everyone.
      const stale = changes.filter((c) => dead.has(c.node)).map((c) => `${c.node} ${c.member}`);
      void this.redis.hdel(this.keys.presence(topic), ...stale).catch(() => {});
    }
    return changes.filter((c) => !dead.has(c.node));
  }

  onChange(handler: (change: ReplicaChange) => void): void {
    this.#onChange = handler;
  }

  onResync(handler: (topic: string, shares: Promise<ReplicaChange[]>) => void): void {
    this.#onResync = handler;
  }

  /** Read a topic's shares, retrying while the command connection is still coming back. */
  async #readPatiently(topic: string): Promise<ReplicaChange[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.read(topic);
      } catch (err) {
        if (attempt >= 60 || this.#closed || !this.#following.has(topic)) throw err;
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
  }

  onNodeAlive(handler: (node: string) => void): void {
    this.#onAlive = handler;
  }

  onNodeGone(handler: (node: string) => void): void {
    this.#onGone = handler;
  }

  async close(): Promise<void> {
    clearInterval(this.#beat);
    this.#closed = true;
    // One command per topic, not one MULTI: on a Redis Cluster the topics' hashes live in
    // different slots, and a transaction may only touch one. The others drop what is left when
    // this node's key expires.
    const calls: Promise<unknown>[] = [];
    for (const [topic, members] of this.#mine) {
      const fields = [...members.keys()].map((member) => `${this.node} ${member}`);
      if (fields.length > 0) calls.push(this.redis.hdel(this.keys.presence(topic), ...fields));
    }
    calls.push(this.redis.del(this.keys.nodeAlive(this.node)));
    calls.push(
      this.redis.publish(this.keys.nodesChannel, JSON.stringify({ n: this.node, gone: true } satisfies WireNode)),
    );
    await Promise.all(calls.map((call) => call.catch(() => {})));
  }

  #announceAlive(): void {
    if (this.#closed) return;
    void this.redis
      .multi()
      .set(this.keys.nodeAlive(this.node), '1', 'PX', this.ttlMs)
      .publish(this.keys.nodesChannel, JSON.stringify({ n: this.node } satisfies WireNode))
      .exec()
      .catch(() => {});
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.keys.nodesChannel) {
      const wire = JSON.parse(message) as WireNode;
      if (wire.n === this.node) return;
      if (wire.gone) this.#onGone(wire.n);
      else this.#onAlive(wire.n);
      return;
    }
    const topic = this.#channels.get(channel);
    if (topic === undefined) return;
    const wire = JSON.parse(message) as WireChange;
    if (wire.n === this.node) return;
    this.#onChange({ topic, node: wire.n, member: wire.m, entry: wire.e, seq: wire.s });
  }
}
