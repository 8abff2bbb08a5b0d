import { createHash } from 'node:crypto';
import { Command, type Cluster, type Redis } from 'ioredis';
import { isCluster } from './connection.js';

interface Script {
  lua: string;
  sha: string;
}

/**
 * The scripts defined on one connection (a Redis, or a Cluster and its masters), and whether
 * every server it sends to is known to hold them all (loaded with `SCRIPT LOAD` since the
 * connection was last (re)made; scripts loaded so are never evicted, unlike those sent by EVAL
 * on Redis 7.4 and later). Until then a script goes as `EVAL`, its whole text. Callers count on
 * the order of what they send on one connection (a job's add before its removal, say), so a
 * script answered NOSCRIPT fails (it did not run) rather than going again whole after the
 * commands sent meanwhile; the connection then sends scripts whole until they are loaded again.
 */
class Scripts {
  readonly #redis: Redis;
  /** Each script's call by its name, taking its arguments as an array (see `runScript`). */
  readonly calls = new Map<string, (args: (string | number)[]) => Promise<unknown>>();
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

  /** A Cluster's replicas: SCRIPT LOAD is not replicated, and a replica promoted should hold them. */
  #replicas(): Redis[] {
    return isCluster(this.#redis) ? (this.#redis as unknown as Cluster).nodes('slave') : [];
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

  async run(script: Script, args: (string | number)[], direct: boolean): Promise<unknown> {
    if (!this.#loaded) return this.#send(direct, 'eval', script.lua, args);
    try {
      return await this.#send(direct, 'evalsha', script.sha, args);
    } catch (err) {
      // The server lost them (SCRIPT FLUSH, a restart whose reconnection resent this call, a
      // master that took over before this connection saw it): the script did not run. It fails
      // rather than going again whole, which would run it after what was sent since (a caller
      // treats it as any failed write). Whole scripts from now until all are loaded again.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) this.#unload();
      throw err;
    }
  }

  /**
   * `direct`: written to the socket now, outside the connection's auto-pipeline (which writes at
   * `setImmediate`, with the rest of the turn's calls), as one buffer built from the arguments
   * ({@link EncodedCommand}); one server only.
   */
  #send(direct: boolean, command: 'eval' | 'evalsha', script: string, args: (string | number)[]): Promise<unknown> {
    // A connection given a `keyPrefix` (by whoever made it) goes the stock way, which adds it.
    if (!direct || isCluster(this.#redis) || this.#redis.options.keyPrefix)
      return this.#redis[command](script, ...(args as [number]));
    return this.#redis.sendCommand(new EncodedCommand(command, script, args)) as Promise<unknown>;
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
    const load = (to: Redis[]) => to.flatMap((s) => [...this.#all.values()].map((x) => s.script('LOAD', x.lua)));
    // Best effort on replicas: a failover that NOSCRIPT reveals costs the calls in flight.
    void Promise.all(load(this.#replicas())).catch(() => {});
    try {
      await Promise.all(load(servers));
    } catch {
      // Whole scripts meanwhile; tried again in a second while the connection is up.
      if (epoch === this.#epoch) setTimeout(() => epoch === this.#epoch && this.#unload(), 1000).unref();
      return;
    }
    if (epoch !== this.#epoch) return;
    this.#loaded = true;
    this.#loadedOn = on;
  }
}

/**
 * A command whose wire form (RESP) is written once into one buffer of its exact size, and sent as
 * is (ioredis's own subclasses override `toWritable` too). ioredis's `Command` copies its
 * arguments twice (a spread, `flat`) and builds the wire form as a string by appending four
 * strings per argument, which the socket then encodes again; for a call carrying a hundred job
 * steps (2,600 arguments, about 120 KB) that was 5.5 µs a step against 4.1 for one string joined
 * in one pass (a micro-benchmark, 2026-12-03), and the buffer took node CPU per job from 157 to
 * 149 µs against that joined string, with far less garbage (20,000 jobs, Redis on its own core,
 * medians of four alternating pairs). Its `args` stay empty: ioredis reads them only for a key
 * prefix (such a connection is not sent these), a Cluster's slot (nor a Cluster) and to describe
 * a failed command (`err.command` names the script's call without its arguments).
 */
class EncodedCommand extends Command {
  readonly #wire: Buffer;

  constructor(name: 'eval' | 'evalsha', script: string, args: readonly (string | number)[]) {
    super(name, [], { replyEncoding: 'utf8' });
    const count = args.length + 2;
    const texts: string[] = new Array<string>(count);
    const bytes: number[] = new Array<number>(count);
    texts[0] = name;
    texts[1] = script;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      // As ioredis writes them: a missing argument as empty.
      texts[i + 2] = typeof arg === 'string' ? arg : arg == null ? '' : String(arg);
    }
    let size = 1 + digits(count) + 2;
    for (let i = 0; i < count; i++) {
      const n = Buffer.byteLength(texts[i]!);
      bytes[i] = n;
      size += 1 + digits(n) + 2 + n + 2;
    }
    const wire = Buffer.allocUnsafe(size);
    wire[0] = 42; // '*'
    let at = writeCount(wire, 1, count);
    for (let i = 0; i < count; i++) {
      const n = bytes[i]!;
      const text = texts[i]!;
      wire[at++] = 36; // '$'
      at = writeCount(wire, at, n);
      // A string whose UTF-8 is as long as it is holds only ASCII: written as Latin-1, faster.
      at += wire.write(text, at, n, n === text.length ? 'latin1' : 'utf8');
      wire[at++] = 13;
      wire[at++] = 10;
    }
    this.#wire = wire;
  }

  override toWritable(): Buffer {
    return this.#wire;
  }
}

/** Decimal digits of a non-negative integer. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Write `n` in decimal and CRLF at `at`; returns the position after them. */
function writeCount(wire: Buffer, at: number, n: number): number {
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--) {
    wire[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  wire[end] = 13;
  wire[end + 1] = 10;
  return end + 2;
}

const registry = new WeakMap<Redis, Scripts>();

/**
 * Give `redis` a method `name` that runs the Lua script `lua`: by its SHA1 (`EVALSHA`) once every
 * server holds it, whole (`EVAL`) until then (see {@link Scripts}). With `numberOfKeys`, the
 * method takes the keys then the arguments; without, that number comes first. `direct`: each
 * call is written at once, not with the turn's other calls (see `job-events.ts` for why); it may
 * reach Redis before any call made earlier through the auto-pipeline that is not written yet:
 * one made earlier in the same turn, or in an earlier turn while the connection's last pipeline
 * awaits its reply (ioredis runs one at a time). So only for calls that need nothing sent
 * earlier without being awaited: a job's step is asked for once the job's last change was
 * answered, and a save that a step is fenced at is awaited first (`reconcile` in the server's
 * `recovery.ts`). Keeping them behind pending pipelines instead would cost what they gain: the
 * connection almost always has one in flight (20,000 jobs, Redis on its own core, 2026-12-03:
 * 5,835 jobs/s direct, 4,730 behind pipelines, medians of four and two runs).
 *
 * What ioredis's `defineCommand` does, without its cost on an auto-pipelined connection: ioredis
 * builds a pipeline for every event-loop turn that sends a command, and copies each defined
 * command onto it (two properties per script, thirty scripts here), which on the cluster bench's
 * jobs was about 4 % of a node's CPU, plus the garbage.
 */
export function defineScript(
  redis: Redis,
  name: string,
  lua: string,
  numberOfKeys?: number,
  options: { direct?: boolean } = {},
): void {
  let scripts = registry.get(redis);
  if (!scripts) registry.set(redis, (scripts = new Scripts(redis)));
  const script = scripts.define(name, lua);
  const defined = scripts;
  const direct = options.direct === true;
  const call =
    numberOfKeys === undefined
      ? (args: (string | number)[]) => defined.run(script, args, direct)
      : (args: (string | number)[]) => defined.run(script, [numberOfKeys, ...args], direct);
  defined.calls.set(name, call);
  const run = (...args: (string | number)[]) => call(args);
  Object.defineProperty(redis, name, { value: run, configurable: true, writable: true });
}

/**
 * Run the script `redis` was given as `name` ({@link defineScript}) with `args` as they are, not
 * spread into a call: a call carrying a hundred job steps has 2,700 arguments.
 */
export function runScript(redis: Redis, name: string, args: (string | number)[]): Promise<unknown> {
  const call = registry.get(redis)?.calls.get(name);
  if (call === undefined) throw new Error(`no script ${name} is defined on this connection`);
  return call(args);
}
