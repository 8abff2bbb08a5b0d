import { Command, type Cluster, type Redis } from 'ioredis';
import { isCluster } from './connection.js';

/**
 * The run id of the Redis process that holds a key: what a topic's metadata is compared with
 * (`epochOf` in broker.ts), so a topic last written under another process (a restart, a failover
 * to a replica) moves to a new epoch.
 *
 * One server: its run id, learned on each (re)connect. A Redis Cluster: each master has its own,
 * so the run id is the one of the master serving the key's slot, asked of that master (`INFO`)
 * the first time a key of its slots is used and again after its connection closed (it may be
 * back as another process). A failover moves the slots to another master: that master's run id,
 * asked the same way.
 */
export class RunIds {
  readonly #redis: Redis;
  /** One server: its run id, and when it is known for the current connection. */
  #run = '';
  #known: Promise<void> = Promise.resolve();
  /** One server: whether {@link #run} is the current connection's (no `INFO` under way). */
  #settled = true;
  /** A cluster: per master (`host:port`), its run id as asked once. */
  readonly #byNode = new Map<string, Promise<string>>();

  constructor(redis: Redis) {
    this.#redis = redis;
    if (isCluster(redis)) {
      const cluster = redis as unknown as Cluster;
      const watch = (node: Redis) => node.on('close', () => this.#byNode.delete(nodeKey(node)));
      for (const node of cluster.nodes('all')) watch(node);
      cluster.on('+node', watch);
      cluster.on('-node', (node: Redis) => this.#byNode.delete(nodeKey(node)));
      return;
    }
    const learn = () => {
      this.#settled = false;
      const known = (this.#known = redis.info('server').then(
        (info) => void (this.#run = runIdIn(info)),
        () => {},
      ));
      void known.then(() => {
        if (this.#known === known) this.#settled = true;
      });
    };
    redis.on('ready', learn);
    if (redis.status === 'ready') learn();
  }

  /**
   * The run id of the process serving `key`. One server: '' when it could not be learned (every
   * topic then moves to a new epoch). A cluster: rejects while the key's master is not known or
   * does not answer.
   */
  /**
   * {@link of} without waiting, when it needs none (one server, its run id learned for this
   * connection): spares a step two promises. Else undefined.
   */
  now(): string | undefined {
    return this.#settled && !isCluster(this.#redis) ? this.#run : undefined;
  }

  async of(key: string): Promise<string> {
    if (!isCluster(this.#redis)) {
      await this.#known;
      return this.#run;
    }
    const cluster = this.#redis as unknown as Cluster;
    const slot = new Command('get', [key]).getSlot();
    const master = slot === null ? undefined : cluster.slots[slot]?.[0];
    let run = master === undefined ? undefined : this.#byNode.get(master);
    if (!run) {
      const find = () => cluster.nodes('all').find((n) => nodeKey(n) === master);
      let node = find();
      if (!node) {
        // ioredis drops a master's connection when it goes away, and opens one again only for a
        // command routed to its slots: send one (it fails harmlessly while the master is away).
        await cluster.exists(key).catch(() => {});
        node = find();
      }
      // Slots moving (a failover under way): fail the call (`unavailable`) rather than compare
      // the topic with a run id that is not its master's.
      if (!node || master === undefined) throw new Error(`no master known for slot ${slot}`);
      run = node.info('server').then(runIdIn);
      this.#byNode.set(master, run);
      // Not known (the master is unreachable): asked again next time.
      const asked = run;
      asked.catch(() => {
        if (this.#byNode.get(master) === asked) this.#byNode.delete(master);
      });
    }
    return run;
  }
}

function runIdIn(info: string): string {
  return /run_id:(\w+)/.exec(info)?.[1] ?? '';
}

/** A cluster node's key, as ioredis names it in its slot table. */
function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}
