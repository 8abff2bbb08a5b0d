import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startRedis } from '@inloop/testing';
import { readSse, startNode, waitFor } from './helpers.js';

type Summary = { id: string; type: string; status: string; retrying: boolean };

describe('the console APIs', () => {
  describe('GET /v1/jobs', () => {
    it('lists jobs newest first by type and status, page by page with a cursor', async () => {
      await using t = await startNode();
      t.node.jobs.handle('quick', async () => ({ ok: true }));
      t.node.jobs.define('waits');
      const quick: string[] = [];
      for (let i = 0; i < 5; i++) quick.push((await t.api('/v1/jobs', { body: { type: 'quick' } })).body.id);
      const waiting: string[] = [];
      for (let i = 0; i < 2; i++) waiting.push((await t.api('/v1/jobs', { body: { type: 'waits' } })).body.id);
      await waitFor(async () => (await t.api('/v1/jobs?status=succeeded')).body.jobs.length === 5);

      const seen: string[] = [];
      let cursor = '';
      for (let page = 0; page < 5; page++) {
        const r = await t.api(`/v1/jobs?type=quick&status=succeeded&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(r.status, 200);
        assert.ok(r.body.jobs.length <= 2);
        seen.push(...r.body.jobs.map((j: Summary) => j.id));
        if (!r.body.next) break;
        cursor = r.body.next;
      }
      assert.deepEqual(seen, [...quick].reverse());
      const queued = await t.api('/v1/jobs?status=queued');
      assert.deepEqual(
        queued.body.jobs.map((j: Summary) => j.id),
        [...waiting].reverse(),
      );
      assert.deepEqual((await t.api('/v1/jobs?type=waits&status=succeeded')).body, { jobs: [], next: null });
    });

    it('tells retrying jobs from queued ones', async () => {
      await using t = await startNode();
      let calls = 0;
      t.node.jobs.handle(
        'flaky',
        async () => {
          calls++;
          throw new Error('not this time');
        },
        { backoffMs: 60_000, maxAttempts: 3 },
      );
      const { id } = (await t.api('/v1/jobs', { body: { type: 'flaky' } })).body;
      await waitFor(async () => (await t.api('/v1/jobs?status=retrying')).body.jobs.length === 1);
      const [job] = (await t.api('/v1/jobs?status=retrying')).body.jobs as Summary[];
      assert.equal(job!.id, id);
      assert.equal(job!.status, 'queued');
      assert.equal(calls, 1);
    });

    it('finds running jobs flagged likely stuck', async () => {
      await using t = await startNode({ jobStuckAfterMs: 1000 });
      t.node.jobs.handle(
        'hangs',
        (_job, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null))),
        { expectedMs: 50 },
      );
      t.node.jobs.handle('quick', async () => null);
      const { id } = (await t.api('/v1/jobs', { body: { type: 'hangs' } })).body;
      await t.api('/v1/jobs', { body: { type: 'quick' } });
      const stuck = await waitFor(
        async () => {
          const { jobs } = (await t.api('/v1/jobs?status=stuck')).body as {
            jobs: (Summary & { likelyStuck: boolean })[];
          };
          return jobs.length > 0 ? jobs : null;
        },
        10_000,
        'a stuck job',
      );
      assert.deepEqual(
        stuck!.map((j) => [j.id, j.status, j.likelyStuck]),
        [[id, 'running', true]],
      );
      await t.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    });

    it('is refused without a key, and to a token without the admin operation', async () => {
      await using t = await startNode();
      const bare = await fetch(`${t.url}/v1/jobs`);
      assert.equal(bare.status, 401);
      const reader = await t.token('ann', [{ ops: ['subscribe', 'job:read'], topics: ['*'] }]);
      const refused = await t.api('/v1/jobs', { token: reader });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.code, 'forbidden');
      const admin = await t.token('ops', [{ ops: ['admin'], topics: ['console'] }]);
      assert.equal((await t.api('/v1/jobs', { token: admin })).status, 200);
      assert.equal((await t.api('/v1/console/nodes', { token: admin })).status, 200);
    });
  });

  describe('GET /v1/jobs/{id}/timeline', () => {
    it('gives every event with its stage and partials, the attempts, and the ETA told at creation against the actual', async () => {
      await using t = await startNode();
      t.node.jobs.handle('book', async (_job, ctx) => {
        await ctx.stage('write', { weight: 1 });
        await ctx.partial({ page: 1 });
        await ctx.message('half way');
        await ctx.stage('draw', { weight: 1 });
        return { pages: 1 };
      });
      const { id } = (await t.api('/v1/jobs', { body: { type: 'book' } })).body;
      await waitFor(async () => (await t.api(`/v1/jobs/${id}`)).body.status === 'succeeded');
      const r = await t.api(`/v1/jobs/${id}/timeline`);
      assert.equal(r.status, 200);
      const types = r.body.events.map((e: { type: string }) => e.type);
      assert.equal(types[0], 'job.queued');
      for (const t of ['job.started', 'job.stage', 'job.partial', 'job.message', 'job.succeeded'])
        assert.ok(types.includes(t), t);
      assert.deepEqual(r.body.events.find((e: { type: string }) => e.type === 'job.partial').partial, { page: 1 });
      assert.deepEqual(
        [...new Set(r.body.events.map((e: { stage: string | null }) => e.stage).filter(Boolean))],
        ['write', 'draw'],
      );
      assert.equal(r.body.attempts.length, 1);
      assert.ok(r.body.eta.promisedP50Ms > 0);
      assert.ok(r.body.eta.promisedP90Ms >= r.body.eta.promisedP50Ms);
      assert.equal(r.body.eta.actualMs, r.body.job.finishedAt - r.body.job.createdAt);
      assert.equal(r.body.truncated, false);
      assert.equal((await t.api('/v1/jobs/nosuchjob/timeline')).status, 404);
    });

    it('reads the status from the newest event when the record is saved after it (as on a cluster)', async () => {
      await using t = await startNode();
      t.node.jobs.define('waits');
      const { id } = (await t.api('/v1/jobs', { body: { type: 'waits' } })).body;
      const queued = (await t.api(`/v1/jobs/${id}`)).body;
      // A node on a cluster publishes a change's event, then saves the record: read between the two.
      const job = { ...queued, status: 'running', startedAt: Date.now(), attempt: 1, message: 'warming up' };
      delete job.partials;
      delete job.epoch;
      delete job.offset;
      await t.node.hub.publish(queued.topic, { data: { type: 'job.started', job }, from: 'test' });
      await t.node.hub.publish(queued.topic, {
        data: { type: 'job.partial', job, partial: { page: 1 } },
        from: 'test',
      });
      const r = await t.api(`/v1/jobs/${id}/timeline`);
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.body.events.map((e: { type: string; status: string }) => [e.type, e.status]),
        [
          ['job.queued', 'queued'],
          ['job.started', 'running'],
          ['job.partial', 'running'],
        ],
      );
      assert.equal(r.body.job.status, 'running');
      assert.equal(r.body.job.message, 'warming up');
      assert.deepEqual(r.body.job.partials, [{ page: 1 }]);
      assert.equal(r.body.job.offset, 3);
      assert.equal(r.body.job.epoch, queued.epoch);
    });
  });

  describe('a job that failed for good', () => {
    it('shows its final error, not the retry message of the attempt before', async () => {
      await using t = await startNode();
      t.node.jobs.handle(
        'flaky',
        async () => {
          throw new Error('broken for good');
        },
        { backoffMs: 10, maxAttempts: 2 },
      );
      const { id } = (await t.api('/v1/jobs', { body: { type: 'flaky' } })).body;
      await waitFor(async () => (await t.api(`/v1/jobs/${id}`)).body.status === 'failed', 10_000, 'failed');
      const job = (await t.api(`/v1/jobs/${id}`)).body;
      assert.equal(job.message, null);
      assert.match(job.error.message, /broken for good/);
      const { events } = (await t.api(`/v1/jobs/${id}/timeline`)).body as {
        events: { type: string; message: string | null }[];
      };
      assert.equal(events.find((e) => e.type === 'job.failed')!.message, null);
      assert.match(events.find((e) => e.type === 'job.retrying')!.message!, /^Retrying: /);
      // The second attempt started without the first one's retry message.
      assert.equal(events.filter((e) => e.type === 'job.started')[1]!.message, null);
    });
  });

  describe('POST /v1/jobs/{id}/retry', () => {
    it('runs an ended job again as a new job, and refuses a live one', async () => {
      await using t = await startNode();
      t.node.jobs.define('remote');
      const { id } = (await t.api('/v1/jobs', { body: { type: 'remote', input: { n: 7 } } })).body;
      const live = await t.api(`/v1/jobs/${id}/retry`, { method: 'POST' });
      assert.equal(live.status, 409);
      assert.equal(live.body.code, 'job_not_finished');
      await t.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
      const again = await t.api(`/v1/jobs/${id}/retry`, { method: 'POST' });
      assert.equal(again.status, 202);
      assert.notEqual(again.body.id, id);
      assert.equal(again.body.type, 'remote');
      assert.equal(again.headers.get('location'), `/v1/jobs/${again.body.id}`);
      const lease = await t.api('/v1/workers/lease', { body: { types: ['remote'], waitMs: 0 } });
      assert.equal(lease.body.job.id, again.body.id);
      assert.deepEqual(lease.body.job.input, { n: 7 });
    });

    it('returns the same new job for the same Idempotency-Key, as POST /v1/jobs does', async () => {
      await using t = await startNode();
      t.node.jobs.define('remote');
      const { id } = (await t.api('/v1/jobs', { body: { type: 'remote' } })).body;
      await t.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
      const headers = { 'idempotency-key': `retry-${id}` };
      const first = await t.api(`/v1/jobs/${id}/retry`, { method: 'POST', headers });
      const second = await t.api(`/v1/jobs/${id}/retry`, { method: 'POST', headers });
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body.id, first.body.id);
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      const queued = (await t.api('/v1/jobs?type=remote&status=queued')).body.jobs.map((j: Summary) => j.id);
      assert.deepEqual(queued, [first.body.id]);
    });
  });

  describe('job types', () => {
    it('lists the types and charts one: durations histogram, recent runs, series', async () => {
      await using t = await startNode();
      t.node.jobs.handle('quick', async () => null);
      t.node.jobs.define('other');
      for (let i = 0; i < 4; i++) await t.api('/v1/jobs', { body: { type: 'quick' } });
      await waitFor(async () => (await t.api('/v1/jobs?status=succeeded')).body.jobs.length === 4);
      const list = await t.api('/v1/job-types');
      assert.deepEqual(
        list.body.types.map((x: { type: string }) => x.type),
        ['quick', 'other'],
      );
      const stats = (await waitFor(async () => {
        const s = await t.api('/v1/job-types/quick/stats');
        return s.body.durations.samples === 4 ? s : null;
      }))!;
      assert.equal(
        stats.body.durations.counts.reduce((a: number, b: number) => a + b, 0),
        4,
      );
      assert.equal(stats.body.recent.length, 4);
      assert.ok(stats.body.recent.every((r: { waitMs: number; runMs: number }) => r.waitMs >= 0 && r.runMs >= 0));
      assert.ok(Array.isArray(stats.body.series));
      assert.ok(stats.body.estimate.p90Ms >= stats.body.estimate.p50Ms);
      assert.equal((await t.api('/v1/job-types/nope/stats')).status, 404);
    });
  });

  describe('job types on a two-node cluster', () => {
    it('lists and charts on one node a type only the other defines, from the shared backend', async () => {
      await using redis = await startRedis();
      const shared = { redis: redis.url, redisPrefix: `types${randomBytes(3).toString('hex')}` };
      await using a = await startNode(shared);
      await using b = await startNode(shared);
      a.node.jobs.handle('alpha', async () => null);
      b.node.jobs.define('beta');
      for (let i = 0; i < 3; i++) await a.api('/v1/jobs', { body: { type: 'alpha' } });
      await waitFor(async () => (await b.api('/v1/jobs?status=succeeded')).body.jobs.length === 3);

      const stats = await b.api('/v1/job-types/alpha/stats');
      assert.equal(stats.status, 200, JSON.stringify(stats.body));
      assert.equal(stats.body.type, 'alpha');
      assert.equal(stats.body.durations.samples, 3);
      assert.equal(stats.body.recent.length, 3);
      // The types come from the nodes' reports on the board (each node posts every few seconds).
      const types = await waitFor(
        async () => {
          const names = (await b.api('/v1/job-types')).body.types.map((x: { type: string }) => x.type) as string[];
          return names.includes('alpha') ? names : null;
        },
        15_000,
        'alpha listed on b',
      );
      assert.deepEqual(types, ['beta', 'alpha']);
      const none = await b.api('/v1/job-types/nope/stats');
      assert.equal(none.status, 404);
    });

    it('marks a node whose last report is older than two intervals as not reporting, with its age', async () => {
      await using redis = await startRedis();
      const prefix = `nodes${randomBytes(3).toString('hex')}`;
      await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
      const fresh = (await a.api('/v1/console/nodes')).body.nodes[0];
      assert.equal(fresh.reporting, true);
      assert.ok(fresh.reportAgeMs >= 0 && fresh.reportAgeMs < 10_000);
      // A node killed 12 s ago: its last report stays on the board (two intervals are 10 s).
      const at = Date.now() - 12_000;
      const report = { ...(await a.api('/v1/console/nodes')).body.nodes[0], node: 'killed', at, series: [] };
      const entry = JSON.stringify({ ...report, cadenceMs: 1000, topics: [], presence: [], budget: null });
      await redis.cli('HSET', `${prefix}:console:nodes`, 'killed', `${at} ${entry}`);
      const nodes = (await a.api('/v1/console/nodes')).body.nodes as {
        node: string;
        reporting: boolean;
        reportAgeMs: number;
      }[];
      const killed = nodes.find((n) => n.node === 'killed')!;
      assert.equal(killed.reporting, false);
      assert.ok(killed.reportAgeMs >= 12_000);
      assert.equal(nodes.find((n) => n.node === a.node.nodeId)!.reporting, true);
    });
  });

  describe('the interactivity budget, topics and nodes', () => {
    it('counts the longest silence of a watcher that saw a job to its end, and its first event', async () => {
      await using t = await startNode({ cadenceMs: 200 });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      t.node.jobs.handle('slow', async () => {
        await gate;
        return null;
      });
      const created = (await t.api('/v1/jobs', { body: { type: 'slow' } })).body;
      const stream = await fetch(`${t.url}/v1/jobs/${created.id}/stream?token=${created.token}`);
      setTimeout(release, 700);
      const events = await readSse(stream, (es) => es.some((e) => e.event === 'job.succeeded'));
      assert.ok(events.some((e) => e.event === 'job.tick'));
      const budget = await waitFor(async () => {
        const b = (await t.api('/v1/console/budget')).body;
        return b.longestSilence.count >= 1 ? b : null;
      });
      assert.equal(budget.cadenceMs, 200);
      assert.equal(budget.nodes, 1);
      assert.equal(budget.longestSilence.counts.length, budget.longestSilence.le.length + 1);
      assert.ok(budget.gaps.count >= 1);
      assert.equal(budget.firstEvent.count, 1);
    });

    it('shows the busiest topics, connections by transport, presence and the node', async () => {
      await using t = await startNode();
      const token = await t.token('ann', [{ ops: ['subscribe', 'presence', 'publish'], topics: ['room'] }]);
      const client = t.client(token);
      client.subscribe('room');
      client.presence('room');
      await waitFor(async () => (await t.api('/v1/console/activity')).body.subscriptions === 1);
      for (let i = 0; i < 3; i++) await t.api('/v1/topics/room/messages', { body: { data: i } });
      const a = await waitFor(async () => {
        const body = (await t.api('/v1/console/activity')).body;
        return body.presence.length === 1 ? body : null;
      });
      assert.equal(a.connections.ws, 1);
      const room = a.topics.find((x: { topic: string }) => x.topic === 'room');
      assert.equal(room.publications, 3);
      assert.equal(room.subscribers, 1);
      assert.deepEqual(a.presence[0], { topic: 'room', members: 1, connections: 1 });
      assert.ok(a.series.length >= 1);
      const nodes = (await t.api('/v1/console/nodes')).body;
      assert.equal(nodes.nodes.length, 1);
      assert.equal(nodes.nodes[0].node, nodes.self);
      assert.equal(nodes.nodes[0].ready, true);
    });
  });

  describe('the busiest topics, while a job streams its answer', () => {
    it('lists the job’s topic but not the node-internal topic its appends travel on', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
      const lease = await t.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 1000, leaseMs: 60_000 } });
      for (let i = 0; i < 30; i++) {
        const r = await t.api(`/v1/jobs/${created.body.id}/streams/answer`, {
          body: { lease: lease.body.lease.token, append: `w${i} ` },
        });
        assert.equal(r.status, 200);
      }
      await t.api('/v1/topics/room/messages', { body: { data: 'hello' } });
      const a = (await t.api('/v1/console/activity')).body;
      const topics = a.topics.map((x: { topic: string }) => x.topic);
      assert.ok(topics.includes('room'), 'the plain topic is counted');
      assert.deepEqual(
        topics.filter((topic: string) => topic.startsWith('stream:')),
        [],
      );
      assert.equal((await t.api(`/v1/jobs/${created.body.id}/streams/answer`)).body.length, 110); // w0 .. w29, each with a space
    });
  });

  describe('rate-limit refusals over time', () => {
    it('counts them in the interval they happened', async () => {
      await using t = await startNode({ publishRatePerSec: 1, publishBurst: 1 });
      const token = await t.token('ann', [{ ops: ['publish'], topics: ['room'] }]);
      const codes: number[] = [];
      for (let i = 0; i < 5; i++)
        codes.push((await t.api('/v1/topics/room/messages', { token, body: { data: i } })).status);
      const refused = codes.filter((c) => c === 429).length;
      assert.ok(refused >= 3);
      // The next sample (every 5 s) carries them.
      const a = await waitFor(
        async () => {
          const body = (await t.api('/v1/console/activity')).body;
          return body.series.some((p: { rateLimited: number }) => p.rateLimited > 0) ? body : null;
        },
        10_000,
        'a sample with the refusals',
      );
      assert.equal(
        a!.series.reduce((n: number, p: { rateLimited: number }) => n + p.rateLimited, 0),
        refused,
      );
    });
  });

  describe('documentation and the pages', () => {
    it('puts every console API in /openapi.json', async () => {
      await using t = await startNode();
      const spec = (await t.api('/openapi.json')).body;
      for (const path of [
        '/v1/jobs',
        '/v1/jobs/stream',
        '/v1/jobs/{id}/timeline',
        '/v1/jobs/{id}/retry',
        '/v1/job-types',
        '/v1/job-types/{type}/stats',
        '/v1/console/budget',
        '/v1/console/activity',
        '/v1/console/nodes',
      ])
        assert.ok(spec.paths[path], path);
      assert.ok(spec.paths['/v1/jobs'].get.parameters.some((p: { name: string }) => p.name === 'cursor'));
      assert.ok(spec.paths['/v1/jobs/{id}/timeline'].get.responses['404'], 'timeline 404');
      assert.ok(spec.paths['/v1/jobs/{id}/retry'].post.responses['404'], 'retry 404');
      assert.ok(spec.paths['/v1/job-types/{type}/stats'].get.responses['404'], 'stats 404');
      assert.match(spec.paths['/v1/jobs/stream'].get.description, /`job` event/);
      assert.match(JSON.stringify(spec.paths['/v1/jobs'].get.responses['200']), /"offset"/);
    });

    it('refuses a wrong status naming the allowed values once, and a cursor that is not a job id', async () => {
      await using t = await startNode();
      t.node.jobs.define('waits');
      await t.api('/v1/jobs', { body: { type: 'waits' } });
      const bogus = await t.api('/v1/jobs?status=bogus');
      assert.equal(bogus.status, 400);
      assert.equal(bogus.body.code, 'bad_request');
      assert.equal(
        bogus.body.detail,
        'querystring/status must be one of: queued, running, retrying, succeeded, failed, cancelled, stuck',
      );
      for (const cursor of ['abc', 'zzzz', '!!']) {
        const r = await t.api(`/v1/jobs?cursor=${cursor}`);
        assert.equal(r.status, 400, cursor);
        assert.equal(r.body.code, 'bad_request');
        assert.match(r.body.detail, /cursor/);
      }
    });

    it('queries in the Grafana dashboard only metrics the node exports', async () => {
      // With a webhook endpoint (never called here), so that the webhook metrics exist too.
      await using t = await startNode({
        processMetrics: true,
        webhooks: [
          {
            id: 'backend',
            url: 'http://127.0.0.1:9/',
            secrets: [`whsec_${'A'.repeat(32)}`],
            events: ['job.succeeded'],
          },
        ],
      });
      const exported = new Set(
        [...((await t.api('/metrics')).body as string).matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]),
      );
      const dashboard = readFileSync(new URL('../../../docs/grafana/inloop.json', import.meta.url), 'utf8');
      const queried = new Set(
        [...dashboard.matchAll(/inloop_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')),
      );
      assert.ok(queried.size > 20);
      for (const name of queried) assert.ok(exported.has(name), `${name} is not exported`);
    });

    it('serves /console as a page without the key in it, and not at all with console: false', async () => {
      await using on = await startNode();
      const page = await fetch(`${on.url}/console`);
      if (page.status === 200) {
        const html = await page.text();
        assert.match(html, /<inloop-console>/);
        assert.ok(!html.includes(on.node.apiKey));
        assert.equal(page.headers.get('x-frame-options'), 'DENY');
      } else assert.equal(page.status, 404); // not built: `npm run build` makes the pages
      await using off = await startNode({ console: false });
      assert.equal((await fetch(`${off.url}/console`)).status, 404);
      assert.equal((await off.api('/v1/console/nodes')).status, 200);
    });
  });
});
