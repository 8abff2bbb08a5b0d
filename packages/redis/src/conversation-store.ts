import type { Redis } from 'ioredis';
import type { ReceiptWatermarks } from '@inloop/protocol';
import {
  CONVERSATION_STORE_DEFAULTS,
  type ConversationRecord,
  type ConversationStore,
  type ConversationStoreOptions,
  type MemberRecord,
  type ReceiptTimes,
} from '@inloop/server/ports';
import { guarded, type Keys } from './connection.js';
import { defineScript } from './script.js';

/** KEYS: conversation, members. ARGV: record JSON, createdAt, members... */
const CREATE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
for i = 3, #ARGV do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[2]) end
return 1
`;

/** KEYS: members, watermarks, receipts of the member. ARGV: member. */
const REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
`;

/**
 * KEYS: members, watermarks, receipts of the member. ARGV: member, delivered, read, at, max
 * count, max age. Watermarks are "delivered deliveredAt read readAt"; a move is remembered in the
 * member's sorted set by offset, as "kind:offset:at", for per-message receipt times. Moves `max
 * count` offsets behind go (their messages are gone), and the set expires `max age` after the
 * member's last move.
 */
const ADVANCE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return false end
local cur = redis.call('HGET', KEYS[2], ARGV[1]) or '0 - 0 -'
local d, dAt, r, rAt = string.match(cur, '^(%d+) (%S+) (%d+) (%S+)$')
d, r = tonumber(d), tonumber(r)
local read = math.max(r, tonumber(ARGV[3]))
local delivered = math.max(d, tonumber(ARGV[2]), read)
local movedD, movedR = delivered > d, read > r
if movedD then
  dAt = ARGV[4]
  redis.call('ZADD', KEYS[3], delivered, 'delivered:' .. delivered .. ':' .. ARGV[4])
end
if movedR then
  rAt = ARGV[4]
  redis.call('ZADD', KEYS[3], read, 'read:' .. read .. ':' .. ARGV[4])
end
local next = delivered .. ' ' .. dAt .. ' ' .. read .. ' ' .. rAt
if movedD or movedR then
  redis.call('HSET', KEYS[2], ARGV[1], next)
  -- Delivered is the higher watermark: read moves that far behind are as gone as delivered ones.
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', delivered - tonumber(ARGV[5]))
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
return {next, movedD and 1 or 0, movedR and 1 or 0}
`;

function parseMarks(member: string, text: string | undefined): ReceiptWatermarks {
  if (!text) return { member, delivered: 0, deliveredAt: null, read: 0, readAt: null };
  const [d, dAt, r, rAt] = text.split(' ');
  return {
    member,
    delivered: Number(d),
    deliveredAt: dAt === '-' ? null : Number(dAt),
    read: Number(r),
    readAt: rAt === '-' ? null : Number(rAt),
  };
}

/**
 * Conversations in Redis: the record as JSON, members in a hash (member → joined at), each
 * member's watermarks in another, and each member's receipt moves in a sorted set by offset.
 * Every change is one script, so concurrent advances from different nodes resolve to the maximum.
 */
export class RedisConversationStore implements ConversationStore {
  readonly #maxCount: number;
  readonly #maxAgeMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: ConversationStoreOptions = {},
  ) {
    this.#maxCount = options.maxCount ?? CONVERSATION_STORE_DEFAULTS.maxCount;
    this.#maxAgeMs = options.maxAgeMs ?? CONVERSATION_STORE_DEFAULTS.maxAgeMs;
    defineScript(redis, 'inloopConvCreate', CREATE, 2);
    defineScript(redis, 'inloopConvRemove', REMOVE, 3);
    defineScript(redis, 'inloopConvAdvance', ADVANCE, 3);
  }

  #scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  async create(record: ConversationRecord, members: string[]): Promise<boolean> {
    const created = await guarded(() =>
      this.#scripts().inloopConvCreate(
        this.keys.conversation(record.id),
        this.keys.conversationMembers(record.id),
        JSON.stringify(record),
        record.createdAt,
        ...members,
      ),
    );
    return created === 1;
  }

  async get(id: string): Promise<ConversationRecord | null> {
    const text = await guarded(() => this.redis.get(this.keys.conversation(id)));
    return text ? (JSON.parse(text) as ConversationRecord) : null;
  }

  async members(id: string): Promise<MemberRecord[]> {
    const all = await guarded(() => this.redis.hgetall(this.keys.conversationMembers(id)));
    return Object.entries(all)
      .map(([member, at]) => ({ member, joinedAt: Number(at) }))
      .sort((a, b) => a.joinedAt - b.joinedAt || (a.member < b.member ? -1 : 1));
  }

  async isMember(id: string, member: string): Promise<boolean> {
    return (await guarded(() => this.redis.hexists(this.keys.conversationMembers(id), member))) === 1;
  }

  async addMember(id: string, member: string, at: number): Promise<void> {
    await guarded(() => this.redis.hsetnx(this.keys.conversationMembers(id), member, at));
  }

  async removeMember(id: string, member: string): Promise<boolean> {
    const removed = await guarded(() =>
      this.#scripts().inloopConvRemove(
        this.keys.conversationMembers(id),
        this.keys.conversationWatermarks(id),
        this.keys.conversationReceipts(id, member),
        member,
      ),
    );
    return removed === 1;
  }

  async watermarks(id: string): Promise<ReceiptWatermarks[]> {
    const [members, marks] = await guarded(() =>
      Promise.all([
        this.members(id),
        this.redis.hgetall(this.keys.conversationWatermarks(id)) as Promise<Record<string, string>>,
      ]),
    );
    return members.map((m) => parseMarks(m.member, marks[m.member]));
  }

  async advance(
    id: string,
    member: string,
    to: { delivered?: number; read?: number },
    at: number,
  ): Promise<{ watermarks: ReceiptWatermarks; moved: { delivered: boolean; read: boolean } }> {
    const reply = (await guarded(() =>
      this.#scripts().inloopConvAdvance(
        this.keys.conversationMembers(id),
        this.keys.conversationWatermarks(id),
        this.keys.conversationReceipts(id, member),
        member,
        to.delivered ?? 0,
        to.read ?? 0,
        at,
        this.#maxCount,
        this.#maxAgeMs,
      ),
    )) as [string, number, number] | null;
    if (!reply) return { watermarks: parseMarks(member, undefined), moved: { delivered: false, read: false } };
    return { watermarks: parseMarks(member, reply[0]), moved: { delivered: reply[1] === 1, read: reply[2] === 1 } };
  }

  async receiptTimes(id: string, offset: number): Promise<ReceiptTimes[]> {
    const members = await this.members(id);
    const pipeline = this.redis.pipeline();
    for (const m of members) {
      // Watermarks only rise, and times with them: the first move past `offset` is the earliest.
      pipeline.zrangebyscore(this.keys.conversationReceipts(id, m.member), offset, '+inf');
    }
    const replies = (await guarded(() => pipeline.exec())) ?? [];
    const times: ReceiptTimes[] = [];
    members.forEach((m, i) => {
      const moves = (replies[i]?.[1] as string[] | undefined) ?? [];
      let deliveredAt: number | null = null;
      let readAt: number | null = null;
      for (const move of moves) {
        const [kind, , when] = move.split(':');
        if (kind === 'delivered' && deliveredAt === null) deliveredAt = Number(when);
        if (kind === 'read' && readAt === null) readAt = Number(when);
      }
      if (deliveredAt !== null || readAt !== null) times.push({ member: m.member, deliveredAt, readAt });
    });
    return times;
  }

  /** Receipts are trimmed on write and expire with their key: nothing to sweep. */
  sweep(): Promise<boolean> {
    return Promise.resolve(false);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Scripts {
  inloopConvCreate(...args: (string | number)[]): Promise<unknown>;
  inloopConvRemove(...args: (string | number)[]): Promise<unknown>;
  inloopConvAdvance(...args: (string | number)[]): Promise<unknown>;
}
