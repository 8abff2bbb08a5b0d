import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobQueue, JobRecord, TakenJob } from '@inloop/server/ports';
import { sleep, waitFor } from '../wait.js';
import { jobRecord } from './stores.js';

/**
 * One shared queue, as several nodes see it: `node()` opens another process's view of the same
 * queue (same Redis, same prefix), `insert` stores a job record where the queue can find it (a
 * queue's outbox flush reads records), `dispose` closes everything.
 */
export interface SharedQueue {
  node(): Promise<JobQueue>;
  insert(job: JobRecord): Promise<void>;
  dispose(): Promise<void>;
}

const lease = () => 60_000;

/**
 * The guarantees of the JobQueue port (see ports/job-queue.ts) for a queue that holds its jobs
 * (`holdsJobs`) and is shared by several nodes, run against every such implementation.
 */
export function describeJobQueueConformance(name: string, open: () => Promise<SharedQueue>): void {
  const added = async (shared: SharedQueue, queue: JobQueue, ids: string[], type = 'work') => {
    for (const id of ids) {
      const job = jobRecord(id, { type });
      await shared.insert(job);
      await queue.add(job);
    }
  };
  const ids = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`);

  describe(`${name} job queue`, () => {
    it('hands each job to one taker: two nodes taking at once share the jobs, none twice', async () => {
      const shared = await open();
      try {
        const [a, b] = [await shared.node(), await shared.node()];
        const all = ids(40, 'x');
        await added(shared, a, all);
        const taken: TakenJob[] = [];
        for (let round = 0; round < 20; round++) {
          const [ta, tb] = await Promise.all([a.take(['work'], 3, lease), b.take(['work'], 3, lease)]);
          taken.push(...ta, ...tb);
        }
        assert.deepEqual(taken.map((t) => t.id).sort(), [...all].sort(), 'every job once');
        assert.equal(new Set(taken.map((t) => t.token)).size, taken.length, 'each take has its own token');
        assert.deepEqual(await a.take(['work'], 10, lease), [], 'nothing left');
      } finally {
        await shared.dispose();
      }
    });

    it('takes jobs in the order they were added, and an id added twice once', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        await added(shared, queue, ['o1', 'o2', 'o3']);
        await queue.add(jobRecord('o2', { type: 'work' }));
        const taken = await queue.take(['work'], 10, lease);
        assert.deepEqual(
          taken.map((t) => t.id),
          ['o1', 'o2', 'o3'],
        );
      } finally {
        await shared.dispose();
      }
    });

    it('renews only for the token that holds the job', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        await added(shared, queue, ['r1']);
        const [held] = await queue.take(['work'], 1, lease);
        assert.equal(await queue.renew(held!, held!.token, 60_000), true);
        assert.equal(await queue.renew(held!, 'not-the-token', 60_000), false);
      } finally {
        await shared.dispose();
      }
    });

    it('reports a job whose lock lapsed once, across nodes, and lets it be taken again', async () => {
      const shared = await open();
      try {
        const nodes = [await shared.node(), await shared.node()];
        const reported: string[] = [];
        for (const node of nodes) node.onStalled((id) => reported.push(id));
        await added(shared, nodes[0]!, ['s1']);
        const [held] = await nodes[0]!.take(['work'], 1, () => 300);
        assert.equal(held?.id, 's1');
        await waitFor(
          async () => {
            for (const node of nodes) {
              const { stalled } = await node.sweep(['work'], Date.now(), () => 300);
              reported.push(...stalled);
            }
            return reported.length > 0;
          },
          15_000,
          'the stall reported',
        );
        // Every node keeps sweeping a while: the stall is reported once all the same.
        for (let i = 0; i < 15; i++) {
          for (const node of nodes) reported.push(...(await node.sweep(['work'], Date.now(), () => 300)).stalled);
          await sleep(100);
        }
        assert.deepEqual(reported, ['s1']);
        assert.equal(await nodes[0]!.renew(held!, held!.token, 60_000), false, 'the old holder lost it');
        const again = await nodes[1]!.take(['work'], 1, lease);
        assert.equal(again[0]?.id, 's1');
        assert.notEqual(again[0]!.token, held!.token);
      } finally {
        await shared.dispose();
      }
    });

    it('keeps a renewed lock past its first lease, whatever the sweeping node thinks the time is', async () => {
      const shared = await open();
      try {
        const nodes = [await shared.node(), await shared.node()];
        const reported: string[] = [];
        for (const node of nodes) node.onStalled((id) => reported.push(id));
        await added(shared, nodes[0]!, ['l1', 'l2']);
        const held = await nodes[0]!.take(['work'], 2, () => 300);
        assert.equal(held.length, 2);
        assert.equal(await nodes[0]!.renew(held[0]!, held[0]!.token, 60_000), true);
        assert.equal(await nodes[0]!.renew(held[1]!, held[1]!.token, 60_000), true);
        // One node's clock runs two minutes ahead: the locks are Redis's to time, not its.
        for (let i = 0; i < 12; i++) {
          reported.push(...(await nodes[1]!.sweep(['work'], Date.now() + 120_000, () => 300)).stalled);
          reported.push(...(await nodes[0]!.sweep(['work'], Date.now(), () => 300)).stalled);
          await sleep(100);
        }
        assert.deepEqual(reported, [], 'no live job reported stalled');
        assert.equal(await nodes[0]!.renew(held[0]!, held[0]!.token, 60_000), true, 'still held');
        assert.deepEqual(await nodes[1]!.take(['work'], 10, lease), []);
      } finally {
        await shared.dispose();
      }
    });

    it('ignores an add of a job it holds, and a retry or renewal under a token that does not hold it', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        await added(shared, queue, ['h1']);
        const [held] = await queue.take(['work'], 1, lease);
        await queue.add(jobRecord('h1', { type: 'work' }));
        assert.deepEqual(await queue.take(['work'], 10, lease), [], 'an add does not put a held job back');
        await queue.retry(held!, 'not-the-token', Date.now());
        assert.deepEqual(await queue.take(['work'], 10, lease), [], 'a retry needs the token that holds it');
        assert.equal(await queue.renew(held!, held!.token, 60_000), true, 'still held by its taker');
      } finally {
        await shared.dispose();
      }
    });

    it('says a retry became due, and drops a delayed retry that is removed', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        await added(shared, queue, ['a1', 'a2']);
        const [first, second] = await queue.take(['work'], 2, lease);
        await queue.retry(first!, first!.token, Date.now() + 300);
        await queue.retry(second!, second!.token, Date.now() + 300);
        await queue.remove(second!, null);
        // Looked for only when a sweep says the type has due work: a queue that never says so
        // leaves its retries to an unrelated wake.
        let taken: TakenJob[] = [];
        await waitFor(
          async () => {
            if ((await queue.sweep(['work'], Date.now(), lease)).available.includes('work'))
              taken = await queue.take(['work'], 10, lease);
            return taken.length > 0;
          },
          10_000,
          'the due retry announced by a sweep, and taken',
        );
        assert.deepEqual(
          taken.map((t) => t.id),
          ['a1'],
          'the removed one is gone',
        );
        assert.deepEqual(await queue.take(['work'], 10, lease), []);
      } finally {
        await shared.dispose();
      }
    });

    it('adopts the unfinished jobs its store has: a queued one at once, a running one once its lease lapsed', async (t) => {
      const shared = await open();
      try {
        const queue = await shared.node();
        if (!queue.adopt) return t.skip('no adopt');
        // Records another queue held (a switch of queue): never added to this one.
        const queued = jobRecord('q1', { type: 'work' });
        const lapse = Date.now() + 800;
        const running = jobRecord('r1', {
          type: 'work',
          status: 'running',
          attempt: 1,
          fence: 1,
          lease: { token: 'their-token', fence: 1, worker: 'w', expiresAt: lapse },
        });
        await queue.adopt(queued);
        await queue.adopt(running);
        assert.deepEqual(
          (await queue.take(['work'], 10, lease)).map((x) => x.id),
          ['q1'],
          'the queued one at once; the running one not before its lease lapsed',
        );
        await queue.adopt(queued);
        assert.deepEqual(await queue.take(['work'], 10, lease), [], 'adopting a job it holds changes nothing');
        let again: TakenJob[] = [];
        await waitFor(
          async () => {
            await queue.sweep(['work'], Date.now(), lease);
            again = await queue.take(['work'], 10, lease);
            return again.length > 0;
          },
          15_000,
          'the running job taken once its lease lapsed',
        );
        assert.deepEqual(
          again.map((x) => x.id),
          ['r1'],
        );
        assert.ok(Date.now() >= lapse - 50, 'not before');
      } finally {
        await shared.dispose();
      }
    });

    it('holds a retried job back until its time', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        await added(shared, queue, ['d1']);
        const [held] = await queue.take(['work'], 1, lease);
        const runAt = Date.now() + 1500;
        await queue.retry(held!, held!.token, runAt);
        assert.deepEqual(await queue.take(['work'], 1, lease), [], 'not before its time');
        let again: TakenJob[] = [];
        await waitFor(
          async () => {
            await queue.sweep(['work'], Date.now(), lease);
            again = await queue.take(['work'], 1, lease);
            return again.length > 0;
          },
          15_000,
          'the retried job taken again',
        );
        assert.equal(again[0]!.id, 'd1');
        assert.ok(Date.now() >= runAt - 50, 'taken once due');
      } finally {
        await shared.dispose();
      }
    });

    it('never hands out a removed job, held or waiting', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        await added(shared, queue, ['m1', 'm2', 'm3']);
        const [held] = await queue.take(['work'], 1, lease);
        await queue.remove(held!, held!.token, 'succeeded');
        await queue.remove({ id: 'm2', type: 'work' }, null);
        assert.deepEqual(
          (await queue.take(['work'], 10, lease)).map((t) => t.id),
          ['m3'],
        );
        assert.equal(await queue.renew(held!, held!.token, 60_000), false);
      } finally {
        await shared.dispose();
      }
    });

    it('ends a job and takes the next in one step, under the same token', async (t) => {
      const shared = await open();
      try {
        const queue = await shared.node();
        if (!queue.completeAndTake) return t.skip('no completeAndTake');
        await added(shared, queue, ['c1', 'c2']);
        const [first] = await queue.take(['work'], 1, lease);
        const next = await queue.completeAndTake(first!, first!.token, 60_000);
        assert.deepEqual(next, { id: 'c2', type: 'work', token: first!.token });
        assert.equal(await queue.renew(next!, first!.token, 60_000), true, 'the next is held under that token');
        assert.equal(await queue.completeAndTake(next!, next!.token, 60_000), null, 'none left: null');
        assert.equal(await queue.renew(next!, next!.token, 60_000), false, 'the last one is out');
        await added(shared, queue, ['c3', 'c4']);
        const [third] = await queue.take(['work'], 1, lease);
        assert.equal(
          await queue.completeAndTake(third!, 'stale-token', 60_000),
          undefined,
          'a token that no longer held the job looks for nothing',
        );
        assert.deepEqual(
          (await queue.take(['work'], 10, lease)).map((x) => x.id),
          ['c4'],
          'and the job it named is out all the same',
        );
      } finally {
        await shared.dispose();
      }
    });

    it("tells every node of another's add, and keeps jobs when the node that added them closes", async () => {
      const shared = await open();
      try {
        const [a, b] = [await shared.node(), await shared.node()];
        const heard: string[] = [];
        b.onAvailable((type) => heard.push(type));
        await added(shared, a, ['k1', 'k2'], 'kept');
        await waitFor(() => heard.includes('kept'), 5000, "B told of A's add");
        await a.close();
        const c = await shared.node();
        assert.deepEqual(
          (await c.take(['kept'], 10, lease)).map((t) => t.id),
          ['k1', 'k2'],
        );
      } finally {
        await shared.dispose();
      }
    });

    it('queues a stored job whose add never came, from the outbox, on any node', async () => {
      const shared = await open();
      try {
        const queue = await shared.node();
        // Stored with its outbox entry (the job's first step) but never added: its node died.
        await shared.insert(jobRecord('lost', { type: 'work', createdAt: Date.now() - 60_000 }));
        let taken: TakenJob[] = [];
        await waitFor(
          async () => {
            await queue.sweep(['work'], Date.now(), lease);
            taken = await queue.take(['work'], 1, lease);
            return taken.length > 0;
          },
          20_000,
          'the job queued from the outbox',
        );
        assert.equal(taken[0]!.id, 'lost');
      } finally {
        await shared.dispose();
      }
    });
  });
}
