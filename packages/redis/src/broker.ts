import type { Redis } from 'ioredis';
import type { Json, Position, SignalKind } from '@inloop/protocol';
import {
  boundsFor,
  IdempotencyConflictError,
  payloadDigest,
  UnbornEpochs,
  type AppendInput,
  type AppendResult,
  type Broker,
  type BrokerOptions,
  type EphemeralPublication,
  type HistoryPage,
  type Publication,
  type StoredPublication,
} from '@inloop/server/ports';
import { guarded, isCluster, Keys } from './connection.js';
import { appendJobEvent, defineJobEvents, type JobEventsOptions } from './job-events.js';
import { RunIds } from './run-ids.js';
import { defineScript } from './script.js';

/**
 * Trim a topic's stream to the publications younger than `cutoff`: look at the head, and only
 * when it is too old, at up to 64 more (each append trims what it can; none scans the stream).
 * Returns the time of the head left (nil when none is, or when more may be too old).
 */
export const TRIM_AGE = `
-- An integer as text. Lua writes a number it concatenates with '%.14g', and Redis one passed to
-- redis.call with '%.17g': floating-point formatting, 300-400 ns for a time in ms, where this
-- takes 180 (Redis 7.0's Lua, 200,000 of each). Numbers read from Redis stay as the text read
-- where they are written back unchanged.
local function int(n) return string.format('%d', n) end
local function field(entry, name)
  local f = entry[2]
  for j = 1, #f, 2 do if f[j] == name then return f[j + 1] end end
end
local function trimAge(log, cutoff)
  local head = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
  if #head == 0 then return nil end
  local t = tonumber(field(head[1], 't'))
  if t >= cutoff then return t end
  head = redis.call('XRANGE', log, '-', '+', 'COUNT', 64)
  for i = 1, #head do
    t = tonumber(field(head[i], 't'))
    if t >= cutoff then
      redis.call('XTRIM', log, 'MINID', head[i][1])
      return t
    end
  end
  local n = tonumber(string.match(head[#head][1], '^(%d+)'))
  redis.call('XTRIM', log, 'MINID', (n + 1) .. '-0')
  return nil
end
-- A topic without its meta lost its history (FLUSHALL, a restart without persistence, eviction):
-- it starts over under a new epoch, with none of the old entries. A topic last written under
-- another Redis process (a restart, a failover to a replica) may have lost its latest writes: it
-- keeps what is there but moves to a new epoch, so no resuming client takes a rollback for a
-- position it already has.
-- A topic's keys expire when nothing was appended for its maximum age (its history would be
-- empty by then anyway): finished jobs and idle topics leave nothing behind. A read of a topic
-- without meta (maxAge 0) writes nothing: it reports the fresh epoch, which this node also hands
-- to the topic's first append.
local function epochOf(meta, log, fresh, run, maxAge)
  local held = redis.call('HMGET', meta, 'epoch', 'run')
  if held[1] and held[2] == run then return held[1] end
  if not held[1] then
    if maxAge == 0 then return fresh end
    redis.call('DEL', log)
    redis.call('HSET', meta, 'epoch', fresh, 'run', run)
    redis.call('PEXPIRE', meta, maxAge)
    return fresh
  end
  redis.call('HSET', meta, 'epoch', fresh, 'run', run)
  return fresh
end
-- Append a publication: its offset, entry, trims, expiries and the meta in a few commands. The
-- meta also holds 'h', the time of the oldest entry or earlier (the stream is trimmed by age
-- only once that is too old, not on every append), and 'x', when the topic's keys expire by
-- the node's clock: they are given maxAge and a 64th more, again only when an append would
-- outlive that, so a busy topic's keys are not expired anew on every append. 'nowText' and
-- 'maxCount' come as the caller's arguments (text), 'maxAge' as a number. Returns epoch, offset
-- and ts, the last two as text; or, with an idempotency key 'idem' seen under this epoch,
-- 'seen', its offset, digest and epoch (nothing written). 'step': an id the entry also carries
-- ('s'), for a job's step to know itself if its call comes again (see job-events.ts); nil for a
-- publication. 'ended': what a job's last step did in the queue, kept on the entry too ('n') for
-- the same reason; nil for others. 'unborn': the topic is known to have nothing stored (a new
-- job's: its id is new, and no one knows it before this step answers), so nothing is read or
-- cleared. Were ids ever known earlier (chosen by clients), a watch made before it would have
-- its epoch replaced: its watchers told their state is stale.
local function appendAt(meta, log, fresh, run, nowText, maxCount, maxAge, payload, idem, step, unborn, ended)
  local now = tonumber(nowText)
  local held = {}
  if not unborn then held = redis.call('HMGET', meta, 'epoch', 'run', 'last', 'ts', 'h', 'x') end
  local epoch, set = held[1], {}
  if not epoch then
    if not unborn then redis.call('DEL', log) end
    held = {}
  end
  if not epoch or held[2] ~= run then
    epoch = fresh
    set = {'epoch', fresh, 'run', run}
  end
  if idem then
    local seen = redis.call('GET', idem)
    if seen then
      local offset, digest, seenEpoch, expires = string.match(seen, '^(%d+) (%S+) (%S+) (%d+)$')
      if seenEpoch == epoch and tonumber(expires) > now then return 'seen', offset, digest, epoch end
    end
  end
  local offset = int((tonumber(held[3]) or 0) + 1)
  local ts = held[4]
  if not ts or now > tonumber(ts) then ts = nowText end
  if ended then
    redis.call('XADD', log, 'MAXLEN', maxCount, offset .. '-0', 'p', payload, 't', ts, 's', step, 'n', ended)
  elseif step then
    redis.call('XADD', log, 'MAXLEN', maxCount, offset .. '-0', 'p', payload, 't', ts, 's', step)
  else
    redis.call('XADD', log, 'MAXLEN', maxCount, offset .. '-0', 'p', payload, 't', ts)
  end
  local n = #set
  set[n + 1], set[n + 2], set[n + 3], set[n + 4] = 'last', offset, 'ts', ts
  local head, headText = tonumber(held[5]), held[5]
  -- A meta without 'last' was made by a read or a watch, with the stream deleted: this is its first.
  if not held[3] then head, headText = tonumber(ts), ts end
  if not head or head < now - maxAge then
    set[#set + 1], set[#set + 2] = 'h', int(trimAge(log, now - maxAge) or 0)
  elseif not held[5] then
    set[#set + 1], set[#set + 2] = 'h', headText
  end
  local x, ttl = tonumber(held[6]), nil
  if not x or x < now + maxAge then
    ttl = int(maxAge + math.floor(maxAge / 64))
    set[#set + 1], set[#set + 2] = 'x', int(now + ttl)
  end
  redis.call('HSET', meta, unpack(set))
  -- After the HSET: a meta written just now has no expiry to keep yet.
  if ttl then
    redis.call('PEXPIRE', log, ttl)
    redis.call('PEXPIRE', meta, ttl)
  end
  return epoch, offset, ts
end
`;

/**
 * KEYS: meta, log, idempotency key. ARGV: payload, now, maxCount, maxAgeMs, idempotency TTL
 * ('' for none), digest, fresh epoch, channel, Redis run id. The append, the trims and the PUBLISH run as one
 * script, so every node hears a topic's publications in offset order.
 */
const APPEND = `${TRIM_AGE}
local idem = nil
if ARGV[5] ~= '' then idem = KEYS[3] end
local now = tonumber(ARGV[2])
local epoch, offset, ts, seenEpoch = appendAt(KEYS[1], KEYS[2], ARGV[7], ARGV[9], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[1], idem)
if epoch == 'seen' then return {'seen', offset, ts, seenEpoch} end
if idem then
  local ttl = tonumber(ARGV[5])
  redis.call('SET', idem, offset .. ' ' .. ARGV[6] .. ' ' .. epoch .. ' ' .. (now + ttl), 'PX', ttl)
end
redis.call('PUBLISH', ARGV[8], '{"o":' .. offset .. ',"e":"' .. epoch .. '","t":' .. ts .. ',"p":' .. ARGV[1] .. '}')
return {'new', offset, epoch, ts}
`;

/** KEYS: meta, log. ARGV: after, limit, now, maxAgeMs, fresh epoch, Redis run id. Writes nothing new. */
const HISTORY = `${TRIM_AGE}
local meta, log = KEYS[1], KEYS[2]
local epoch = epochOf(meta, log, ARGV[5], ARGV[6], 0)
trimAge(log, tonumber(ARGV[3]) - tonumber(ARGV[4]))
local last = tonumber(redis.call('HGET', meta, 'last') or '0')
local earliest = last + 1
local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if #first > 0 then earliest = tonumber(string.match(first[1][1], '^(%d+)')) end
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', log, (tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[2]))
end
return {epoch, tostring(last), tostring(earliest), entries}
`;

/**
 * KEYS: meta, log. ARGV: fresh epoch, Redis run id, TTL of a new meta. Used when a node watches
 * a topic: a topic without meta gets one for a short while, so every node's subscribers agree on
 * the epoch its first append will take.
 */
const POSITION = `${TRIM_AGE}
local epoch = epochOf(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return {epoch, redis.call('HGET', KEYS[1], 'last') or '0'}
`;

/** How long the meta a watch writes for a topic that has none lives, unless an append comes. */
const WATCHED_TOPIC_TTL_MS = 3_600_000;

type StreamEntry = [id: string, fields: string[]];
interface Payload {
  topic: string;
  data: Json;
  from: string;
}
/** A message on a topic's channel: stored (`o`, `e`) or ephemeral (`k` for signals). */
interface Wire {
  o?: number;
  e?: string;
  t: number;
  k?: SignalKind;
  p: Payload;
}

/** Per watched topic: the last position handed to the hub, and what waits behind a repair. */
interface Watch {
  epoch: string;
  offset: number;
  /** Messages that arrived before the watch knew its position, or during a repair. */
  queue: Wire[] | null;
  refs: number;
  /** Settles when the watch's SUBSCRIBE and position are done (see `watch`). */
  ready: Promise<void>;
}

function entryToPublication(topic: string, epoch: string, [id, fields]: StreamEntry): StoredPublication {
  let payload = '';
  let ts = 0;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'p') payload = fields[i + 1]!;
    else if (fields[i] === 't') ts = Number(fields[i + 1]);
  }
  const p = JSON.parse(payload) as Payload;
  return { topic, epoch, offset: Number.parseInt(id, 10), data: p.data, from: p.from, ts };
}

/**
 * Topics in Redis: each topic's history is a stream whose entry ids are its offsets, next to a
 * hash holding its epoch and last offset. An append is one script (offset, entry, trims,
 * idempotency key, PUBLISH), so it is atomic, ordered, and on every node's channel in order.
 *
 * Each node subscribes to the channels of the topics it watches and remembers the last offset
 * it handed over. A jump in offsets (a message lost while its connection to Redis was down) is
 * repaired from the stream before anything later is handed over; a reconnect checks every
 * watched topic the same way. If the epoch changed, Redis lost the history: the hub hears the
 * new epoch and subscribers are told their state is stale.
 */
export class RedisBroker implements Broker {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #keys: Keys;
  readonly #opts: Required<Omit<BrokerOptions, 'scheduler'>>;
  readonly #watches = new Map<string, Watch>();
  readonly #channels = new Map<string, string>();
  /** Epochs of topics without meta, as read here: the first append from here takes the same. */
  readonly #unborn = new UnbornEpochs();
  #handler: (p: Publication) => void = () => {};
  #closed = false;
  readonly #jobs: JobEventsOptions | undefined;
  /** With `jobs`, a job's event and its record are written in one step (see `job-events.ts`). */
  readonly savesJobs: boolean;
  /** On one server a job's first event also inserts it; on a Redis Cluster its sets are in other slots. */
  readonly insertsJobs: boolean;
  /** With Inloop's queue on one server, a job's first step also queues it (`job-events.ts`). */
  readonly queuesNewJobs: boolean;
  /** The run ids of the Redis processes: a new one means a restart or a failover (see `epochOf`). */
  readonly #runs: RunIds;

  constructor(options: BrokerOptions & { redis: Redis; subscriber: Redis; keys: Keys; jobs?: JobEventsOptions }) {
    this.#redis = options.redis;
    this.#jobs = options.jobs;
    this.savesJobs = options.jobs !== undefined;
    this.insertsJobs = this.savesJobs && !isCluster(options.redis);
    this.queuesNewJobs = this.insertsJobs && options.jobs?.queueNewJobs === true;
    if (options.jobs) defineJobEvents(options.redis);
    this.#sub = options.subscriber;
    this.#keys = options.keys;
    this.#opts = { now: Date.now, retention: [], ...options };
    defineScript(this.#redis, 'inloopAppend', APPEND, 3);
    defineScript(this.#redis, 'inloopHistory', HISTORY, 2);
    defineScript(this.#redis, 'inloopPosition', POSITION, 2);
    this.#sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    this.#runs = new RunIds(this.#redis);
    // After a reconnect: whatever was published while away is missing. Subscribe again first
    // (and wait for it), so that what is published after the look at the stream comes over the
    // channel; then look.
    this.#sub.on('ready', () => {
      const channels = [...this.#channels.keys()];
      if (channels.length === 0) return;
      void this.#sub.subscribe(...channels).then(
        () => {
          for (const topic of this.#watches.keys()) void this.#repair(topic);
        },
        () => {},
      );
    });
  }

  async appendAndPublish(topic: string, input: AppendInput): Promise<AppendResult> {
    const now = this.#opts.now();
    const { maxCount, maxAgeMs } = boundsFor(this.#opts, topic);
    if (input.job && this.#jobs) {
      const run = this.#runs.now() ?? (await this.#runOf(topic));
      const result = await appendJobEvent(this.#redis, this.#keys, this.#jobs, topic, input.job, {
        data: input.data,
        from: input.from,
        now,
        maxCount,
        maxAgeMs,
        freshEpoch: this.#unborn.epochOf(topic),
        run,
        insert: input.newJob === true && this.insertsJobs,
        queue: input.newJob === true && input.queueJob === true && this.queuesNewJobs,
        ...(input.endJob && this.queuesNewJobs
          ? { end: { token: input.endJob.token, leaseMs: input.endJob.leaseMs, take: input.endJob.takeNext } }
          : {}),
      });
      this.#unborn.born(topic);
      return result;
    }
    const payload = JSON.stringify({ topic, data: input.data, from: input.from });
    const key = input.idempotencyKey;
    const digest = key === undefined ? '' : payloadDigest(input.data);
    const run = await this.#runOf(topic);
    const reply = (await guarded(() =>
      (this.#redis as unknown as Scripts).inloopAppend(
        this.#keys.topicMeta(topic),
        this.#keys.topicLog(topic),
        this.#keys.topicIdempotency(topic, key ?? ''),
        payload,
        now,
        maxCount,
        maxAgeMs,
        key === undefined ? '' : this.#opts.idempotencyTtlMs,
        digest,
        this.#unborn.epochOf(topic),
        this.#keys.topicChannel(topic),
        run,
      ),
    )) as [string, string, string, string];
    this.#unborn.born(topic);
    if (reply[0] === 'seen') {
      const [, offset, seenDigest, epoch] = reply;
      if (seenDigest !== digest) throw new IdempotencyConflictError();
      const page = await this.history(topic, Number(offset) - 1, 1);
      const stored = page.publications.find((p) => p.offset === Number(offset));
      const publication = stored ?? {
        topic,
        epoch,
        offset: Number(offset),
        data: input.data,
        from: input.from,
        ts: now,
      };
      return { publication, duplicate: true };
    }
    const [, offset, epoch, ts] = reply;
    return {
      publication: { topic, epoch, offset: Number(offset), data: input.data, from: input.from, ts: Number(ts) },
      duplicate: false,
    };
  }

  /** The run id of the Redis process holding `topic` (on a cluster, the master of its slot). */
  #runOf(topic: string): Promise<string> {
    return guarded(() => this.#runs.of(this.#keys.topicMeta(topic)));
  }

  async publishEphemeral(publication: EphemeralPublication): Promise<void> {
    const wire: Wire = {
      t: publication.ts,
      p: { topic: publication.topic, data: publication.data, from: publication.from },
      ...(publication.kind === undefined ? {} : { k: publication.kind }),
    };
    await guarded(() => this.#redis.publish(this.#keys.topicChannel(publication.topic), JSON.stringify(wire)));
  }

  async history(topic: string, after: number, limit: number): Promise<HistoryPage> {
    const { maxAgeMs } = boundsFor(this.#opts, topic);
    const run = await this.#runOf(topic);
    const [epoch, latest, earliest, entries] = (await guarded(() =>
      (this.#redis as unknown as Scripts).inloopHistory(
        this.#keys.topicMeta(topic),
        this.#keys.topicLog(topic),
        Math.max(0, after),
        limit,
        this.#opts.now(),
        maxAgeMs,
        this.#unborn.epochOf(topic),
        run,
      ),
    )) as [string, string, string, StreamEntry[]];
    return {
      epoch,
      earliest: Number(earliest),
      latest: Number(latest),
      publications: entries.map((e) => entryToPublication(topic, epoch, e)),
    };
  }

  async position(topic: string): Promise<Position> {
    const run = await this.#runOf(topic);
    const [epoch, offset] = (await guarded(() =>
      (this.#redis as unknown as Scripts).inloopPosition(
        this.#keys.topicMeta(topic),
        this.#keys.topicLog(topic),
        this.#unborn.epochOf(topic),
        run,
        Math.min(boundsFor(this.#opts, topic).maxAgeMs, WATCHED_TOPIC_TTL_MS),
      ),
    )) as [string, string];
    this.#unborn.born(topic);
    return { epoch, offset: Number(offset) };
  }

  async watch(topic: string): Promise<void> {
    const existing = this.#watches.get(topic);
    if (existing) {
      // Resolved once the first watch's SUBSCRIBE landed (or failed, with it): a caller that reads
      // the topic's position next must not read it before, or an event stored in between would
      // reach neither.
      existing.refs++;
      return existing.ready;
    }
    const w: Watch = { epoch: '', offset: 0, queue: [], refs: 1, ready: Promise.resolve() };
    this.#watches.set(topic, w);
    const channel = this.#keys.topicChannel(topic);
    this.#channels.set(channel, topic);
    w.ready = (async () => {
      try {
        await guarded(() => this.#sub.subscribe(channel));
        // Subscribed first, then the position: whatever follows it arrives on the channel.
        const position = await this.position(topic);
        w.epoch = position.epoch;
        w.offset = position.offset;
      } catch (err) {
        if (this.#watches.get(topic) === w) {
          this.#watches.delete(topic);
          this.#channels.delete(channel);
          void this.#sub.unsubscribe(channel).catch(() => {});
        }
        throw err;
      }
      this.#drain(topic, w);
    })();
    // Every caller awaits it and handles its failure; this only keeps the shared promise from
    // being reported unhandled should one not (a rejected watch must never end the process).
    w.ready.catch(() => {});
    return w.ready;
  }

  async unwatch(topic: string): Promise<void> {
    const w = this.#watches.get(topic);
    if (!w || --w.refs > 0) return;
    this.#watches.delete(topic);
    const channel = this.#keys.topicChannel(topic);
    this.#channels.delete(channel);
    await this.#sub.unsubscribe(channel).catch(() => {});
  }

  onPublication(handler: (publication: Publication) => void): void {
    this.#handler = handler;
  }

  /** Every key of a topic expires by itself (see `epochOf`): nothing to sweep. */
  sweep(): Promise<boolean> {
    return Promise.resolve(false);
  }

  ready(): Promise<boolean> {
    if (this.#redis.status !== 'ready' || this.#sub.status !== 'ready') return Promise.resolve(false);
    return this.#redis.ping().then(
      () => true,
      () => false,
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#watches.clear();
    return Promise.resolve();
  }

  #onMessage(channel: string, message: string): void {
    const topic = this.#channels.get(channel);
    const w = topic === undefined ? undefined : this.#watches.get(topic);
    if (!w || topic === undefined) return;
    let wire: Wire;
    try {
      wire = JSON.parse(message) as Wire;
    } catch {
      return;
    }
    if (w.queue) w.queue.push(wire);
    else this.#accept(topic, w, wire);
  }

  /** Hand over a message in order, or start a repair when offsets jumped. */
  #accept(topic: string, w: Watch, wire: Wire): void {
    if (wire.o === undefined) {
      this.#handler({
        topic,
        data: wire.p.data,
        from: wire.p.from,
        ts: wire.t,
        ...(wire.k === undefined ? {} : { kind: wire.k }),
      });
      return;
    }
    if (wire.e === w.epoch) {
      if (wire.o <= w.offset) return; // already handed over (seen during a repair)
      if (wire.o > w.offset + 1) {
        w.queue = [wire];
        void this.#repair(topic);
        return;
      }
    }
    // The next offset, or a new epoch: Redis lost the history and the topic started over.
    w.epoch = wire.e!;
    w.offset = wire.o;
    this.#handler({ topic, epoch: wire.e!, offset: wire.o, data: wire.p.data, from: wire.p.from, ts: wire.t });
  }

  #drain(topic: string, w: Watch): void {
    while (w.queue && w.queue.length > 0 && this.#watches.get(topic) === w) {
      const queued = w.queue;
      w.queue = null;
      for (let i = 0; i < queued.length; i++) {
        this.#accept(topic, w, queued[i]!);
        if (w.queue) {
          // A repair started: keep the rest behind it.
          (w.queue as Wire[]).push(...queued.slice(i + 1));
          return;
        }
      }
    }
    if (w.queue?.length === 0) w.queue = null;
  }

  /** Fetch what this node missed of `topic` from the stream, then hand over what waited. */
  async #repair(topic: string): Promise<void> {
    const w = this.#watches.get(topic);
    if (!w || this.#closed) return;
    w.queue ??= [];
    for (let attempt = 0; !this.#closed && this.#watches.get(topic) === w; attempt++) {
      try {
        for (;;) {
          const page = await this.history(topic, w.offset, 500);
          if (page.epoch !== w.epoch) {
            // Redis lost (or may have lost) history and the topic moved to a new epoch. Hand over
            // what the new epoch holds past our position (all of it when its offsets started
            // over); subscribers are told their state is stale when its first publication reaches them.
            w.epoch = page.epoch;
            if (w.offset > page.latest) w.offset = 0;
            continue;
          }
          for (const p of page.publications) {
            if (p.offset <= w.offset) continue;
            w.offset = p.offset;
            this.#handler(p);
          }
          if (page.publications.length === 0 || w.offset >= page.latest) {
            // Offsets trimmed away before we could read them cannot be repaired: skip them.
            if (w.offset < page.latest) w.offset = page.latest;
            break;
          }
        }
        break;
      } catch {
        // Redis is away: try again shortly; the connection's own reconnect will also bring us back.
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
    this.#drain(topic, w);
  }
}

interface Scripts {
  inloopAppend(...args: (string | number)[]): Promise<unknown>;
  inloopHistory(...args: (string | number)[]): Promise<unknown>;
  inloopPosition(...args: (string | number)[]): Promise<unknown>;
}
