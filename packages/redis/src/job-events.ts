import type { Redis } from 'ioredis';
import type { Json } from '@inloop/protocol';
import { isTerminal } from '@inloop/protocol';
import type { AppendResult, JobRecord } from '@inloop/server';
import { TRIM_AGE } from './broker.js';
import { guarded, isCluster, type Keys } from './connection.js';
import { JobConflictError, RECORD_AT, recordHead, unindexFinished } from './job-record.js';

/** What the broker needs to save job records with their events. */
export interface JobEventsOptions {
  /** How long a finished job's record is kept (the job store's `finishedTtlMs`). */
  finishedTtlMs: () => number;
}

/**
 * One step of a job: KEYS topic meta, topic log, record (one hash tag, `{t:job:<id>}`), then the
 * node-wide unfinished set, outbox and listing (on a Redis Cluster, the record again: those live
 * in other slots, and a finished job leaves them after the step, see `unindexFinished`), then
 * the job's streams-opened marker (the record's hash tag). ARGV:
 * payload, now, maxCount, maxAgeMs, fresh epoch, channel, Redis run id, record head, expected
 * epoch, expected offset, id, finished TTL ('' while unfinished), '1' for a new job (else ''),
 * its creation time.
 *
 * Refused (nothing written) unless the stored record is still where the change read it: that
 * check is the fence (a stale lease or a change from another node since). A new job's first
 * event (one server only) instead finds no record, and indexes the job as the store's insert
 * does: in the unfinished set, the outbox (until the queue has it) and the listing. Then the event is
 * appended like any publication (the broker's own `appendAt`: built when defined, as the two
 * modules import each other), the record saved at the event's offset (a finished one with its
 * expiry, out of the unfinished set and the outbox), and the event PUBLISHed (six commands for most events).
 * A finished job's step also answers whether a stream of the job was ever opened (the marker).
 */
const JOB_EVENT = () => `${TRIM_AGE}${RECORD_AT}
local meta, log, record = KEYS[1], KEYS[2], KEYS[3]
local stored = redis.call('GET', record)
local new = ARGV[13] == '1'
if new then
  if stored then return {'conflict'} end
else
  if not stored then return {'conflict'} end
  local _, storedEpoch, storedOffset = recordAt(stored)
  if storedEpoch ~= ARGV[9] or storedOffset ~= tonumber(ARGV[10]) then return {'conflict'} end
end
local epoch, offset, ts = appendAt(meta, log, ARGV[5], ARGV[7], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[1], nil)
local text = ARGV[8] .. ',"epoch":"' .. epoch .. '","lastOffset":' .. offset .. '}'
if ARGV[12] ~= '' then
  redis.call('SET', record, text, 'PX', ARGV[12])
  if KEYS[4] ~= record then
    redis.call('SREM', KEYS[4], ARGV[11])
    redis.call('ZREM', KEYS[5], ARGV[11])
  end
else
  redis.call('SET', record, text)
end
if new then
  redis.call('SADD', KEYS[4], ARGV[11])
  redis.call('ZADD', KEYS[5], ARGV[14], ARGV[11])
  redis.call('ZADD', KEYS[6], 0, ARGV[11])
end
redis.call('PUBLISH', ARGV[6], '{"o":' .. offset .. ',"e":"' .. epoch .. '","t":' .. ts .. ',"p":' .. ARGV[1] .. '}')
local streams = ''
if ARGV[12] ~= '' then streams = tostring(redis.call('EXISTS', KEYS[7])) end
return {'new', tostring(offset), epoch, tostring(ts), streams}
`;

interface Scripts {
  inloopJobEvent(...args: (string | number)[]): Promise<[string, string?, string?, string?, string?]>;
}

export function defineJobEvents(redis: Redis): void {
  redis.defineCommand('inloopJobEvent', { numberOfKeys: 7, lua: JOB_EVENT() });
}

/**
 * Append `job`'s event and save `job` with it, in one step; throws {@link JobConflictError} when
 * fenced out. `insert`: the job is new and has no record yet (one server only, see JOB_EVENT).
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
  },
): Promise<AppendResult> {
  const payload = JSON.stringify({ topic, data: event.data, from: event.from });
  const record = keys.job(job.id);
  const apart = isCluster(redis);
  const reply = await guarded(() =>
    (redis as unknown as Scripts).inloopJobEvent(
      keys.topicMeta(topic),
      keys.topicLog(topic),
      record,
      apart ? record : keys.jobsUnfinished,
      apart ? record : keys.jobsOutbox,
      apart ? record : keys.jobsListing,
      keys.jobStreamsOpened(job.id),
      payload,
      event.now,
      event.maxCount,
      event.maxAgeMs,
      event.freshEpoch,
      keys.topicChannel(topic),
      event.run,
      recordHead(job),
      job.epoch,
      job.lastOffset,
      job.id,
      isTerminal(job.status) ? options.finishedTtlMs() : '',
      event.insert ? '1' : '',
      job.createdAt,
    ),
  );
  if (reply[0] !== 'new') throw new JobConflictError();
  if (apart && isTerminal(job.status)) await unindexFinished(redis, keys, job.id);
  const [, offset, epoch, ts, streams] = reply;
  return {
    publication: { topic, epoch: epoch!, offset: Number(offset), data: event.data, from: event.from, ts: Number(ts) },
    duplicate: false,
    ...(streams ? { streamsOpened: streams === '1' } : {}),
  };
}
