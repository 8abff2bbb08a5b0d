import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Json } from '@inloop/protocol';
import { isTerminal } from '@inloop/protocol';
import { Refusal, type AppendResult, type JobRecord } from '@inloop/server';
import { TRIM_AGE } from './broker.js';
import { guarded, isCluster, type Keys } from './connection.js';
import { QUEUE_FINISH } from './job-line.js';
import { JobConflictError, RECORD_AT, recordAtPosition, recordHead, unindexFinished } from './job-record.js';
import { defineScript, runScript } from './script.js';

/** What the broker needs to save job records with their events. */
export interface JobEventsOptions {
  /** How long a finished job's record is kept (the job store's `finishedTtlMs`). */
  finishedTtlMs: () => number;
  /**
   * Jobs wait in Inloop's own queue (`RedisJobQueue`): on one server a new job's first step can
   * put it in its type's line and announce the type (when the service asks, as the queue is that
   * one), instead of leaving it in the outbox for an add.
   */
  queueNewJobs?: boolean;
}

/**
 * One step of a job. Its call's own keys and arguments come first, shared by every step it
 * carries: KEYS the node-wide unfinished set, outbox and listing (on a Redis Cluster, the record
 * again: those live in other slots, and a finished job leaves them after the step, see
 * `unindexFinished`); ARGV how many steps, the Redis run id, the jobs' announcement channel and
 * a finished record's TTL. Then the step's own: KEYS topic meta, topic log, record (one hash
 * tag, `{t:job:<id>}`), the job's streams-opened marker (the same tag), then the five keys of
 * the job's type in Inloop's queue (`RedisJobQueue`, in its order: states, line, delayed,
 * leases, arrivals; the record again when the step neither queues nor ends the job there).
 * ARGV: payload, now, maxCount, maxAgeMs, fresh epoch, channel, the record as it will be saved
 * (at the position the step should take, see below), expected epoch,
 * expected offset, id, '1' when the job finished (else ''), '1' for a new job (else ''), its
 * creation time, the job's type, the step's id, then for a finished job to take out of the
 * queue 'end', or 'take' to also take the next for the same worker (else ''), the token that
 * holds it and the next one's lease in ms (the queue's `finish`).
 *
 * Refused (nothing written) unless the stored record is still where the change read it: that
 * check is the fence (a stale lease or a change from another node since). A step whose own event
 * is already right after the position it expected is answered as landed instead: it ran
 * already, and this is the same call sent again (ioredis resends a call whose reply a dropped
 * connection lost), though the job may have changed since. Its own: the event's entry carries
 * the step's id (a field 's' beside the payload), made once per step by the node, so that no
 * other writer's event is mistaken for it, however alike (two leases of one job made in the same
 * millisecond from one read carry the same state). A new job's first
 * event (one server only) instead finds no record, and indexes the job as the store's insert
 * does: in the unfinished set and the listing, and either in its type's line in Inloop's queue,
 * announced on the jobs' channel (once per type per call), or in the outbox (until the queue has
 * it). Then the event is
 * appended like any publication (the broker's own `appendAt`: built when defined, as the two
 * modules import each other), the record saved at the event's offset (a finished one with its
 * expiry, out of the unfinished set and the outbox), and the event PUBLISHed while any connection
 * subscribes to its channel (always, on a Redis Cluster; six commands for most events).
 * A finished job's step also answers whether a stream of the job was ever opened (the marker).
 *
 * Written as `step(k, a)`, a function of where its own keys and arguments start (`KEYS[k + 1]`,
 * `ARGV[a + 1]`), so that one call can carry the steps of many jobs (`JOB_EVENTS`), each sending
 * what they share once (a third of the strings a step was sent, and the longest one, the run id).
 */
const STEP = () => `${TRIM_AGE}${RECORD_AT}${QUEUE_FINISH}
local announced = {}
-- The step ran before: its reply was lost with the connection, and the client sent the call again
-- on reconnecting. Its event is the one right after the position the step expected (the first,
-- for a new job), and carries the step's id: answered as the first run was, though the job may
-- have changed since (another node leased or changed it before the call came again; the caller's
-- next change is fenced as any other).
local function landed(meta, log, expectedOffset, id, terminal, marker)
  local offset = expectedOffset + 1
  local entry = redis.call('XRANGE', log, offset .. '-0', offset .. '-0')[1]
  if not entry or field(entry, 's') ~= id then return nil end
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then return nil end
  local streams = ''
  if terminal then streams = tostring(redis.call('EXISTS', marker)) end
  return {'new', tostring(offset), epoch, field(entry, 't'), streams, field(entry, 'n') or ''}
end
local function step(k, a)
  local unfinished, outbox, listing = KEYS[1], KEYS[2], KEYS[3]
  local meta, log, record, marker = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  -- The queue's helpers work on this job's type.
  Q[1], Q[2], Q[3], Q[4], Q[5] = KEYS[k + 5], KEYS[k + 6], KEYS[k + 7], KEYS[k + 8], KEYS[k + 9]
  local payload, id, stepId = ARGV[a + 1], ARGV[a + 10], ARGV[a + 15]
  local finished, new = ARGV[a + 11] == '1', ARGV[a + 12] == '1'
  if new then
    if redis.call('EXISTS', record) == 1 then return landed(meta, log, 0, stepId, false, nil) or {'conflict'} end
    -- In line (or in the outbox) before anything else is written: a step that failed halfway
    -- leaves an entry with no record, which a taker (or the outbox's flush) drops, never a
    -- record that nothing would queue.
    if Q[1] ~= record then
      join(id)
    else
      redis.call('ZADD', outbox, ARGV[a + 13], id)
    end
  else
    -- Where the change read it: the record ends with that position (its last two fields), read
    -- without copying the record into Lua. Else the whole record decides (one in an older layout).
    local tail = ',"epoch":"' .. ARGV[a + 8] .. '","lastOffset":' .. ARGV[a + 9] .. '}'
    if redis.call('GETRANGE', record, -#tail, -1) ~= tail then
      local stored = redis.call('GET', record)
      if not stored then return {'conflict'} end
      local _, storedEpoch, storedOffset = recordAt(stored)
      if storedEpoch ~= ARGV[a + 8] or storedOffset ~= tonumber(ARGV[a + 9]) then
        local expected = tonumber(ARGV[a + 9])
        return landed(meta, log, expected, stepId, finished, marker) or {'conflict'}
      end
    end
  end
  -- A finished job out of its queue, and the next taken ('t' and its id), none ('n'), or its
  -- token no longer holding it ('l'), as the queue's COMPLETE does. Before the event, which
  -- keeps it: a call sent again after a lost reply is answered with it (see landed), so the job
  -- taken for the worker is handed to it, not left held until its lease lapses.
  local ended = nil
  if ARGV[a + 16] ~= '' then
    local r = finish(id, ARGV[a + 17], tonumber(ARGV[a + 18]), ARGV[a + 16] == 'take')
    if r[1] == 'taken' then ended = 't' .. r[2] elseif r[1] == 'lost' then ended = 'l' else ended = 'n' end
  end
  local epoch, offset, ts = appendAt(meta, log, ARGV[a + 5], ARGV[2], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4]), payload, nil, stepId, new, ended)
  -- The record comes whole, at the position the event should take: the next offset under the
  -- epoch it was read at (a new job's: the fresh epoch's first). Another one (a new epoch after
  -- Redis restarted, an append to the job's topic by someone else) rewrites its tail: a copy of
  -- the record, which this spares the usual step (about a microsecond per step).
  local text = ARGV[a + 7]
  local wantEpoch, wantOffset = ARGV[a + 8], tonumber(ARGV[a + 9]) + 1
  if new then wantEpoch, wantOffset = ARGV[a + 5], 1 end
  if epoch ~= wantEpoch or tonumber(offset) ~= wantOffset then
    local cut = #',"epoch":"","lastOffset":}' + #wantEpoch + #int(wantOffset)
    text = string.sub(text, 1, #text - cut) .. ',"epoch":"' .. epoch .. '","lastOffset":' .. offset .. '}'
  end
  if finished then
    redis.call('SET', record, text, 'PX', ARGV[4])
    if unfinished ~= record then
      redis.call('SREM', unfinished, id)
      redis.call('ZREM', outbox, id)
    end
  else
    redis.call('SET', record, text)
  end
  if new then
    redis.call('SADD', unfinished, id)
    redis.call('ZADD', listing, 0, id)
    if Q[1] ~= record and not announced[ARGV[a + 14]] then
      announced[ARGV[a + 14]] = true
      redis.call('PUBLISH', ARGV[3], ARGV[a + 14])
    end
  end
  -- Published while a connection subscribes to the job's channel (a node watching the job, which
  -- subscribes before it reads the topic's position: an event this step adds before that is in
  -- what it reads). Most jobs nobody watches, and the message is a copy of the event. On a Redis
  -- Cluster (the call's keys are the record's) always: a subscriber there may be on another shard,
  -- and NUMSUB counts this one's.
  if unfinished == record or redis.call('PUBSUB', 'NUMSUB', ARGV[a + 6])[2] > 0 then
    redis.call('PUBLISH', ARGV[a + 6], '{"o":' .. offset .. ',"e":"' .. epoch .. '","t":' .. ts .. ',"p":' .. payload .. '}')
  end
  local streams = ''
  if finished then streams = tostring(redis.call('EXISTS', marker)) end
  return {'new', offset, epoch, ts, streams, ended or ''}
end
`;

/** Strings a step answers with in a call of many (`JOB_EVENTS`). */
const REPLY = 6;
/** Keys and arguments of one step, and those its call sends once for every step it carries. */
const STEP_KEYS = 9;
const STEP_ARGS = 18;
const CALL_KEYS = 3;
const CALL_ARGS = 4;

/**
 * Ids of this process's job steps: a random prefix, then a count. A call sent again carries the
 * same ones; no other step, here or on another node, has them.
 */
const STEP_ID_PREFIX = randomBytes(6).toString('base64url');
let stepCount = 0;

/** One job's step: the reply is `{'conflict'}` or `{'new', offset, epoch, ts, streams}`. */
const JOB_EVENT = () => `${STEP()}
return step(${CALL_KEYS}, ${CALL_ARGS})
`;

/**
 * The steps of several jobs in one call (one server only: their keys are in many hash slots):
 * the call's own keys and arguments (ARGV[1] is how many steps), then each step's in turn. The reply is five strings per
 * step, in order: `conflict`, or `new` and the four above, or `error` and its message. A step
 * that fails (a key of the wrong type, a write refused) is answered alone, as if it had been
 * called alone; the others are written.
 */
const JOB_EVENTS = () => `${STEP()}
local n = tonumber(ARGV[1])
local out = {}
for i = 0, n - 1 do
  local ok, r = pcall(step, ${CALL_KEYS} + i * ${STEP_KEYS}, ${CALL_ARGS} + i * ${STEP_ARGS})
  if not ok then
    if type(r) == 'table' then r = r.err end
    r = {'error', tostring(r)}
  end
  for j = 1, ${REPLY} do out[#out + 1] = r[j] or '' end
end
return out
`;

type StepReply = [string, string?, string?, string?, string?, string?];

interface Scripts {
  inloopJobEvent(...args: (string | number)[]): Promise<StepReply>;
}

export function defineJobEvents(redis: Redis): void {
  defineScript(redis, 'inloopJobEvent', JOB_EVENT(), CALL_KEYS + STEP_KEYS, { direct: true });
  defineScript(redis, 'inloopJobEvents', JOB_EVENTS(), undefined, { direct: true });
}

/** Most steps sent in one call: a call runs alone in Redis, so a long one delays every other. */
export const MAX_STEPS_PER_CALL = 100;

/**
 * Most characters of keys and arguments in one call. ioredis builds each command as one string,
 * and V8 refuses a string past about 512 M characters: a hundred steps of records with 6 MB
 * inputs each crossed it, and the throw, inside ioredis's automatic pipeline, ended the process.
 * A step larger than this goes alone, as each did before steps shared calls.
 */
export const MAX_CHARS_PER_CALL = 8 * 1024 * 1024;

/** What the steps of one call share: its own keys and arguments but the steps' count (see STEP). */
interface Shared {
  keys: [unfinished: string, outbox: string, listing: string];
  args: [run: string, jobsChannel: string, finishedTtl: number];
}

const sameShared = (a: Shared, b: Shared): boolean =>
  a.keys[0] === b.keys[0] &&
  a.keys[1] === b.keys[1] &&
  a.keys[2] === b.keys[2] &&
  a.args[0] === b.args[0] &&
  a.args[1] === b.args[1] &&
  a.args[2] === b.args[2];

interface PendingStep {
  keys: string[];
  args: (string | number)[];
  resolve(reply: StepReply): void;
  reject(err: unknown): void;
}

interface Batch {
  shared: Shared;
  steps: PendingStep[];
  chars: number;
  sent: boolean;
  /** Most steps it takes. */
  max: number;
}

/** Calls started this turn, per connection. */
const callsThisTurn = new WeakMap<Redis, number>();

/** Most steps in a turn's first call; each later call of the turn may take twice as many. */
export const FIRST_CALL_STEPS = 32;

/** The steps waiting to be sent, per connection. */
const pending = new WeakMap<Redis, Batch>();

/** Characters a step adds to its call (its strings; numbers are a few each). */
function charsOf(keys: readonly string[], args: readonly (string | number)[]): number {
  let n = 0;
  for (const k of keys) n += k.length;
  for (const a of args) n += typeof a === 'string' ? a.length : 24;
  return n;
}

/**
 * Run one job's step. On one server, the steps asked for in one go (everything a reply from Redis
 * sets off, before the node goes back to the event loop) share calls: a node running jobs at its
 * limit asks for dozens at a time (the queued, started and ended steps of many jobs), and one
 * call for many spares the work each call costs the node (ioredis's command, its promise, its
 * reply) and Redis (the call itself): calls on the wire per job fell from 5.2 to 2.3, and the
 * node's throughput rose about 8 % on the cluster bench.
 *
 * A call is written to the socket the moment it is full, outside ioredis's auto-pipeline (which
 * writes at `setImmediate`, with the turn's other calls), and the last one at
 * `process.nextTick`: the turn's first call takes {@link FIRST_CALL_STEPS} steps, each later one
 * up to twice the one before, to {@link MAX_STEPS_PER_CALL}. So Redis runs the first steps of a
 * turn while the node is still asking for the rest, where before the whole turn went as one call
 * at its end and the two took turns: with Redis on a core of its own each was idle about a third
 * of the time (`/proc/stat`; one call of 100 steps in flight at a time, 10-19 ms from send to
 * reply). 20,000 jobs through the library API, Redis on a core of its own (2026-12-03, medians of
 * three alternating pairs): 1,697 jobs/s before, 2,479 after. With Redis on the node's core, where
 * nothing can overlap, the rate moved within the noise (1,567 against 1,815 in four pairs on a
 * quiet machine, 1,585 against 1,491 in three on a busy one); a first call of 8 steps, doubling,
 * cost about 12 % there.
 *
 * A call holds at most {@link MAX_CHARS_PER_CALL} characters. On a Redis Cluster each step is its
 * own call (their keys are in many hash slots).
 */
function runStep(redis: Redis, shared: Shared, keys: string[], args: (string | number)[]): Promise<StepReply> {
  if (isCluster(redis))
    return guarded(() =>
      (redis as unknown as Scripts).inloopJobEvent(...shared.keys, ...keys, 1, ...shared.args, ...args),
    );
  const chars = charsOf(keys, args);
  const open = pending.get(redis);
  // A step that would take the open call past its size, or that shares less with it than its
  // steps do (a run id learned anew after a reconnect), sends it now and starts another.
  if (open !== undefined && (open.chars + chars > MAX_CHARS_PER_CALL || !sameShared(open.shared, shared)))
    send(redis, open);
  let batch = pending.get(redis);
  if (batch === undefined) {
    // The turn's calls grow: the first goes soon, so Redis works while the node asks for more.
    const calls = callsThisTurn.get(redis) ?? 0;
    if (calls === 0) process.nextTick(() => callsThisTurn.delete(redis));
    callsThisTurn.set(redis, calls + 1);
    const max = Math.min(MAX_STEPS_PER_CALL, FIRST_CALL_STEPS * 2 ** calls);
    const started: Batch = { shared, steps: [], chars: 0, sent: false, max };
    pending.set(redis, started);
    process.nextTick(() => send(redis, started));
    batch = started;
  }
  const current = batch;
  current.chars += chars;
  const reply = new Promise<StepReply>((resolve, reject) => current.steps.push({ keys, args, resolve, reject }));
  if (current.steps.length >= current.max || current.chars >= MAX_CHARS_PER_CALL) send(redis, current);
  return reply;
}

/** Send `batch`'s call now (once); the next step starts another. */
function send(redis: Redis, batch: Batch): void {
  if (pending.get(redis) === batch) pending.delete(redis);
  if (batch.sent) return;
  batch.sent = true;
  void sendSteps(redis, batch.shared, batch.steps);
}

async function sendSteps(redis: Redis, shared: Shared, steps: PendingStep[]): Promise<void> {
  const n = steps.length;
  // The keys' count, the call's keys, each step's; the steps' count, the call's arguments, each step's.
  const keyCount = CALL_KEYS + n * STEP_KEYS;
  const argv = new Array<string | number>(1 + keyCount + CALL_ARGS + n * STEP_ARGS);
  argv[0] = keyCount;
  for (let j = 0; j < CALL_KEYS; j++) argv[1 + j] = shared.keys[j]!;
  argv[1 + keyCount] = n;
  for (let j = 1; j < CALL_ARGS; j++) argv[1 + keyCount + j] = shared.args[j - 1]!;
  for (let i = 0; i < n; i++) {
    const { keys, args } = steps[i]!;
    const k = 1 + CALL_KEYS + i * STEP_KEYS;
    for (let j = 0; j < STEP_KEYS; j++) argv[k + j] = keys[j]!;
    const a = 1 + keyCount + CALL_ARGS + i * STEP_ARGS;
    for (let j = 0; j < STEP_ARGS; j++) argv[a + j] = args[j]!;
  }
  if (n === 1) {
    const [only] = steps as [PendingStep];
    // Defined with its keys' count.
    return guarded(() => runScript(redis, 'inloopJobEvent', argv.slice(1)) as Promise<StepReply>).then(
      only.resolve,
      only.reject,
    );
  }
  let reply: string[];
  try {
    reply = (await guarded(() => runScript(redis, 'inloopJobEvents', argv))) as string[];
  } catch (err) {
    for (const s of steps) s.reject(err);
    return;
  }
  if (!Array.isArray(reply) || reply.length !== steps.length * REPLY) {
    // Not what the script answers: no step can be told whether it landed.
    const err = new Refusal('unavailable', 'the Redis backend gave an unexpected reply to job steps');
    for (const s of steps) s.reject(err);
    return;
  }
  for (const [i, s] of steps.entries()) {
    const r = reply.slice(i * REPLY, (i + 1) * REPLY) as StepReply;
    if (r[0] === 'error')
      s.reject(new Refusal('unavailable', 'the Redis backend refused a job step', { cause: new Error(r[1]) }));
    else s.resolve(r[0] === 'new' ? r : ['conflict']);
  }
}

/**
 * Append `job`'s event and save `job` with it, in one step; throws {@link JobConflictError} when
 * fenced out. `insert`: the job is new and has no record yet (one server only, see JOB_EVENT);
 * `queue`: and it joins its type's line in Inloop's queue.
 */
export async function appendJobEvent(
  redis: Redis,
  keys: Keys,
  options: JobEventsOptions,
  topic: string,
  job: JobRecord,
  event: {
    data: Json;
    from: string;
    now: number;
    maxCount: number;
    maxAgeMs: number;
    freshEpoch: string;
    run: string;
    insert: boolean;
    /** With `insert`: also into its type's line in Inloop's queue, announced. */
    queue?: boolean;
    /**
     * A finished job: also out of Inloop's queue (one server), under `token` (see the queue's
     * `finish`), and with `take` the next waiting job taken under it for `leaseMs`.
     */
    end?: { token: string | null; leaseMs: number; take: boolean };
  },
): Promise<AppendResult> {
  const payload = JSON.stringify({ topic, data: event.data, from: event.from });
  const record = keys.job(job.id);
  const apart = isCluster(redis);
  const ending = event.end !== undefined && options.queueNewJobs === true && !apart;
  const queueing = event.insert && event.queue === true && options.queueNewJobs === true;
  const queue = queueing || ending ? keys.queue(job.type) : null;
  const head = recordHead(job);
  // The record as the step saves it when the event takes the position it should (see STEP).
  const expected = event.insert
    ? { epoch: event.freshEpoch, offset: 1 }
    : { epoch: job.epoch, offset: Number(job.lastOffset) + 1 };
  const text = recordAtPosition(head, expected.epoch, expected.offset);
  const finished = isTerminal(job.status);
  const reply = await runStep(
    redis,
    {
      keys: apart ? [record, record, record] : [keys.jobsUnfinished, keys.jobsOutbox, keys.jobsListing],
      args: [event.run, keys.jobsChannel, options.finishedTtlMs()],
    },
    [
      keys.topicMeta(topic),
      keys.topicLog(topic),
      record,
      keys.jobStreamsOpened(job.id),
      queue?.[0] ?? record,
      queue?.[1] ?? record,
      queue?.[2] ?? record,
      queue?.[3] ?? record,
      queue?.[4] ?? record,
    ],
    [
      payload,
      event.now,
      event.maxCount,
      event.maxAgeMs,
      event.freshEpoch,
      keys.topicChannel(topic),
      text,
      job.epoch,
      job.lastOffset,
      job.id,
      finished ? '1' : '',
      event.insert ? '1' : '',
      job.createdAt,
      job.type,
      STEP_ID_PREFIX + (stepCount++).toString(36),
      ending ? (event.end!.take ? 'take' : 'end') : '',
      event.end?.token ?? '',
      event.end?.leaseMs ?? 0,
    ],
  );
  if (reply[0] !== 'new') throw new JobConflictError();
  if (apart && finished) await unindexFinished(redis, keys, job.id);
  const [, offset, epoch, ts, streams, ended] = reply;
  return {
    publication: { topic, epoch: epoch!, offset: Number(offset), data: event.data, from: event.from, ts: Number(ts) },
    duplicate: false,
    ...(streams ? { streamsOpened: streams === '1' } : {}),
    // Out of the queue in the step: the next job taken, or none ('n'); its token lost ('l'), or a
    // step answered as landed from an entry that kept nothing (''), looked for none here.
    ...(ended === 'n' ? { nextJob: null } : ended?.startsWith('t') ? { nextJob: ended.slice(1) } : {}),
    ...(ending ? { endedInQueue: true } : {}),
    // What the step saved (see the script's `text`).
    record:
      epoch === expected.epoch && Number(offset) === expected.offset ? text : recordAtPosition(head, epoch!, offset!),
  };
}
