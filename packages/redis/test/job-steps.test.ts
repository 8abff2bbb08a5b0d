import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { jobTopic, type Json } from '@inloop/protocol';
import { createLogger, type JobRecord } from '@inloop/server';
import { jobRecord, startNode, waitFor, type TestNode, startRedis, type TestRedis } from '@inloop/testing';
import { connect, whenReady } from '../src/connection.js';
import { createRedisBackend, JobConflictError } from '../src/index.js';
import { defineScript } from '../src/script.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis[Symbol.asyncDispose]();
});

const bounds = { maxCount: 1000, maxAgeMs: 3_600_000, idempotencyTtlMs: 300_000 };

/**
 * Scripts Redis has run so far, read by `probe`: EVALSHA, and EVAL after an EVALSHA answered
 * NOSCRIPT (the first time a server is asked for a script), which is not counted twice.
 */
async function scriptsRun(probe: { info(section: string): Promise<string> }): Promise<number> {
  return scriptsIn(await probe.info('commandstats'));
}

/** {@link scriptsRun}, read from the text of `INFO commandstats`. */
function scriptsIn(stats: string): number {
  const field = (name: string, what: string) =>
    Number(new RegExp(`cmdstat_${name}:.*\\b${what}=(\\d+)`).exec(stats)?.[1] ?? 0);
  return field('eval', 'calls') + field('evalsha', 'calls') - field('evalsha', 'failed_calls');
}

/** A queued job whose input looks like the fields a careless script would match in its JSON. */
function record(id: string): JobRecord {
  const now = Date.now();
  return jobRecord(id, {
    type: 'work',
    input: { note: '"status":"succeeded","epoch":"x","lastOffset":99}' },
    createdAt: now,
    runAfter: now,
    createdBy: 'test',
  });
}

/**
 * Lease the `work` job `id` through `node` once the queue hands it out again, for a long lease (a
 * worker holding it must still hold it after anything a test makes stale workers try).
 */
function leasedAgain(node: TestNode, id: string, what: string) {
  return waitFor(
    async () => {
      const res = await node.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 1000, leaseMs: 60_000 } });
      return res.status === 200 && res.body?.job?.id === id ? res.body : null;
    },
    20_000,
    what,
  );
}

/**
 * A handler of `type` on `node` that runs one job at a time, the first until the test calls
 * `release`; `ran` lists the jobs it ran, in order.
 */
function firstRunHeld(node: TestNode, type: string): { ran: string[]; release: () => void } {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const ran: string[] = [];
  node.node.jobs.handle(
    type,
    async (job) => {
      ran.push(job.id);
      if (ran.length === 1) await released;
      return 'ran';
    },
    { concurrency: 1 },
  );
  return { ran, release };
}

/** One node's view of the Redis backend: its broker, job store and job locks. */
async function nodeOn(prefix: string) {
  const backend = await createRedisBackend({ url: redis.url, prefix });
  const broker = backend.broker(bounds);
  const store = backend.jobStore();
  const locks = backend.jobLocks();
  /**
   * Append the job's event with its record in one step (what the job service does on Redis); the
   * step is asked for before the first await, so steps asked for in one turn share it.
   */
  const step = async (job: JobRecord, type: string) => {
    const { publication } = await broker.appendAndPublish(jobTopic(job.id), {
      data: { type, job: { status: job.status } } as Json,
      from: 'inloop',
      job,
    });
    job.epoch = publication.epoch;
    job.lastOffset = publication.offset;
    return publication;
  };
  /** `n` new jobs (with `input`, if given), each inserted and queued: their first event at offset 1. */
  const queued = async (n: number, input?: Json) => {
    const jobs: JobRecord[] = [];
    for (let i = 0; i < n; i++) {
      const job = record(`job${randomBytes(4).toString('hex')}`);
      if (input !== undefined) job.input = input;
      await store.insert(job);
      await step(job, 'job.queued');
      jobs.push(job);
    }
    return jobs;
  };
  /** Lease the job as `job` shows it (a fresh read unless given a view). */
  const lease = async (id: string, token: string, view?: JobRecord) => {
    const job = view ?? (await store.get(id))!;
    job.status = 'running';
    job.attempt++;
    job.fence++;
    job.lease = { token, fence: job.fence, worker: token, expiresAt: Date.now() + 1000 };
    await step(job, 'job.started');
    return job;
  };
  return {
    broker,
    store,
    locks,
    step,
    queued,
    lease,
    async [Symbol.asyncDispose]() {
      await broker.close();
      await backend.close();
    },
  };
}

describe('a job change on Redis is one step fenced by the record', () => {
  it('refuses every write of a stale worker after its job was leased again on another node', async () => {
    const prefix = `s${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    await using b = await nodeOn(prefix);
    assert.equal(a.broker.savesJobs, true);
    const id = `job${randomBytes(4).toString('hex')}`;
    const job = record(id);
    await a.store.insert(job);
    await a.step(job, 'job.queued');
    await a.lease(id, 'first');
    // The first worker's node holds its view of the job (fence 1) ...
    const stale = (await a.store.get(id))!;
    assert.deepEqual([stale.fence, stale.lease?.token], [1, 'first']);
    // ... while the lease lapses and the job is retried and leased again on B (fence 2).
    const retried = (await b.store.get(id))!;
    Object.assign(retried, { status: 'queued', lease: null, message: 'Retrying' });
    await b.step(retried, 'job.retrying');
    const second = await b.lease(id, 'second');
    assert.equal(second.fence, 2);

    // The stale worker finishes through A: no event, no record change.
    stale.status = 'succeeded';
    stale.result = 'stale';
    stale.lease = null;
    await assert.rejects(a.step(stale, 'job.succeeded'), (err: unknown) => {
      assert.ok(err instanceof JobConflictError);
      assert.equal(err.code, 'lease_lost');
      return true;
    });
    // A renewal of its lease (a save without an event) does not take the record back either.
    const renewal = structuredClone(stale);
    Object.assign(renewal, { status: 'running', lease: { token: 'first', fence: 1, worker: 'w', expiresAt: 1 } });
    await a.store.save(renewal);

    const stored = (await b.store.get(id))!;
    assert.deepEqual(
      [stored.status, stored.fence, stored.lease?.token, stored.lastOffset, stored.result],
      ['running', 2, 'second', 4, undefined],
    );
    const page = await b.broker.history(jobTopic(id), 0, 100);
    assert.deepEqual(
      page.publications.map((p) => (p.data as { type: string }).type),
      ['job.queued', 'job.started', 'job.retrying', 'job.started'],
    );

    // The current holder finishes: the one terminal event, and the record with it.
    second.status = 'succeeded';
    second.result = 'second';
    second.lease = null;
    await b.step(second, 'job.succeeded');
    const done = (await a.store.get(id))!;
    assert.deepEqual([done.status, done.result, done.lastOffset], ['succeeded', 'second', 5]);
    // A finished record is never taken back to running by a late save.
    await a.store.save(renewal);
    assert.equal((await a.store.get(id))!.status, 'succeeded');
    assert.deepEqual(await a.store.unfinished(), []);
  });

  it('runs a change again on what is stored now when another node changed the job first', async () => {
    const prefix = `s${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    await using b = await nodeOn(prefix);
    const id = `job${randomBytes(4).toString('hex')}`;
    const job = record(id);
    await a.store.insert(job);
    await a.step(job, 'job.queued');
    const early = (await a.store.get(id))!;
    // B cancels the queued job between A's read and A's write.
    const cancelled = (await b.store.get(id))!;
    cancelled.status = 'cancelled';
    await b.step(cancelled, 'job.cancelled');
    let runs = 0;
    const outcome = await a.locks.run(id, async () => {
      runs++;
      const seen = runs === 1 ? early : (await a.store.get(id))!;
      if (seen.status !== 'queued') return seen.status;
      await a.lease(id, 'late', seen); // on the first run the view is stale: refused
      return 'leased';
    });
    // The first run read before the cancel; its write was refused and it ran again.
    assert.deepEqual([runs, outcome], [2, 'cancelled']);
    const page = await a.broker.history(jobTopic(id), 0, 100);
    assert.deepEqual(
      page.publications.map((p) => (p.data as { type: string }).type),
      ['job.queued', 'job.cancelled'],
    );
  });
});

describe('two leases of one job made from one read, with events byte for byte alike', () => {
  it('land once: the second is refused, not taken for a call of the first sent again', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    await using b = await nodeOn(prefix);
    const [job] = await a.queued(1);
    const now = Date.now();
    const leased = (token: string): JobRecord =>
      Object.assign(structuredClone(job!), {
        status: 'running' as const,
        attempt: 1,
        fence: 1,
        startedAt: now,
        lastSignAt: now,
        lease: { token, fence: 1, worker: token, expiresAt: now + 60_000 },
      });
    // The same state in both events (the lease's token is in the record, not in the event).
    await a.step(leased('first'), 'job.started');
    await assert.rejects(b.step(leased('second'), 'job.started'), JobConflictError);
    assert.equal((await a.store.get(job!.id))?.lease?.token, 'first');
    const history = await a.broker.history(jobTopic(job!.id), 0, 10);
    assert.deepEqual(
      history.publications.map((p) => (p.data as { type: string }).type),
      ['job.queued', 'job.started'],
    );
  });
});

describe("a job's event that lands elsewhere than the step foresaw", () => {
  it("saves the record at the event's position: after another publication, and under a new epoch", async () => {
    const prefix = `p${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    const [job] = (await a.queued(1)) as [JobRecord];
    const topic = jobTopic(job.id);
    // Someone else publishes to the job's topic: the job's next event takes offset 3, not 2.
    await a.broker.appendAndPublish(topic, { data: { note: 'from elsewhere' }, from: 'someone' });
    const started = await a.lease(job.id, 'first', job);
    let stored = (await a.store.get(job.id))!;
    assert.deepEqual([stored.status, stored.epoch, stored.lastOffset], ['running', started.epoch, 3]);

    // The topic's meta is lost (eviction, say): the next event starts the topic over under a new
    // epoch, at offset 1, and the record says so.
    const first = started.epoch;
    execFileSync('redis-cli', ['-u', redis.url, 'DEL', `${prefix}:{t:${topic}}:meta`]);
    started.status = 'succeeded';
    started.result = 'done';
    started.lease = null;
    const last = await a.step(started, 'job.succeeded');
    assert.notEqual(last.epoch, first);
    stored = (await a.store.get(job.id))!;
    assert.deepEqual([stored.status, stored.epoch, stored.lastOffset], ['succeeded', last.epoch, 1]);
    const page = await a.broker.history(topic, 0, 10);
    assert.deepEqual(
      [page.epoch, page.publications.map((p) => (p.data as { type: string }).type)],
      [last.epoch, ['job.succeeded']],
    );
  });
});

describe("a job's events on one Redis server", () => {
  it('reach a node that watches the job, from its first event on, and cost no PUBLISH while none does', async () => {
    const prefix = `w${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    await using b = await nodeOn(prefix);
    const probe = new Redis(redis.url);
    try {
      const published = async () =>
        Number(/cmdstat_publish:calls=(\d+)/.exec(await probe.info('commandstats'))?.[1] ?? 0);
      // Nobody watches: three events, stored, none published.
      const before = await published();
      const [quiet] = (await a.queued(1)) as [JobRecord];
      await a.lease(quiet.id, 'q', quiet);
      Object.assign(quiet, { status: 'succeeded', result: 'ok', lease: null });
      await a.step(quiet, 'job.succeeded');
      assert.equal(await published(), before);
      const quietPage = await b.broker.history(jobTopic(quiet.id), 0, 10);
      assert.equal(quietPage.publications.length, 3);

      // Node B watches a job before its first event and after its second: it hears every event
      // as it is stored, in order, whichever node appends it.
      const seen: string[] = [];
      b.broker.onPublication((p) =>
        seen.push(`${p.topic} ${'offset' in p ? p.offset : '-'} ${(p.data as { type: string }).type}`),
      );
      const job = record(`job${randomBytes(4).toString('hex')}`);
      await b.broker.watch(jobTopic(job.id));
      await a.store.insert(job);
      await a.step(job, 'job.queued');
      const [other] = (await a.queued(1)) as [JobRecord];
      await a.lease(other.id, 'o', other);
      await b.broker.watch(jobTopic(other.id));
      await a.lease(job.id, 'j', job);
      Object.assign(other, { status: 'succeeded', result: 'ok', lease: null });
      await a.step(other, 'job.succeeded');
      await waitFor(() => seen.length >= 3, 5000, 'the watched events');
      assert.deepEqual(seen, [
        `${jobTopic(job.id)} 1 job.queued`,
        `${jobTopic(job.id)} 2 job.started`,
        `${jobTopic(other.id)} 3 job.succeeded`,
      ]);
      assert.equal(await published(), before + 3);
    } finally {
      probe.disconnect();
    }
  });
});

describe('a stale remote worker on a cluster', () => {
  it('cannot report or finish through any node once its job was leased again on another node', async () => {
    const prefix = `w${randomBytes(4).toString('hex')}`;
    const nodes: TestNode[] = [];
    for (let i = 0; i < 2; i++)
      nodes.push(await startNode({ redis: redis.url, redisPrefix: prefix, jobLeaseMs: 1000 }));
    const [a, b] = nodes as [TestNode, TestNode];
    try {
      a.node.jobs.define('work');
      b.node.jobs.define('work');
      const created = await a.api('/v1/jobs', { body: { type: 'work', input: 1 } });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const id = created.body.id as string;
      const first = await a.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 5000 } });
      assert.equal(first.body.job.id, id);
      const stale = first.body.lease.token as string;
      // The first worker goes silent; its lease lapses and the job is retried: the second worker
      // leases it through B.
      const second = await leasedAgain(b, id, 'the job to be leased again through B');
      assert.equal(second.lease.fence, first.body.lease.fence + 1);
      // The stale worker, through either node: refused, whatever it reports.
      for (const node of [a, b]) {
        const progress = await node.api(`/v1/jobs/${id}/progress`, { body: { lease: stale, progress: 0.9 } });
        assert.deepEqual([progress.status, progress.body.code], [409, 'lease_lost']);
        const complete = await node.api(`/v1/jobs/${id}/complete`, { body: { lease: stale, result: 'stale' } });
        assert.deepEqual([complete.status, complete.body.code], [409, 'lease_lost']);
      }
      const done = await a.api(`/v1/jobs/${id}/complete`, { body: { lease: second.lease.token, result: 'second' } });
      assert.ok(done.status < 300, JSON.stringify(done.body));
      const job = await b.api(`/v1/jobs/${id}`);
      assert.deepEqual([job.body.status, job.body.result], ['succeeded', 'second']);
      const history = await b.api(`/v1/topics/job:${id}/messages?after=0`);
      const events = history.body.messages as { data: { type: string; job: { progress?: { fraction: number } } } }[];
      const types = events.map((e) => e.data.type);
      assert.deepEqual(types.slice(0, 2), ['job.queued', 'job.started']);
      assert.ok(types.includes('job.retrying'), types.join(' '));
      assert.equal(types.filter((t) => ['job.succeeded', 'job.failed', 'job.cancelled'].includes(t)).length, 1);
      assert.equal(types.at(-1), 'job.succeeded');
      assert.ok(!types.includes('job.progress'), types.join(' '));
    } finally {
      for (const n of nodes) await n[Symbol.asyncDispose]();
    }
  });
});

describe("a new job's first event on one Redis server", () => {
  it('stores and indexes the job with the event, and refuses an id that already has a record', async () => {
    const prefix = `n${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    assert.equal(a.broker.insertsJobs, true);
    const id = `job${randomBytes(4).toString('hex')}`;
    const job = record(id);
    // The event carries the job's state, as the service's does (a resend of the same step, with
    // the same event, is answered as landed).
    const queued = (j: JobRecord) =>
      a.broker.appendAndPublish(jobTopic(id), {
        data: { type: 'job.queued', job: { status: j.status, createdAt: j.createdAt } } as Json,
        from: 'inloop',
        job: j,
        newJob: true,
      });
    const { publication } = await queued(job);
    job.epoch = publication.epoch;
    job.lastOffset = publication.offset;
    // What the store's insert gives a job: readable, recovered as unfinished, listed.
    assert.deepEqual(await a.store.get(id), job);
    assert.deepEqual(
      (await a.store.unfinished()).map((j) => j.id),
      [id],
    );
    assert.deepEqual(
      (await a.store.list({ limit: 10 })).jobs.map((j) => j.id),
      [id],
    );
    // A second "new" job under the same id writes nothing.
    const other = record(id);
    other.input = 'other';
    other.createdAt = job.createdAt + 1;
    await assert.rejects(queued(other), JobConflictError);
    assert.deepEqual(await a.store.get(id), job);
    assert.equal((await a.broker.history(jobTopic(id), 0, 10)).publications.length, 1);
  });
});

describe('an in-process handler whose job was cancelled through another node', () => {
  it('ends the job cancelled, once, though it returned a result after the cancel', async () => {
    const prefix = `h${randomBytes(4).toString('hex')}`;
    const nodes: TestNode[] = [];
    for (let i = 0; i < 2; i++) nodes.push(await startNode({ redis: redis.url, redisPrefix: prefix }));
    const [a, b] = nodes as [TestNode, TestNode];
    let release: () => void = () => {};
    const returned = new Promise<void>((resolve) => (release = resolve));
    try {
      // A's handler ignores its signal and returns once told: it ends the job with the record it
      // leased, which B's cancel has moved past in the meantime.
      a.node.jobs.handle('held', async () => {
        await returned;
        return 'done';
      });
      b.node.jobs.define('held');
      const created = await b.api('/v1/jobs', { body: { type: 'held', input: null } });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const id = created.body.id as string;
      await waitFor(
        async () => (await b.api(`/v1/jobs/${id}`)).body.status === 'running',
        10_000,
        'the job to run on A',
      );
      const cancel = await b.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
      assert.ok(cancel.status < 300, JSON.stringify(cancel.body));
      release();
      const job = await waitFor(
        async () => {
          const res = await b.api(`/v1/jobs/${id}`);
          return ['succeeded', 'failed', 'cancelled'].includes(res.body.status as string) ? res.body : null;
        },
        10_000,
        'the job to end',
      );
      assert.equal(job.status, 'cancelled');
      const history = await a.api(`/v1/topics/job:${id}/messages?after=0`);
      const types = (history.body.messages as { data: { type: string } }[]).map((e) => e.data.type);
      assert.equal(types.filter((t) => ['job.succeeded', 'job.failed', 'job.cancelled'].includes(t)).length, 1);
      assert.equal(types.at(-1), 'job.cancelled', types.join(' '));
    } finally {
      release();
      for (const n of nodes) await n[Symbol.asyncDispose]();
    }
  });
});

describe('a job created on a node, changed through another before that node leases it', () => {
  it('is leased from what is stored: a job cancelled meanwhile never runs and ends once', async () => {
    const prefix = `c${randomBytes(4).toString('hex')}`;
    const a = await startNode({ redis: redis.url, redisPrefix: prefix });
    await using other = await nodeOn(prefix);
    // One at a time on A: the second job waits in the queue behind the first, which waits for
    // the test, while A keeps the record it created the second one with.
    const { ran, release } = firstRunHeld(a, 'one');
    try {
      const create = async () => {
        const res = await a.api('/v1/jobs', { body: { type: 'one', input: null } });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        return res.body.id as string;
      };
      const first = await create();
      await waitFor(async () => ran.length === 1, 10_000, 'the first job to run');
      const second = await create();
      // Another node cancels the second job, and dies before taking it out of the queue: A still
      // gets it from BullMQ, holding the record from before the cancel.
      const stored = (await other.store.get(second))!;
      Object.assign(stored, { status: 'cancelled', finishedAt: Date.now(), lease: null });
      await other.step(stored, 'job.cancelled');
      release();
      const third = await create();
      await waitFor(async () => (await a.api(`/v1/jobs/${third}`)).body.status === 'succeeded', 10_000, 'the third');
      assert.deepEqual(ran, [first, third]);
      const job = await a.api(`/v1/jobs/${second}`);
      assert.equal(job.body.status, 'cancelled');
      const history = await a.api(`/v1/topics/job:${second}/messages?after=0`);
      const types = (history.body.messages as { data: { type: string } }[]).map((e) => e.data.type);
      assert.deepEqual(types, ['job.queued', 'job.cancelled']);
    } finally {
      release();
      await a[Symbol.asyncDispose]();
    }
  });
});

describe('an in-process handler on Redis given its next job with the end of the last', () => {
  it('holds that job under its lease: renewals keep it past the lease, and it runs and ends once', async () => {
    const prefix = `f${randomBytes(4).toString('hex')}`;
    const a = await startNode({ redis: redis.url, redisPrefix: prefix });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const ran: string[] = [];
    try {
      // One at a time: the second job waits in the queue until the first ends, and is taken in
      // the step that ends it. It then runs 2.5 leases long, held by renewals alone (BullMQ's
      // stall check runs every lease).
      a.node.jobs.handle(
        'chain',
        async (job) => {
          ran.push(job.id);
          if (ran.length === 1) await released;
          else await new Promise((resolve) => setTimeout(resolve, 2500));
          return ran.length;
        },
        { concurrency: 1, leaseMs: 1000 },
      );
      const create = async () => {
        const res = await a.api('/v1/jobs', { body: { type: 'chain', input: null } });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        return res.body.id as string;
      };
      const first = await create();
      await waitFor(async () => ran.length === 1, 10_000, 'the first job to run');
      const second = await create();
      release();
      const job = await waitFor(
        async () => {
          const res = await a.api(`/v1/jobs/${second}`);
          return ['succeeded', 'failed', 'cancelled'].includes(res.body.status as string) ? res.body : null;
        },
        15_000,
        'the second job to end',
      );
      assert.deepEqual([job.status, job.result, job.attempt], ['succeeded', 2, 1]);
      assert.deepEqual(ran, [first, second]);
      const history = await a.api(`/v1/topics/job:${second}/messages?after=0`);
      const types = (history.body.messages as { data: { type: string } }[]).map((e) => e.data.type);
      assert.deepEqual(types, ['job.queued', 'job.started', 'job.succeeded']);
    } finally {
      release();
      await a[Symbol.asyncDispose]();
    }
  });
});

describe('a report fenced out half-way', () => {
  it('publishes its partial result once when it runs again', async () => {
    const prefix = `p${randomBytes(4).toString('hex')}`;
    const backend = await createRedisBackend({ url: redis.url, prefix });
    // Another node's write lands between the report's partial and its progress event: the
    // progress append is fenced out once (as the script would refuse it), and the report runs
    // again on the stored record, which already holds the partial.
    let fenceNextProgress = false;
    const make = backend.broker.bind(backend);
    backend.broker = (options) => {
      const broker = make(options);
      const append = broker.appendAndPublish.bind(broker);
      broker.appendAndPublish = async (topic, input) => {
        const type = (input.data as { type?: string }).type;
        if (type === 'job.partial') fenceNextProgress = true;
        else if (type === 'job.progress' && fenceNextProgress) {
          fenceNextProgress = false;
          throw new JobConflictError();
        }
        return append(topic, input);
      };
      return broker;
    };
    await using t = await startNode({ backend, jobLeaseMs: 30_000 });
    t.node.jobs.define('work');
    const created = await t.api('/v1/jobs', { body: { type: 'work', input: 1 } });
    const id = created.body.id as string;
    const leased = await t.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 5000 } });
    assert.equal(leased.body.job.id, id);
    const reply = await t.api(`/v1/jobs/${id}/progress`, {
      body: { lease: leased.body.lease.token, partial: { line: 1 }, progress: 0.5 },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const snapshot = (await t.api(`/v1/jobs/${id}`)).body;
    assert.deepEqual(snapshot.partials, [{ line: 1 }], 'the partial is kept once');
    assert.equal(snapshot.progress.fraction, 0.5);
    // The progress event may come from the throttle's trailing edge (the first run took its slot).
    type Event = { data: { type: string } };
    const history = (await waitFor(async () => {
      const messages = (await t.api(`/v1/topics/job:${id}/messages?after=0`)).body.messages as Event[];
      return messages.some((m) => m.data.type === 'job.progress') ? messages : null;
    }))!;
    assert.equal(history.filter((m) => m.data.type === 'job.partial').length, 1, 'one job.partial event');
    assert.equal(history.filter((m) => m.data.type === 'job.progress').length, 1, 'one job.progress event');
  });
});

describe('records written by an earlier version', () => {
  it('are read from their old key, moved to the new one, and recovered as unfinished', async () => {
    const prefix = `u${randomBytes(4).toString('hex')}`;
    await using node = await nodeOn(prefix);
    const { Redis } = await import('ioredis');
    const raw = new Redis(redis.url);
    try {
      const job = { ...record('0old1'), status: 'running' as const, attempt: 1, fence: 1 };
      await raw.set(`${prefix}:job:${job.id}`, JSON.stringify(job));
      await raw.sadd(`${prefix}:jobs:unfinished`, job.id);
      const unfinished = await node.store.unfinished();
      assert.deepEqual(
        unfinished.map((j) => [j.id, j.status, j.fence]),
        [[job.id, 'running', 1]],
      );
      const read = await node.store.get(job.id);
      assert.deepEqual(read?.input, job.input);
      assert.ok(await raw.exists(`${prefix}:{t:job:${job.id}}:record`), 'moved to the new key');
      assert.equal(await node.store.get('0none'), null, 'a job no version wrote is still unknown');
    } finally {
      raw.disconnect();
    }
  });

  for (const queue of ['bullmq', 'inloop'] as const)
    it(`run a job an earlier version queued in BullMQ on one server, with ${queue === 'bullmq' ? 'BullMQ, from its prefix' : "Inloop's queue, which takes it over at start"}`, async () => {
      // On a Redis Cluster BullMQ's prefix is braced; on one server it must stay `<prefix>:bull`,
      // or jobs waiting in BullMQ across an upgrade would never be taken. A node on Inloop's queue
      // (the default since) adopts every unfinished job the store has when it starts.
      const prefix = `q${randomBytes(4).toString('hex')}`;
      const { Redis } = await import('ioredis');
      const { Queue } = await import('bullmq');
      const raw = new Redis(redis.url, { maxRetriesPerRequest: null });
      const id = `0queued${randomBytes(3).toString('hex')}`;
      try {
        // What the earlier version left: the record in its topic's slot, the id in the unfinished
        // set, and the job waiting in BullMQ.
        await raw.set(`${prefix}:{t:job:${id}}:record`, JSON.stringify({ ...record(id), input: 20 }));
        await raw.sadd(`${prefix}:jobs:unfinished`, id);
        const bull = new Queue('work', { connection: raw, prefix: `${prefix}:bull` });
        await bull.add('work', {}, { jobId: id });
        await bull.close();
        await using t = await startNode({ redis: redis.url, redisPrefix: prefix, redisJobQueue: queue });
        t.node.jobs.handle('work', (job) => (job.input as number) + 1);
        const done = await waitFor(
          async () => {
            const res = await t.api(`/v1/jobs/${id}`);
            return res.body.status === 'succeeded' ? res.body : null;
          },
          20_000,
          'the job queued before the upgrade to succeed',
        );
        assert.equal(done.result, 21);
        assert.equal(done.attempt, 1, 'run once');
      } finally {
        raw.disconnect();
      }
    });

  it("hand a job running when the nodes switched from BullMQ to Inloop's queue back when its lease lapses", async () => {
    // Its worker died with the switch: nothing renews the lease, and Inloop's queue, which took
    // the job over at start under the lease's token, hands it back once the lease lapsed.
    const prefix = `s${randomBytes(4).toString('hex')}`;
    const { Redis } = await import('ioredis');
    const raw = new Redis(redis.url);
    const id = `0running${randomBytes(3).toString('hex')}`;
    try {
      const lease = { token: 'old-token', fence: 1, worker: 'gone', expiresAt: Date.now() + 1500 };
      const job = { ...record(id), status: 'running' as const, attempt: 1, fence: 1, lease, input: 1 };
      await raw.set(`${prefix}:{t:job:${id}}:record`, JSON.stringify(job));
      await raw.sadd(`${prefix}:jobs:unfinished`, id);
      await using t = await startNode({ redis: redis.url, redisPrefix: prefix, redisJobQueue: 'inloop' });
      assert.equal(await raw.hget(`${prefix}:{q:work}:jobs`, id), 'old-token', 'held under the lease it had');
      t.node.jobs.handle('work', (j) => (j.input as number) + 1);
      const done = await waitFor(
        async () => {
          const res = await t.api(`/v1/jobs/${id}`);
          return res.body.status === 'succeeded' ? res.body : null;
        },
        20_000,
        'the job handed back and run again',
      );
      assert.deepEqual([done.result, done.attempt], [2, 2]);
    } finally {
      raw.disconnect();
    }
  });
});

describe('a lapsed lease on a job whose last event was stored without its record update', () => {
  it('is retried in one run: the record is brought up to its topic before the retry is fenced at it', async () => {
    // A node died between storing an event and saving the record with it. The node that handles
    // the lapsed lease first saves the record at the topic's last event, then retries the job
    // fenced at that position: the retry must not be written ahead of the save (a job step goes
    // to Redis outside the auto-pipeline), or it is refused and the whole change runs twice.
    const prefix = `l${randomBytes(4).toString('hex')}`;
    const lines: { msg?: string; job?: string }[] = [];
    const logger = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line)) });
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix, jobLeaseMs: 1000, logger });
    await using other = await nodeOn(prefix);
    a.node.jobs.define('work');
    const created = await a.api('/v1/jobs', { body: { type: 'work', input: 1 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const id = created.body.id as string;
    const leased = await a.api('/v1/workers/lease', { body: { types: ['work'], waitMs: 5000 } });
    assert.equal(leased.body.job.id, id);
    // The event whose record update was lost, and the worker goes silent.
    const running = { id, type: 'work', status: 'running', progress: { fraction: 0.5, measured: true } };
    await other.broker.appendAndPublish(jobTopic(id), {
      data: { type: 'job.progress', job: running } as Json,
      from: 'inloop',
    });
    const again = await leasedAgain(a, id, 'the job retried and leased again');
    assert.equal(again.job.attempt, 2);
    const history = await a.api(`/v1/topics/job:${id}/messages?after=0`);
    const types = (history.body.messages as { data: { type: string } }[]).map((e) => e.data.type);
    assert.deepEqual(types, ['job.queued', 'job.started', 'job.progress', 'job.retrying', 'job.started']);
    const expired = lines.filter((l) => l.msg === 'lease expired' && l.job === id);
    assert.equal(expired.length, 1, 'the lapse handled in one run, not refused and run again');
  });
});

describe('the steps of many jobs asked for in one turn, on one Redis server', () => {
  it('go to Redis in one call, and each is answered on its own: landed, fenced out, or failed', async () => {
    const prefix = `b${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    const jobs = await a.queued(20);
    // One worker's view fell behind (another step moved its job on), and one job's record key
    // holds something that is not a record: its step fails in Redis.
    const [behind, broken] = [jobs[3]!, jobs[7]!];
    const current = structuredClone(behind);
    current.message = 'moved on';
    await a.step(current, 'job.message');
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    try {
      const recordKey = (await probe.keys(`${prefix}:*${broken.id}*`)).find((k) => !/:(log|meta)$/.test(k))!;
      const held = await probe.get(recordKey);
      await probe.del(recordKey);
      await probe.hset(recordKey, 'not', 'a record');
      const before = await scriptsRun(probe);
      // All twenty leased in the same turn, as a node's runner does when a batch of jobs arrives.
      const outcomes = await Promise.allSettled(
        jobs.map((job, i) => {
          job.status = 'running';
          job.attempt = 1;
          job.fence = 1;
          job.lease = { token: `t${i}`, fence: 1, worker: 'w', expiresAt: Date.now() + 60_000 };
          return a.step(job, 'job.started');
        }),
      );
      assert.equal((await scriptsRun(probe)) - before, 1, 'one call for the twenty steps');
      for (const [i, outcome] of outcomes.entries()) {
        const job = jobs[i]!;
        if (job === behind) {
          assert.equal(outcome.status, 'rejected');
          assert.ok((outcome as PromiseRejectedResult).reason instanceof JobConflictError);
        } else if (job === broken) {
          assert.equal(outcome.status, 'rejected');
          assert.equal((outcome as PromiseRejectedResult).reason.code, 'unavailable');
        } else {
          assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason));
          assert.equal((outcome as PromiseFulfilledResult<{ offset: number }>).value.offset, 2);
          const stored = (await a.store.get(job.id))!;
          assert.deepEqual([stored.status, stored.lease?.token, stored.lastOffset], ['running', `t${i}`, 2]);
        }
      }
      // The refused steps wrote nothing: no event, and the fenced record is as the other step left it.
      const events = async (job: JobRecord) =>
        (await a.broker.history(jobTopic(job.id), 0, 10)).publications.map((p) => (p.data as { type: string }).type);
      assert.deepEqual(await events(behind), ['job.queued', 'job.message']);
      assert.deepEqual(await events(broken), ['job.queued']);
      assert.deepEqual(
        [(await a.store.get(behind.id))!.status, (await a.store.get(behind.id))!.message],
        ['queued', 'moved on'],
      );
      assert.equal(await probe.hget(recordKey, 'not'), 'a record');
      assert.ok(held);
    } finally {
      probe.disconnect();
    }
  });
});

/** A proxy's two sides of one connection: either one ending or failing ends the other. */
function closeTogether(client: Socket, upstream: Socket): void {
  for (const [a, b] of [
    [client, upstream],
    [upstream, client],
  ] as const)
    a.on('error', () => b.destroy()).on('close', () => b.destroy());
}

describe('a call of job steps whose reply a dropped connection lost', () => {
  it('is answered as landed when ioredis sends it again, even after another node changed the jobs', async () => {
    // A TCP proxy in front of Redis that, once armed, drops the connection that carries the next
    // script call just after Redis answers it, before the answer reaches the node, and holds the
    // node's next connection until the test lets it through. ioredis sends the call again on
    // reconnecting; the steps already ran, and meanwhile another node changed half the jobs.
    let armed = false;
    let held: Promise<void> = Promise.resolve();
    let letThrough = () => {};
    let dropped = () => {};
    const whenDropped = new Promise<void>((r) => (dropped = r));
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      sockets.add(client);
      void held.then(() => {
        const upstream = connectTcp(Number(new URL(redis.url).port), '127.0.0.1');
        let doomed = false;
        sockets.add(upstream);
        client.on('data', (d) => {
          if (armed && d.includes('vals')) [armed, doomed] = [false, true];
          upstream.write(d);
        });
        upstream.on('data', (d) => {
          if (!doomed) return void client.write(d);
          held = new Promise((r) => (letThrough = r));
          client.destroy();
          upstream.destroy();
          dropped();
        });
        closeTogether(client, upstream);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const prefix = `d${randomBytes(4).toString('hex')}`;
    const backend = await createRedisBackend({
      url: `redis://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      prefix,
    });
    const broker = backend.broker(bounds);
    const store = backend.jobStore();
    await using other = await nodeOn(prefix);
    try {
      // Ten jobs with their first event (each then changed once), and ten new ones inserted by it.
      const old: JobRecord[] = [];
      for (let i = 0; i < 10; i++) {
        const job = record(`job${randomBytes(4).toString('hex')}`);
        await store.insert(job);
        const { publication } = await broker.appendAndPublish(jobTopic(job.id), {
          data: { type: 'job.queued' } as Json,
          from: 'inloop',
          job,
        });
        [job.epoch, job.lastOffset] = [publication.epoch, publication.offset];
        old.push(job);
      }
      const fresh = Array.from({ length: 10 }, () => record(`job${randomBytes(4).toString('hex')}`));
      armed = true;
      const outcomes = Promise.allSettled([
        ...old.map((job) =>
          broker.appendAndPublish(jobTopic(job.id), { data: { type: 'job.message' } as Json, from: 'inloop', job }),
        ),
        ...fresh.map((job) =>
          broker.appendAndPublish(jobTopic(job.id), {
            data: { type: 'job.queued' } as Json,
            from: 'inloop',
            job,
            newJob: true,
          }),
        ),
      ]);
      await whenDropped;
      // Before the call goes again: another node changes five of each from what is stored now.
      const changed = [...old.slice(0, 5), ...fresh.slice(0, 5)];
      for (const job of changed) {
        if (old.includes(job)) {
          const stored = (await other.store.get(job.id))!;
          stored.cancelRequested = true;
          await other.step(stored, 'job.cancel_requested');
        } else await other.lease(job.id, 'elsewhere');
      }
      letThrough();
      for (const [i, outcome] of (await outcomes).entries()) {
        assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason));
        const { publication } = (outcome as PromiseFulfilledResult<{ publication: { offset: number } }>).value;
        assert.equal(publication.offset, i < 10 ? 2 : 1);
      }
      for (const job of [...old, ...fresh]) {
        const page = await broker.history(jobTopic(job.id), 0, 10);
        const types = page.publications.map((p) => (p.data as { type: string }).type);
        const expected = old.includes(job) ? ['job.queued', 'job.message'] : ['job.queued'];
        if (changed.includes(job)) expected.push(old.includes(job) ? 'job.cancel_requested' : 'job.started');
        assert.deepEqual(types, expected);
        assert.equal((await store.get(job.id))?.lastOffset, types.length);
      }
    } finally {
      letThrough();
      await broker.close();
      await backend.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe("a job's last step whose reply a dropped connection lost, with Inloop's queue", () => {
  it('still hands the worker the next job the step took for it, once ioredis sends it again', async () => {
    // A TCP proxy that, once armed, forwards the call carrying a job's succeeded step and then
    // drops its connection without passing on what Redis answers. The step ran: it ended A in the
    // queue and took B for the same worker. Sent again, it is answered as landed from A's event,
    // which must say what was taken, or B stays held, unrun, until its lease lapses (a minute).
    let armed = false;
    let drops = 0;
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connectTcp(Number(new URL(redis.url).port), '127.0.0.1');
      let swallow = false;
      for (const s of [client, upstream]) sockets.add(s);
      client.on('data', (d) => {
        upstream.write(d);
        if (!armed || !d.includes('job.succeeded')) return;
        [armed, swallow] = [false, true];
        drops++;
        setTimeout(() => [client, upstream].forEach((s) => s.destroy()), 150);
      });
      upstream.on('data', (d) => void (swallow || client.write(d)));
      closeTogether(client, upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      await using a = await startNode({
        redis: `redis://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        redisPrefix: `l${randomBytes(4).toString('hex')}`,
        jobLeaseMs: 60_000,
      });
      const { ran, release } = firstRunHeld(a, 'w');
      const first = (await a.api('/v1/jobs', { body: { type: 'w', input: 1 } })).body.id as string;
      await waitFor(() => ran.length === 1, 5000, 'A running');
      const next = (await a.api('/v1/jobs', { body: { type: 'w', input: 2 } })).body.id as string;
      armed = true;
      release();
      for (const id of [first, next])
        await waitFor(async () => (await a.api(`/v1/jobs/${id}`)).body.status === 'succeeded', 20_000, `${id} run`);
      assert.equal(drops, 1, 'the succeeded step was sent again');
      assert.deepEqual(ran, [first, next]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('the steps of a busy turn, on one Redis server', () => {
  it('go out as their calls fill: Redis runs the first while the node is still asking for more', async () => {
    const prefix = `f${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    const jobs = await a.queued(100);
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    try {
      const before = await scriptsRun(probe);
      const outcomes = jobs.map((job, i) => {
        job.status = 'running';
        job.attempt = 1;
        job.fence = 1;
        job.lease = { token: `t${i}`, fence: 1, worker: 'w', expiresAt: Date.now() + 60_000 };
        return a.step(job, 'job.started');
      });
      // A step is asked for a few promise reactions after `step` is called (the broker looks up
      // the Redis run id first): let those run, without going back to the event loop.
      for (let i = 0; i < 50; i++) await null;
      // Still in the turn that asked for them (the node's event loop is held here): what has Redis
      // run? Asked synchronously, from another process.
      const runNow = () =>
        scriptsIn(execFileSync('redis-cli', ['-p', String(redis.port), 'INFO', 'commandstats']).toString());
      let during = 0;
      for (let i = 0; i < 50 && during < 2; i++) {
        during = runNow() - before;
        if (during < 2) execFileSync('sleep', ['0.02']);
      }
      assert.equal(during, 2, 'the calls of 32 and 64 steps ran before the turn ended');
      const published = await Promise.all(outcomes);
      assert.deepEqual(
        published.map((p) => p.offset),
        jobs.map(() => 2),
      );
      assert.equal((await scriptsRun(probe)) - before, 3, 'a hundred steps in calls of 32, 64 and 4');
      for (const [i, job] of jobs.entries()) assert.equal((await a.store.get(job.id))!.lease?.token, `t${i}`);
    } finally {
      probe.disconnect();
    }
  });
});

describe('job steps too large to share one call', () => {
  it('are split over several calls by size, and every step lands', async () => {
    const prefix = `z${randomBytes(4).toString('hex')}`;
    await using a = await nodeOn(prefix);
    // Twenty jobs whose records carry 1 MB inputs: twenty steps of about 20 MB in all. One call
    // for all of them is what a hundred 6 MB jobs turned into a string too long for V8 to build
    // (which ended the process); each call holds at most 8 MiB of characters.
    const jobs = await a.queued(20, 'x'.repeat(1_000_000));
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    try {
      const before = await scriptsRun(probe);
      await Promise.all(
        jobs.map((job) => {
          job.status = 'running';
          job.fence = 1;
          return a.step(job, 'job.started');
        }),
      );
      const calls = (await scriptsRun(probe)) - before;
      assert.ok(calls >= 3 && calls <= 4, `20 steps of 1 MB in ${calls} calls, expected 3 (8 MiB each)`);
      for (const job of jobs) {
        const stored = (await a.store.get(job.id))!;
        assert.deepEqual(
          [stored.status, stored.lastOffset, (stored.input as string).length],
          ['running', 2, 1_000_000],
        );
      }
    } finally {
      probe.disconnect();
    }
  });
});

for (const [queue, most] of [
  ['inloop', 5.5],
  ['bullmq', 9.5],
] as const)
  describe(`jobs that arrive one at a time, each run by an in-process handler (${queue})`, () => {
    it('cost the queue no look that finds nothing beyond the one ending each take', async () => {
      const prefix = `o${randomBytes(4).toString('hex')}`;
      await using a = await startNode({ redis: redis.url, redisPrefix: prefix, redisJobQueue: queue });
      a.node.jobs.handle('one', async () => 'done');
      const { Redis } = await import('ioredis');
      const probe = new Redis(redis.url);
      const run = async () => {
        const finished = new Promise<void>((resolve) => a.node.jobs.service.once('finished', () => resolve()));
        const created = await a.api('/v1/jobs', { body: { type: 'one', input: null } });
        assert.equal(created.status, 202, JSON.stringify(created.body));
        await finished;
      };
      try {
        await run();
        const jobs = 40;
        const before = await scriptsRun(probe);
        for (let i = 0; i < jobs; i++) await run();
        const perJob = ((await scriptsRun(probe)) - before) / jobs;
        // Each job: its three steps (queued, which on Inloop's queue also queues it; started;
        // succeeded, which there also ends it in the queue and asks for the next job), the take
        // that leases it, its run's duration sample: 5 on Inloop's queue. On BullMQ, 9: its add
        // and the notice that takes the job out of the outbox, the end that asks for the next
        // job, and a take that finds the queue empty after the first. Before the runner stopped
        // looking once a look came back short, and before its end stopped looking again after
        // its own look, a job cost 12 on BullMQ; before the first step queued the job, 7 on
        // Inloop's queue, and 6 before the last step ended it there.
        assert.ok(perJob <= most, `${perJob.toFixed(2)} scripts per job`);
      } finally {
        probe.disconnect();
      }
    });
  });

describe("a job created on one Redis server with Inloop's queue", () => {
  it('is in its line, announced, and never in the outbox, once its 202 came back', async () => {
    const prefix = `n${randomBytes(4).toString('hex')}`;
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
    // Served by remote workers, none polling: the job stays where its creation put it.
    a.node.jobs.define('remote');
    const { Redis } = await import('ioredis');
    const [probe, listener] = [new Redis(redis.url), new Redis(redis.url)];
    try {
      const heard: string[] = [];
      listener.on('message', (_channel: string, type: string) => heard.push(type));
      await listener.subscribe(`${prefix}:jobs:available`);
      const outbox: string[][] = [];
      // Sampled while the creations run: an entry would sit there until an add took it out.
      let creating = true;
      const sampler = (async () => {
        while (creating) {
          outbox.push(await probe.zrange(`${prefix}:jobs:outbox`, 0, -1));
          await new Promise((r) => setImmediate(r));
        }
      })();
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const created = await a.api('/v1/jobs', { body: { type: 'remote', input: i } });
        assert.equal(created.status, 202);
        ids.push(created.body.id as string);
        // Queued by the time its creator was answered, with nothing more sent.
        assert.equal(await probe.hget(`${prefix}:{q:remote}:jobs`, created.body.id as string), 'w');
      }
      creating = false;
      await sampler;
      assert.deepEqual(await probe.zrange(`${prefix}:{q:remote}:wait`, 0, -1), ids, 'in line, in order');
      assert.deepEqual(outbox.flat(), [], 'never in the outbox');
      await waitFor(() => heard.length >= 1, 5000, 'the type announced');
      assert.ok(heard.every((type) => type === 'remote'));
      const lease = await a.api('/v1/workers/lease', { body: { types: ['remote'], waitMs: 0 } });
      assert.equal(lease.body.job.id, ids[0], 'a worker asking at once gets the first');
    } finally {
      probe.disconnect();
      listener.disconnect();
    }
  });

  it('queues a job created twice with one idempotency key once, under one id', async () => {
    const prefix = `n${randomBytes(4).toString('hex')}`;
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
    a.node.jobs.define('remote');
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    try {
      const headers = { 'idempotency-key': 'order-1' };
      const first = await a.api('/v1/jobs', { body: { type: 'remote', input: 1 }, headers });
      const again = await a.api('/v1/jobs', { body: { type: 'remote', input: 1 }, headers });
      assert.equal(first.status, 202);
      assert.equal(again.body.id, first.body.id, 'the same job');
      await waitFor(async () => (await probe.zcard(`${prefix}:jobs:outbox`)) === 0, 5000, 'the outbox emptied');
      assert.deepEqual(await probe.zrange(`${prefix}:{q:remote}:wait`, 0, -1), [first.body.id], 'in line once');
      const leased = await a.api('/v1/workers/lease', { body: { types: ['remote'], waitMs: 0 } });
      assert.equal(leased.body.job.id, first.body.id);
      const none = await a.api('/v1/workers/lease', { body: { types: ['remote'], waitMs: 0 } });
      assert.equal(none.status, 204, 'nothing else to take');
    } finally {
      probe.disconnect();
    }
  });

  it('announces each type of the jobs created in one turn, not each job', async () => {
    const prefix = `n${randomBytes(4).toString('hex')}`;
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
    const types = ['red', 'green', 'blue'];
    for (const type of types) a.node.jobs.define(type);
    const { Redis } = await import('ioredis');
    const listener = new Redis(redis.url);
    try {
      const heard: string[] = [];
      listener.on('message', (_channel: string, type: string) => heard.push(type));
      await listener.subscribe(`${prefix}:jobs:available`);
      // Thirty creations asked for in one turn: their first steps share calls.
      const created = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          a.node.jobs.service.create({
            type: types[i % 3]!,
            input: i,
            size: null,
            idempotencyKey: null,
            createdBy: 'test',
          }),
        ),
      );
      assert.ok(created.every((c) => c.created));
      await waitFor(() => types.every((type) => heard.includes(type)), 5000, 'every type announced');
      await new Promise((r) => setTimeout(r, 200));
      for (const type of types) {
        const times = heard.filter((t) => t === type).length;
        assert.ok(times < 10, `${type} announced ${times} times for its 10 jobs`);
      }
    } finally {
      listener.disconnect();
    }
  });

  it('runs a waiting job whose line entry was lost, once a node starts', async () => {
    const prefix = `n${randomBytes(4).toString('hex')}`;
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    try {
      let id: string;
      {
        await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
        a.node.jobs.define('remote');
        id = (await a.api('/v1/jobs', { body: { type: 'remote', input: 1 } })).body.id as string;
      }
      // As a write that failed halfway would leave it: waiting, with no place in the line.
      assert.equal(await probe.zrem(`${prefix}:{q:remote}:wait`, id), 1);
      assert.equal(await probe.hget(`${prefix}:{q:remote}:jobs`, id), 'w');
      await using b = await startNode({ redis: redis.url, redisPrefix: prefix });
      b.node.jobs.handle('remote', async () => 'done');
      await waitFor(
        async () => (await b.api(`/v1/jobs/${id}`)).body.status === 'succeeded',
        15_000,
        'the job to run on the node that started',
      );
    } finally {
      probe.disconnect();
    }
  });
});

describe("a Redis backend whose broker is composed with BullMQ's queue", () => {
  it("runs its jobs: the broker queues nothing into Inloop's line that no one reads", async () => {
    const prefix = `c${randomBytes(4).toString('hex')}`;
    const own = await createRedisBackend({ url: redis.url, prefix });
    const bull = await createRedisBackend({ url: redis.url, prefix, jobQueue: 'bullmq' });
    const backend = {
      ...own,
      jobQueue: bull.jobQueue,
      close: async () => {
        await own.close();
        await bull.close();
      },
    };
    await using a = await startNode({ backend });
    a.node.jobs.handle('work', async () => 'done');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await a.api('/v1/jobs', { body: { type: 'work', input: i } })).body.id as string);
    for (const id of ids)
      await waitFor(
        async () => (await a.api(`/v1/jobs/${id}`)).body.status === 'succeeded',
        15_000,
        `job ${id} to run`,
      );
  });
});

describe('a job stored but never added to BullMQ', () => {
  it('is queued from the outbox by a live node, and runs: its node died after the 202, or the add failed', async () => {
    const prefix = `x${randomBytes(4).toString('hex')}`;
    // Stored with its first event, as a node answers 202 before it adds the job to BullMQ, and
    // then nothing more: the add never happens.
    await using gone = await nodeOn(prefix);
    const [job] = await gone.queued(1);
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
    a.node.jobs.handle('work', async () => 'done');
    const ended = await waitFor(
      async () => {
        const res = await a.api(`/v1/jobs/${job!.id}`);
        return res.body.status === 'succeeded' ? res.body : null;
      },
      15_000,
      'the job to be queued from the outbox and run',
    );
    assert.equal(ended.result, 'done');
    assert.equal(ended.attempt, 1);
  });
});

describe('a chain of jobs on one slot, each created just as the one before it ends', () => {
  it('starts each one when it is added, not at the next once-a-second look for due work', async () => {
    const prefix = `w${randomBytes(4).toString('hex')}`;
    await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
    const service = a.node.jobs.service;
    const createdAt = new Map<string, number>();
    const waits: number[] = [];
    const jobs = 60;
    let made = 0;
    const create = async () => {
      made++;
      const { job } = await service.start({
        type: 'chain',
        input: null,
        size: null,
        idempotencyKey: null,
        createdBy: 't',
      });
      createdAt.set(job.id, job.createdAt);
    };
    const done = new Promise<void>((resolve) => {
      let finished = 0;
      service.on('finished', () => ++finished === jobs && resolve());
    });
    a.node.jobs.handle(
      'chain',
      async (job) => {
        waits.push(Date.now() - (createdAt.get(job.id) ?? Date.now()));
        // The next job is added while this one's end is on its way: after the end's own look for
        // a next job found none, before its slot is free.
        if (made < jobs) setTimeout(() => void create(), Math.random());
        return null;
      },
      { concurrency: 1 },
    );
    await create();
    await done;
    // A wake lost while the only slot was busy leaves its job to the look made once a second for
    // due work (retries): 36 of 60 jobs of such a chain waited about a second that way. A wake kept
    // starts it within milliseconds; half that second is a bound no kept wake comes near.
    const late = waits.filter((ms) => ms > 500).length;
    assert.ok(late <= jobs / 10, `${late} of ${jobs} jobs waited over 500 ms: ${waits.join(' ')}`);
  });
});

/** What a queue still holds of `type`: waiting (or delayed) and held. */
async function heldIn(queue: 'inloop' | 'bullmq', prefix: string, type: string): Promise<Record<string, number>> {
  if (queue === 'bullmq') {
    const { Queue } = await import('bullmq');
    const bull = new Queue(type, { connection: { port: redis.port }, prefix: `${prefix}:bull` });
    try {
      const c = await bull.getJobCounts('wait', 'delayed', 'active', 'prioritized');
      return { waiting: c.wait! + c.delayed! + c.prioritized!, held: c.active! };
    } finally {
      await bull.close();
    }
  }
  const { Redis } = await import('ioredis');
  const raw = new Redis(redis.url);
  try {
    const states = Object.values(await raw.hgetall(`${prefix}:{q:${type}}:jobs`));
    return {
      waiting: states.filter((x) => x === 'w' || x === 'd').length,
      held: states.filter((x) => x !== 'w' && x !== 'd').length,
    };
  } finally {
    raw.disconnect();
  }
}

for (const queue of ['inloop', 'bullmq'] as const)
  describe(`a job cancelled as soon as its 202 came back (${queue})`, () => {
    it('is not left waiting in the queue: the add made after the answer reaches Redis before the removal', async () => {
      const prefix = `q${randomBytes(4).toString('hex')}`;
      await using a = await startNode({ redis: redis.url, redisPrefix: prefix, redisJobQueue: queue });
      // Served by remote workers, none polling: nothing would ever take a stray job out.
      a.node.jobs.define('remote');
      // Through the library API, each cancel made the moment its creation returns.
      const service = a.node.jobs.service;
      for (let i = 0; i < 20; i++) {
        const { job } = await service.start({
          type: 'remote',
          input: i,
          size: null,
          idempotencyKey: null,
          createdBy: 't',
        });
        assert.equal((await service.cancel(job.id)).status, 'cancelled');
      }
      // The add and the cancel's removal go out on one connection, in that order; an add that
      // came after the removal would leave a job waiting forever (with BullMQ's add delayed by
      // 30 ms, 15 of these 20 did).
      assert.deepEqual(await heldIn(queue, prefix, 'remote'), { waiting: 0, held: 0 });
    });
  });

describe("Inloop's scripts after the server lost them (SCRIPT FLUSH, a restart behind one address)", () => {
  it('still run in the order they were sent: an add then a removal leave nothing waiting', async () => {
    const prefix = `s${randomBytes(4).toString('hex')}`;
    const backend = await createRedisBackend({ url: redis.url, prefix });
    const queue = backend.jobQueue(backend.jobStore());
    const { Redis } = await import('ioredis');
    const raw = new Redis(redis.url);
    try {
      const now = Date.now();
      const job = (id: string) =>
        jobRecord(id, { type: 'remote', input: 1, createdAt: now, runAfter: now, createdBy: 't' });
      // Time for the node to load its scripts, so that it sends them by SHA1; then they are gone.
      await queue.remove(job('warm'), null);
      await new Promise((r) => setTimeout(r, 100));
      await raw.script('FLUSH');
      // The removal's script is sent again first (its NOSCRIPT), the add's not yet.
      await queue.remove(job('warm'), null);
      for (let i = 0; i < 20; i++) {
        const added = queue.add(job(`j${i}`));
        await new Promise((r) => setImmediate(r));
        await Promise.all([added, queue.remove(job(`j${i}`), null)]);
      }
      assert.deepEqual(await raw.hgetall(`${prefix}:{q:remote}:jobs`), {});
      assert.deepEqual(await raw.zrange(`${prefix}:{q:remote}:wait`, 0, -1), []);
    } finally {
      raw.disconnect();
      await backend.close();
    }
  });
});

describe('a script call in flight when the connection dropped, resent to a server that lost its scripts', () => {
  it('fails rather than running after what was sent once the connection came back', async () => {
    await using server = await startRedis();
    const redis = connect(server.url);
    const admin = connect(server.url);
    try {
      defineScript(redis, 'testAdd', `redis.call('RPUSH', KEYS[1], ARGV[1]) return 1`, 1);
      defineScript(redis, 'testRemove', `redis.call('DEL', KEYS[1]) return 1`, 1);
      const scripts = redis as unknown as Record<'testAdd' | 'testRemove', (...a: string[]) => Promise<unknown>>;
      await whenReady(redis);
      await new Promise((r) => setTimeout(r, 100)); // loaded: sent by SHA1 from now
      const id = String(await redis.client('ID'));
      // The add goes out behind a command that holds the connection, and is not answered...
      const held = redis.wait(1, 300).catch(() => {});
      const add = scripts.testAdd('job', 'x');
      await new Promise((r) => setTimeout(r, 50));
      // ... when the server loses its scripts and the connection drops (a restart behind one address).
      await admin.script('FLUSH');
      await admin.client('KILL', 'ID', id);
      await new Promise((r) => redis.once('ready', r));
      // Sent after the add: the add must not run after it.
      const [, added, removed] = await Promise.allSettled([held, add, scripts.testRemove('job')]);
      assert.equal(removed.status, 'fulfilled');
      assert.equal(added.status, 'rejected', 'the add, which did not run, failed');
      assert.deepEqual(await admin.lrange('job', 0, -1), [], 'nothing ran after the removal');
    } finally {
      redis.disconnect();
      admin.disconnect();
    }
  });
});

describe('a script sent directly on a connection its maker gave a key prefix', () => {
  it('writes its keys under the prefix, as every other call on that connection does', async () => {
    const prefix = `kp${randomBytes(3).toString('hex')}:`;
    const prefixed = connect(redis.url, { keyPrefix: prefix });
    const { Redis } = await import('ioredis');
    const plain = new Redis(redis.url);
    try {
      await whenReady(prefixed);
      defineScript(prefixed, 'testDirectSet', "return redis.call('SET', KEYS[1], ARGV[1])", 1, { direct: true });
      const set = (prefixed as unknown as { testDirectSet(k: string, v: string): Promise<string> }).testDirectSet;
      assert.equal(await set('k', 'v'), 'OK');
      assert.deepEqual([await plain.get(`${prefix}k`), await plain.exists('k')], ['v', 0]);
    } finally {
      prefixed.disconnect();
      plain.disconnect();
    }
  });
});
