import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { isCluster } from './connection.js';

interface Script {
  lua: string;
  sha: string;
}

/**
 * The scripts defined on one connection (a Redis, or a Cluster and its masters), and whether
 * every server it sends to is known to hold them all (loaded with `SCRIPT LOAD` since the
 * connection was last (re)made; scripts loaded so are never evicted, unlike those sent by EVAL
 * on Redis 7.4 and later). Until then a script goes as `EVAL`, its whole text. Never `EVALSHA`
 * first and `EVAL` after a NOSCRIPT: the `EVAL` would go out after the commands sent meanwhile,
 * and callers count on the order of what they send on one connection (a job's add before its
 * removal, say).
 */
class Scripts {
  readonly #redis: Redis;
  readonly #all = new Map<string, Script>();
  #loaded = false;
  /** Bumped by anything that makes a load in flight stale (a new script, a reconnection). */
  #epoch = 0;
  #scheduled = false;
  /** The servers the last complete load covered ({@link #mastersNow}). */
  #loadedOn = '';

  constructor(redis: Redis) {
    this.#redis = redis;
    // A reconnection may reach a server without them (restarted, or a failover behind one
    // address): whole scripts from the moment a connection drops until they are loaded again.
    const watch = (connection: Redis) => {
      connection.on('close', () => {
        this.#epoch++;
        this.#loaded = false;
        this.#loadedOn = '';
      });
      connection.on('ready', () => this.#unload());
    };
    if (isCluster(redis)) {
      const cluster = redis as unknown as Cluster;
      // Each master's own connection, and the cluster's as a whole.
      for (const node of cluster.nodes()) watch(node);
      cluster.on('+node', watch);
      watch(redis);
      // A new master (added, or a replica promoted in a failover) has none of them yet.
      const check = () => {
        if (this.#mastersNow() !== this.#loadedOn) this.#unload();
      };
      for (const event of ['+node', '-node', 'refresh']) redis.on(event, check);
    } else {
      watch(redis);
    }
  }

  #masters(): Redis[] {
    return isCluster(this.#redis) ? (this.#redis as unknown as Cluster).nodes('master') : [this.#redis];
  }

  /** Which servers a load covers: on a Cluster, its masters' addresses. */
  #mastersNow(): string {
    return this.#masters()
      .map((s) => `${s.options.host}:${s.options.port}`)
      .sort()
      .join(' ');
  }

  define(name: string, lua: string): Script {
    const script = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    this.#all.set(name, script);
    this.#unload();
    return script;
  }

  async run(script: Script, args: (string | number)[]): Promise<unknown> {
    if (!this.#loaded) return this.#redis.eval(script.lua, ...(args as [number]));
    try {
      return await this.#redis.evalsha(script.sha, ...(args as [number]));
    } catch (err) {
      // Flushed from a live server (SCRIPT FLUSH), or a master that took over before this
      // connection saw it: the script did not run. Sent whole from now until all are loaded again.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      this.#unload();
      return this.#redis.eval(script.lua, ...(args as [number]));
    }
  }

  /** Send scripts whole until every server holds them all again; load them once per turn. */
  #unload(): void {
    this.#epoch++;
    this.#loaded = false;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#load();
    });
  }

  async #load(): Promise<void> {
    const epoch = this.#epoch;
    if (this.#redis.status !== 'ready') return; // 'ready' loads them
    const servers = this.#masters();
    const on = this.#mastersNow();
    if (servers.length === 0) return;
    try {
      await Promise.all(servers.flatMap((s) => [...this.#all.values()].map((x) => s.script('LOAD', x.lua))));
    } catch {
      return; // whole scripts until the next reconnection, topology change or NOSCRIPT
    }
    if (epoch !== this.#epoch) return;
    this.#loaded = true;
    this.#loadedOn = on;
  }
}

const registry = new WeakMap<Redis, Scripts>();

/**
 * Give `redis` a method `name` that runs the Lua script `lua`: by its SHA1 (`EVALSHA`) once every
 * server holds it, whole (`EVAL`) until then (see {@link Scripts}). With `numberOfKeys`, the
 * method takes the keys then the arguments; without, that number comes first.
 *
 * What ioredis's `defineCommand` does, without its cost on an auto-pipelined connection: ioredis
 * builds a pipeline for every event-loop turn that sends a command, and copies each defined
 * command onto it (two properties per script, thirty scripts here), which on the cluster bench's
 * jobs was about 4 % of a node's CPU, plus the garbage.
 */
export function defineScript(redis: Redis, name: string, lua: string, numberOfKeys?: number): void {
  let scripts = registry.get(redis);
  if (!scripts) registry.set(redis, (scripts = new Scripts(redis)));
  const script = scripts.define(name, lua);
  const defined = scripts;
  const run =
    numberOfKeys === undefined
      ? (...args: (string | number)[]) => defined.run(script, args)
      : (...args: (string | number)[]) => defined.run(script, [numberOfKeys, ...args]);
  Object.defineProperty(redis, name, { value: run, configurable: true, writable: true });
}
