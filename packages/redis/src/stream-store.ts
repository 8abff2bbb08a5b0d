import type { Redis } from 'ioredis';
import { isStreamEndReason, type StreamEndReason } from '@inloop/protocol';
import {
  Refusal,
  type AppendLimits,
  type StreamRead,
  type StreamState,
  type StreamStore,
  type StreamStoreOptions,
} from '@inloop/server/ports';
import { guarded, type Keys } from './connection.js';
import { defineScript } from './script.js';

/**
 * KEYS: the owner's streams (hash: name -> "length last end[ writer]"), the stream's chunks (list
 * of "start:text"). ARGV: name, text, its length in UTF-16 code units, max chars, max streams,
 * chunk chars, ttl ms, writer ('' for none: the first append's writer owns the stream). Appends to the last chunk while it is below `chunk chars`, else starts
 * one: the list grows with the text, not with the appends. Lengths are UTF-16 code units,
 * counted by the node (Lua sees bytes).
 */
const APPEND = `
local st = redis.call('HGET', KEYS[1], ARGV[1])
local len, last, ended, writer = 0, 0, '-', ARGV[8]
if st then
  local l, s, e, w = string.match(st, '^(%d+) (%d+) (%S+) ?(.*)$')
  len, last, ended, writer = tonumber(l), tonumber(s), e, w
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return {'too_many_streams'}
end
if writer ~= ARGV[8] then return {'forbidden'} end
if ended ~= '-' then return {'ended', ended} end
local n = tonumber(ARGV[3])
if len + n > tonumber(ARGV[4]) then return {'too_long'} end
if last > 0 and last < tonumber(ARGV[6]) then
  redis.call('LSET', KEYS[2], -1, redis.call('LINDEX', KEYS[2], -1) .. ARGV[2])
  last = last + n
else
  redis.call('RPUSH', KEYS[2], len .. ':' .. ARGV[2])
  last = n
end
local state = (len + n) .. ' ' .. last .. ' -'
if writer ~= '' then state = state .. ' ' .. writer end
redis.call('HSET', KEYS[1], ARGV[1], state)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return {'ok', len, len + n}
`;

/** KEYS: the owner's streams, the stream's chunks. ARGV: name, reason, ttl ms. */
const END = `
local st = redis.call('HGET', KEYS[1], ARGV[1])
local len, last, ended, writer = 0, 0, '-', ''
if st then
  local l, s, e, w = string.match(st, '^(%d+) (%d+) (%S+) ?(.*)$')
  len, last, ended, writer = tonumber(l), tonumber(s), e, w
end
if ended ~= '-' then return {len, ended, 0} end
local state = len .. ' ' .. last .. ' ' .. ARGV[2]
if writer ~= '' then state = state .. ' ' .. writer end
redis.call('HSET', KEYS[1], ARGV[1], state)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return {len, ARGV[2], 1}
`;

/** KEYS: the owner's streams, the stream's chunks. ARGV: name. The state and every chunk, read together. */
const READ = `
local st = redis.call('HGET', KEYS[1], ARGV[1])
if not st then return false end
return {st, redis.call('LRANGE', KEYS[2], 0, -1)}
`;

/** Jobs this node remembers marking (see `RedisStreamStore.#markOpened`); past it, the oldest are forgotten. */
const MARKED_KEPT = 10_000;

type Commands = {
  inloopStreamAppend(...args: (string | number)[]): Promise<(string | number)[]>;
  inloopStreamEnd(...args: (string | number)[]): Promise<[number, string, number]>;
  inloopStreamRead(...args: string[]): Promise<[string, string[]] | null>;
};

/**
 * Streams in Redis, for a cluster: every append is one script that writes it into the stream's
 * last chunk before it is acknowledged, so a watcher on any node reads the same text, and a
 * stream of n characters is about n / chunkChars list entries whatever the number of appends.
 * An owner's streams share a hash tag (one slot). Retention is Redis's: keys expire a TTL after
 * their last change. A job's first stream is marked where its terminal step looks (the job's
 * slot): a job that never opened one ends without a look at its streams.
 */
export class RedisStreamStore implements StreamStore {
  readonly #chunkChars: number;
  readonly #jobTtlMs: number;
  readonly #ttlMs: number;
  /** Jobs whose streams-opened marker this node set, with when. */
  readonly #marked = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: StreamStoreOptions,
  ) {
    this.#chunkChars = options.chunkChars ?? 16_384;
    this.#jobTtlMs = options.jobTtlMs;
    this.#ttlMs = options.ttlMs;
    defineScript(redis, 'inloopStreamAppend', APPEND, 2);
    defineScript(redis, 'inloopStreamEnd', END, 2);
    defineScript(redis, 'inloopStreamRead', READ, 2);
  }

  get #cmd(): Commands {
    return this.redis as unknown as Commands;
  }

  #owner(owner: string): string {
    return `${this.keys.prefix}:{s:${owner}}:streams`;
  }

  #chunks(owner: string, name: string): string {
    return `${this.keys.prefix}:{s:${owner}}:chunks:${name}`;
  }

  #ttl(owner: string): number {
    return owner.startsWith('job:') ? this.#jobTtlMs : this.#ttlMs;
  }

  async append(owner: string, key: string, text: string, limits: AppendLimits): Promise<{ from: number; to: number }> {
    const name = nameOf(owner, key);
    if (owner.startsWith('job:')) await this.#markOpened(owner);
    const r = await guarded(() =>
      this.#cmd.inloopStreamAppend(
        this.#owner(owner),
        this.#chunks(owner, name),
        name,
        text,
        text.length,
        limits.maxChars,
        limits.maxStreamsPerOwner,
        this.#chunkChars,
        this.#ttl(owner),
        limits.writer ?? '',
      ),
    );
    if (r[0] === 'ok') return { from: Number(r[1]), to: Number(r[2]) };
    if (r[0] === 'forbidden') throw new Refusal('forbidden', 'another member writes this stream');
    if (r[0] === 'ended') throw new Refusal('stream_ended', `the stream ended ${String(r[1])}`);
    if (r[0] === 'too_long')
      throw new Refusal('stream_too_long', `a stream holds at most ${limits.maxChars} characters`);
    throw new Refusal('too_many_streams', `at most ${limits.maxStreamsPerOwner} streams`);
  }

  /**
   * Mark that `owner` (a job) opened a stream, before the append that may open it: a terminal
   * step (`JOB_EVENT`) that does not see the marker ran before this append started, so the
   * append raced its job's end (a look after the step could miss such an append too). Once per
   * job on each node that appends to it, and again past half the marker's TTL (the streams' own).
   */
  async #markOpened(owner: string): Promise<void> {
    const now = Date.now();
    const at = this.#marked.get(owner);
    if (at !== undefined && now - at < this.#jobTtlMs / 2) return;
    await guarded(() => this.redis.set(this.keys.jobStreamsOpened(owner.slice(4)), '1', 'PX', this.#jobTtlMs));
    this.#marked.delete(owner);
    this.#marked.set(owner, now);
    if (this.#marked.size > MARKED_KEPT) this.#marked.delete(this.#marked.keys().next().value!);
  }

  async end(owner: string, key: string, reason: StreamEndReason): Promise<StreamState & { changed: boolean }> {
    const name = nameOf(owner, key);
    const [length, end, changed] = await guarded(() =>
      this.#cmd.inloopStreamEnd(this.#owner(owner), this.#chunks(owner, name), name, reason, this.#ttl(owner)),
    );
    return { length: Number(length), end: end as StreamEndReason, changed: Number(changed) === 1 };
  }

  async read(key: string, from: number, maxChars: number): Promise<StreamRead | null> {
    const slash = key.indexOf('/');
    const owner = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const r = await guarded(() => this.#cmd.inloopStreamRead(this.#owner(owner), this.#chunks(owner, name), name));
    if (!r) return null;
    const [length, end, writer] = parseState(r[0]);
    const start = Math.min(Math.max(0, from), length);
    const to = Math.min(length, start + Math.max(0, maxChars));
    let text = '';
    for (const entry of r[1]) {
      const colon = entry.indexOf(':');
      const at = Number(entry.slice(0, colon));
      const chunk = entry.slice(colon + 1);
      if (at >= to) break;
      if (at + chunk.length <= start) continue;
      text += chunk.slice(Math.max(0, start - at), to - at);
    }
    return { from: start, to, text, length, end, writer };
  }

  async openStreams(owner: string): Promise<string[]> {
    const all = await guarded(() => this.redis.hgetall(this.#owner(owner)));
    return Object.entries(all)
      .filter(([, state]) => parseState(state)[1] === null)
      .map(([name]) => `${owner}/${name}`);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Redis expires streams by itself. */
  sweep(): Promise<boolean> {
    return Promise.resolve(false);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function nameOf(owner: string, key: string): string {
  return key.slice(owner.length + 1);
}

/** "length last end[ writer]" (the writer may hold spaces: it is the rest). */
function parseState(state: string): [number, StreamEndReason | null, string | null] {
  const [length, , end, ...writer] = state.split(' ');
  return [Number(length), isStreamEndReason(end) ? end : null, writer.length > 0 ? writer.join(' ') : null];
}
