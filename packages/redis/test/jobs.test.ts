import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { describe, it } from 'node:test';
import { sleep, waitFor, startRedis } from '@inloop/testing';
import { balancer } from './balancer.js';
import { spawnCluster, spawnFixture } from './processes.js';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

interface StoredEvent {
  offset: number;
  data: { type: string; job: { status: string; attempt: number; result?: number } };
}

/** What the queue still holds of type `work` once every job ended: nothing waiting, delayed or held. */
async function leftInQueue(queue: 'inloop' | 'bullmq', port: number, prefix: string): Promise<number[]> {
  if (queue === 'bullmq') {
    const bull = new Queue('work', { connection: { port }, prefix: `${prefix}:bull` });
    const counts = await bull.getJobCounts('wait', 'delayed', 'active');
    await bull.close();
    return [counts.wait!, counts.delayed!, counts.active!];
  }
  const { Redis } = await import('ioredis');
  const raw = new Redis(port);
  try {
    const key = `${prefix}:{q:work}`;
    return [await raw.hlen(`${key}:jobs`), await raw.zcard(`${key}:delayed`), await raw.zcard(`${key}:active`)];
  } finally {
    raw.disconnect();
  }
}

// The default queue with 500 jobs; BullMQ, the other choice, with 200 (the suite's time).
for (const [queue, JOBS] of [
  ['inloop', 500],
  ['bullmq', 200],
] as const)
  describe(`jobs through ${queue === 'inloop' ? "Inloop's queue" : 'BullMQ'} on three nodes`, () => {
    it(
      `${JOBS} jobs, 4 worker processes, one killed every 1.5 s: each job ends exactly once, none stays running`,
      { timeout: 180_000 },
      async () => {
        await using redis = await startRedis();
        await using cluster = await spawnCluster(redis.url, 3, {
          INLOOP_JOB_TYPES: 'work',
          INLOOP_JOB_LEASE_MS: '1500',
          INLOOP_JOB_MAX_ATTEMPTS: '10',
          INLOOP_REDIS_JOB_QUEUE: queue,
        });
        const lb = await balancer(() => cluster.livePorts());
        const spawnWorker = () => spawnFixture('busy-worker.ts', [lb.url, cluster.apiKey, 'work']);
        const workers = Array.from({ length: 4 }, spawnWorker);
        let killed = 0;
        try {
          // Jobs are created through the balancer: every node accepts some.
          const ids: string[] = [];
          for (let i = 0; i < JOBS; i += 25) {
            const batch = await Promise.all(
              Array.from({ length: Math.min(25, JOBS - i) }, (_, k) =>
                cluster.api(lb.url, '/v1/jobs', { type: 'work', input: i + k }),
              ),
            );
            for (const res of batch) {
              assert.equal(res.status, 202, JSON.stringify(res.body));
              ids.push(res.body.id as string);
            }
          }
          // One worker killed (and replaced) every 1.5 s while the jobs run.
          let running = true;
          const killer = (async () => {
            while (running) {
              await sleep(1500);
              if (!running) break;
              const victim = Math.floor(Math.random() * workers.length);
              workers[victim]!.child.kill('SIGKILL');
              killed++;
              workers[victim] = spawnWorker();
            }
          })();
          const statuses = new Map<string, string>();
          await waitFor(
            async () => {
              const pending = ids.filter((id) => !TERMINAL.includes(statuses.get(id) ?? ''));
              for (let i = 0; i < pending.length; i += 50) {
                await Promise.all(
                  pending.slice(i, i + 50).map(async (id) => {
                    const res = await cluster.api(lb.url, `/v1/jobs/${id}`);
                    statuses.set(id, res.body.status as string);
                  }),
                );
              }
              return ids.every((id) => TERMINAL.includes(statuses.get(id)!));
            },
            120_000,
            'every job to finish',
          );
          running = false;
          await killer;
          assert.ok(killed >= 2, `killed ${killed} workers`);

          // Every job's stream: offsets 1..n in order, exactly one terminal event, and it is the last.
          let retried = 0;
          for (let i = 0; i < ids.length; i += 50) {
            await Promise.all(
              ids.slice(i, i + 50).map(async (id, k) => {
                const history = await cluster.api(lb.url, `/v1/topics/job:${id}/messages?after=0&limit=1000`);
                const events = history.body.messages as StoredEvent[];
                assert.deepEqual(
                  events.map((e) => e.offset),
                  Array.from({ length: events.length }, (_, n) => n + 1),
                );
                const terminal = events.filter((e) => TERMINAL.includes(e.data.job.status));
                assert.equal(terminal.length, 1, `job ${id}: ${events.map((e) => e.data.type).join(' ')}`);
                assert.equal(terminal[0], events.at(-1));
                assert.equal(events[0]!.data.type, 'job.queued');
                const last = terminal[0]!.data.job;
                if (last.status === 'succeeded') assert.equal(last.result, (i + k) * 2);
                if (events.some((e) => e.data.type === 'job.retrying')) retried++;
              }),
            );
          }
          // The queue agrees: nothing left waiting, delayed or held.
          assert.deepEqual(await leftInQueue(queue, redis.port, cluster.prefix), [0, 0, 0], 'waiting, delayed, held');
          if (queue === 'bullmq') {
            // Every job completed or failed in BullMQ too, as its tools show them.
            const bull = new Queue('work', { connection: { port: redis.port }, prefix: `${cluster.prefix}:bull` });
            const counts = await bull.getJobCounts('completed', 'failed');
            await bull.close();
            const failedHere = [...statuses.values()].filter((s) => s === 'failed').length;
            assert.deepEqual([counts.completed, counts.failed], [JOBS - failedHere, failedHere]);
          }
          const succeeded = [...statuses.values()].filter((s) => s === 'succeeded').length;
          assert.ok(succeeded >= JOBS * 0.95, `${succeeded} of ${JOBS} succeeded`);
          assert.ok(retried > 0, 'some jobs were retried after their worker died');
        } finally {
          for (const w of workers) w.child.kill('SIGKILL');
          await lb.close();
        }
      },
    );
  });
