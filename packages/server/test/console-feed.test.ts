import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { SseParser, type JobChange, type JobSummary } from '@inloop/protocol';
import { startRedis, type TestRedis } from '@inloop/testing';
import { startNode, waitFor, type TestNode } from './helpers.js';
import { gatedJobs } from './console-jobs.js';

type FeedEvent = { event: string; data: any };

/**
 * `GET /v1/jobs/stream` read as it comes: `events` grows while the test goes on; `until` waits
 * for what has arrived to satisfy a check.
 */
async function openFeed(t: TestNode, credential: { header?: string; query?: string } = { header: t.node.apiKey }) {
  const controller = new AbortController();
  const query = credential.query === undefined ? '' : `?token=${encodeURIComponent(credential.query)}`;
  const res = await fetch(`${t.url}/v1/jobs/stream${query}`, {
    headers: credential.header === undefined ? {} : { authorization: `Bearer ${credential.header}` },
    signal: controller.signal,
  });
  const events: FeedEvent[] = [];
  const pump = (async () => {
    if (!res.ok || !res.body) return;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        for (const e of parser.feed(decoder.decode(chunk, { stream: true })))
          events.push({ event: e.event, data: JSON.parse(e.data) });
    } catch {
      // aborted
    }
  })();
  return {
    res,
    events,
    /** The changes of one job, in the order they arrived. */
    changes: (id: string) =>
      events.filter((e) => e.event === 'job' && e.data.job.id === id).map((e) => e.data as JobChange),
    until: (check: (events: FeedEvent[]) => boolean, what: string) => waitFor(() => check(events), 10_000, what),
    async [Symbol.asyncDispose]() {
      controller.abort();
      await pump;
    },
  };
}

const ended = (feed: { changes: (id: string) => JobChange[] }, id: string) =>
  feed.changes(id).some((c) => c.event === 'job.succeeded');

describe('GET /v1/jobs/stream (every job’s changes, live)', () => {
  it('sends, after `ready`, each stored event of any job as the job’s row, the last the row the list gives', async () => {
    await using t = await startNode();
    const release = gatedJobs(t.node, 'render');
    t.node.jobs.define('remote');
    await using feed = await openFeed(t);
    assert.equal(feed.res.status, 200);
    assert.match(feed.res.headers.get('content-type')!, /^text\/event-stream/);
    await feed.until((es) => es.some((e) => e.event === 'ready'), 'ready');
    assert.deepEqual(feed.events[0], { event: 'ready', data: { node: t.node.nodeId } });

    const render = (await t.api('/v1/jobs', { body: { type: 'render' } })).body.id as string;
    const remote = (await t.api('/v1/jobs', { body: { type: 'remote' } })).body.id as string;
    await feed.until(() => feed.changes(render).some((c) => c.event === 'job.stage'), 'the stage of render');
    await feed.until(() => feed.changes(remote).length > 0, 'remote queued');
    release();
    await feed.until(() => ended(feed, render), 'render succeeded');

    const changes = feed.changes(render);
    assert.deepEqual(
      changes.map((c) => c.event),
      ['job.queued', 'job.started', 'job.stage', 'job.succeeded'],
    );
    const offsets = changes.map((c) => c.job.offset);
    assert.deepEqual(
      offsets,
      [...offsets].sort((a, b) => a - b),
    );
    assert.equal(new Set(offsets).size, offsets.length);
    const running = changes.find((c) => c.event === 'job.stage')!.job;
    assert.equal(running.status, 'running');
    assert.equal(running.stage, 'draft');
    const last = changes.at(-1)!.job;
    assert.equal(last.status, 'succeeded');
    assert.equal(last.progress, 1);
    assert.ok(last.runMs !== null && last.runMs >= 0);

    // The last change is the row the list shows (the promise, which an ended job's event no
    // longer carries, is the one the earlier changes told).
    const listed = (await waitFor(async () => {
      const row = ((await t.api('/v1/jobs?type=render')).body.jobs as JobSummary[])[0];
      return row?.offset === last.offset ? row : null;
    }))!;
    assert.deepEqual({ ...last, promised: listed.promised }, listed);
    assert.deepEqual(running.promised, listed.promised);

    const [queued] = feed.changes(remote);
    assert.equal(queued!.event, 'job.queued');
    assert.equal(queued!.job.status, 'queued');
    assert.equal(queued!.job.type, 'remote');
    assert.ok(queued!.job.promised && queued!.job.promised.p90Ms >= queued!.job.promised.p50Ms);
    // The streams of the app's topics are not listed among them.
    const topics = (await t.api('/v1/console/activity')).body.topics as { topic: string }[];
    assert.deepEqual(
      topics.filter((x) => x.topic.startsWith('stream:')),
      [],
    );
  });

  it('refuses a caller without credentials, a token without admin and an API key in the URL; an admin token in ?token= may watch', async () => {
    await using t = await startNode();
    const none = await fetch(`${t.url}/v1/jobs/stream`);
    assert.equal(none.status, 401);
    assert.equal((await none.json()).code, 'unauthorized');

    const reader = await t.token('ann', [{ ops: ['subscribe', 'job:read'], topics: ['*'] }]);
    await using refused = await openFeed(t, { header: reader });
    assert.equal(refused.res.status, 403);
    assert.equal((await refused.res.json()).code, 'forbidden');
    await using inUrl = await openFeed(t, { query: t.node.apiKey });
    assert.equal(inUrl.res.status, 401);
    // Nor is the node-internal topic the feed travels on open to a token that may read everything.
    const direct = await fetch(`${t.url}/v1/topics/stream:console:jobs/stream`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    assert.equal(direct.status, 403);
    assert.equal((await direct.json()).code, 'reserved_topic');

    const admin = await t.token('ops', [{ ops: ['admin'], topics: ['console'] }]);
    t.node.jobs.define('remote');
    await using feed = await openFeed(t, { query: admin });
    await feed.until((es) => es.some((e) => e.event === 'ready'), 'ready');
    const { id } = (await t.api('/v1/jobs', { body: { type: 'remote' } })).body;
    await feed.until(() => feed.changes(id).length === 1, 'the new job');
  });

  describe('on a cluster', () => {
    let redis: TestRedis;
    before(async () => {
      redis = await startRedis();
    });
    after(async () => {
      await redis?.[Symbol.asyncDispose]();
    });

    it('brings the changes of jobs run on another node; a node sends none while no feed is open anywhere', async () => {
      const prefix = `feed${randomBytes(3).toString('hex')}`;
      await using a = await startNode({ redis: redis.url, redisPrefix: prefix });
      await using b = await startNode({ redis: redis.url, redisPrefix: prefix });
      a.node.jobs.handle('quick', async () => ({ ok: true }));
      b.node.jobs.define('quick');
      // Every message the nodes exchange under the prefix; the feed's are those on its topic.
      const tap = new Redis(redis.url);
      const onFeed: string[] = [];
      tap.on('pmessage', (_pattern: string, _channel: string, message: string) => {
        let wire: { p?: { topic?: string; data?: JobChange } } = {};
        try {
          wire = JSON.parse(message) as typeof wire;
        } catch {
          // not a publication
        }
        if (wire.p?.topic === 'stream:console:jobs') onFeed.push(wire.p.data!.job.id);
      });
      await tap.psubscribe(`${prefix}*`);
      try {
        const unseen = (await a.api('/v1/jobs', { body: { type: 'quick' } })).body.id as string;
        await waitFor(async () => (await a.api(`/v1/jobs/${unseen}`)).body.status === 'succeeded');

        await using feed = await openFeed(b);
        await feed.until((es) => es.some((e) => e.event === 'ready'), 'ready');
        const seen = (await a.api('/v1/jobs', { body: { type: 'quick' } })).body.id as string;
        await feed.until(() => ended(feed, seen), 'the job run on node a, on the feed of node b');
        assert.deepEqual(
          feed.changes(seen).map((c) => c.event),
          ['job.queued', 'job.started', 'job.succeeded'],
        );
        // Redis hands a subscriber its messages in the order they were published: had node a
        // sent the first job's changes, they would have come before the second's.
        await waitFor(() => onFeed.includes(seen), 5000, 'the second job’s changes on the tap');
        assert.equal(onFeed.includes(unseen), false);
        assert.equal(feed.changes(unseen).length, 0);
      } finally {
        tap.disconnect();
      }
    });
  });
});
