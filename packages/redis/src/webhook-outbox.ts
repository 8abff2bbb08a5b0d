import type { Redis } from 'ioredis';
import type { OutboxEntry, WebhookOutbox } from '@inloop/server/ports';
import { guarded, type Keys } from './connection.js';
import { defineScript } from './script.js';

/** How long `due` hands an entry to the node that read it before another node may take it. */
const CLAIM_MS = 120_000;

/** KEYS: due (sorted set by due time), entries (hash). ARGV: now, limit, claim until. */
const DUE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local e = redis.call('HGET', KEYS[2], id)
  if e then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    table.insert(out, id)
    table.insert(out, e)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
table.insert(out, redis.call('ZCARD', KEYS[1]))
return out
`;

/** KEYS: due, entries. ARGV: id, entry JSON, due at. Keeps the first entry of an id. */
const ADD = `
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`;

interface Stored {
  type: string;
  body: string;
  createdAt: number;
}

type Scripts = Redis & {
  inloopOutboxDue(due: string, entries: string, now: number, limit: number, until: number): Promise<string[]>;
  inloopOutboxAdd(due: string, entries: string, id: string, entry: string, dueAt: number): Promise<number>;
};

/**
 * The webhook outbox in Redis, shared by every node of a cluster: per endpoint, a sorted set of
 * ids by due time, the entries and their attempt counts beside it (one hash slot per endpoint).
 * `due` claims what it returns (moves it `CLAIM_MS` ahead), so two nodes never send the same
 * entry at once, and a node that dies mid-delivery leaves its claims to expire and be taken by
 * another: what a node owed survives the node.
 */
export class RedisWebhookOutbox implements WebhookOutbox {
  readonly claims = true;
  readonly #pending = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    defineScript(redis, 'inloopOutboxDue', DUE, 2);
    defineScript(redis, 'inloopOutboxAdd', ADD, 2);
  }

  #k(endpoint: string): { due: string; entries: string; attempts: string } {
    const base = `${this.keys.prefix}:{w:${endpoint}}`;
    return { due: `${base}:due`, entries: `${base}:entries`, attempts: `${base}:attempts` };
  }

  async add(entries: readonly OutboxEntry[]): Promise<void> {
    const r = this.redis as Scripts;
    await guarded(() =>
      Promise.all(
        entries.map((e) => {
          const k = this.#k(e.endpoint);
          const stored: Stored = { type: e.type, body: e.body, createdAt: e.createdAt };
          return r.inloopOutboxAdd(k.due, k.entries, e.id, JSON.stringify(stored), e.dueAt);
        }),
      ),
    );
  }

  async due(endpoint: string, now: number, limit: number): Promise<OutboxEntry[]> {
    if (limit <= 0) return [];
    const k = this.#k(endpoint);
    const reply = await guarded(() =>
      (this.redis as Scripts).inloopOutboxDue(k.due, k.entries, now, limit, now + CLAIM_MS),
    );
    this.#pending.set(endpoint, Number(reply[reply.length - 1]));
    const ids: string[] = [];
    const stored: Stored[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      ids.push(reply[i]!);
      stored.push(JSON.parse(reply[i + 1]!) as Stored);
    }
    const attempts = ids.length ? await guarded(() => this.redis.hmget(k.attempts, ...ids)) : [];
    return ids.map((id, i) => ({
      endpoint,
      id,
      type: stored[i]!.type,
      body: stored[i]!.body,
      createdAt: stored[i]!.createdAt,
      attempts: Number(attempts[i] ?? 0),
      dueAt: now,
    }));
  }

  async nextDue(endpoint: string): Promise<number | null> {
    const first = await guarded(() => this.redis.zrange(this.#k(endpoint).due, 0, 0, 'WITHSCORES'));
    return first.length === 2 ? Number(first[1]) : null;
  }

  pending(endpoint: string): number {
    return this.#pending.get(endpoint) ?? 0;
  }

  async delivered(endpoint: string, id: string): Promise<void> {
    const k = this.#k(endpoint);
    await guarded(() => this.redis.multi().zrem(k.due, id).hdel(k.entries, id).hdel(k.attempts, id).exec());
  }

  async reschedule(endpoint: string, id: string, attempts: number, dueAt: number): Promise<void> {
    const k = this.#k(endpoint);
    // XX: an entry another node delivered meanwhile (its claim had expired) stays delivered.
    await guarded(() => this.redis.multi().hset(k.attempts, id, attempts).zadd(k.due, 'XX', dueAt, id).exec());
  }

  drop(endpoint: string, id: string): Promise<void> {
    return this.delivered(endpoint, id);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
