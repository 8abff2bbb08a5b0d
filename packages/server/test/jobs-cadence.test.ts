import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cadence } from '../src/domain/jobs/cadence.js';
import { rawSession, readSse, sleep, startNode, waitFor } from './helpers.js';

describe('the cadence guarantee', () => {
  describe('when a worker is silent', () => {
    it(
      'sends every watcher ticks with elapsed time, a refreshed ETA and estimated progress',
      { timeout: 30_000 },
      async () => {
        const cadenceMs = 500;
        await using t = await startNode({ cadenceMs });
        let release!: () => void;
        t.node.jobs.handle('quiet', () => new Promise<string>((r) => (release = () => r('done'))), {
          expectedMs: 2000,
        });
        const created = await t.api('/v1/jobs', { body: { type: 'quiet' } });
        const sse = readSse(await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`));
        // A second watcher over WebSocket, through the SDK.
        const client = t.client(created.body.token);
        const watch = await client.watchJob(created.body.id, { token: created.body.token });
        const wsTicks: number[] = [];
        watch.on('update', (s, e) => e.type === 'job.tick' && wsTicks.push(s.elapsedMs));
        // Past p90 (twice expectedMs: 4 s by default) by a few ticks, not on its edge.
        const silenceMs = 4600;
        await sleep(silenceMs);
        release();
        const events = await sse;
        await watch.done;

        const ticks = events.filter((e) => e.event === 'job.tick');
        assert.ok(ticks.length >= silenceMs / cadenceMs - 2, `${ticks.length} ticks in ${silenceMs} ms of silence`);
        assert.ok(wsTicks.length >= silenceMs / cadenceMs - 2, `${wsTicks.length} ticks over WebSocket`);
        for (const tick of ticks) {
          assert.equal(tick.id, undefined, 'ticks are ephemeral: no event id');
          assert.equal(tick.data.job.progress.measured, false);
          assert.ok(tick.data.job.eta.remainingMs >= 0);
        }
        const elapsed = ticks.map((e) => e.data.job.elapsedMs);
        const progress = ticks.map((e) => e.data.job.progress.fraction);
        assert.deepEqual(
          elapsed,
          [...elapsed].sort((a, b) => a - b),
          'elapsed time moves forward',
        );
        assert.deepEqual(
          progress,
          [...progress].sort((a, b) => a - b),
          'estimated progress moves forward',
        );
        assert.ok(
          progress.at(-1)! > 0.9 && progress.at(-1)! < 1,
          'past the usual duration it approaches, never reaches, 100 %',
        );
        assert.ok(
          ticks.some((e) => e.data.job.flags.slowerThanUsual),
          'past p90 it says so',
        );
        assert.match(ticks.at(-1)!.data.job.message, /longer than usual/);

        const history = await t.api(`/v1/topics/job:${created.body.id}/messages?after=0`);
        assert.ok(
          !history.body.messages.some((m: { data: { type: string } }) => m.data.type === 'job.tick'),
          'ticks are never stored',
        );
        const metrics = (await t.api('/metrics')).body as string;
        const count = Number(/inloop_job_watch_gap_seconds_count (\d+)/.exec(metrics)?.[1]);
        assert.ok(count >= ticks.length, 'gaps between updates are exported per watcher');
      },
    );

    it('does not tick a job that keeps speaking: each event moves its silence', { timeout: 30_000 }, async () => {
      // Ticks are due 750 ms after the last event (cadence 1 s less its margin); the handler
      // reports five times a second for 3 s, then falls silent until released.
      await using t = await startNode({ cadenceMs: 1000 });
      let release!: () => void;
      t.node.jobs.handle('chatty', async (_job, ctx) => {
        for (let i = 1; i <= 15; i++) {
          await sleep(200);
          await ctx.progress(i / 20);
        }
        await new Promise<void>((r) => (release = r));
        return 'done';
      });
      const created = await t.api('/v1/jobs', { body: { type: 'chatty' } });
      const sse = readSse(await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`));
      await waitFor(async () => release !== undefined, 10_000, 'the reports to end');
      await sleep(2000);
      release();
      const events = await sse;
      const types = events.map((e) => e.event);
      // (A watcher that connects gets a tick at once, with the job's state now: before the reports.)
      const [first, last] = [types.indexOf('job.progress'), types.lastIndexOf('job.progress')];
      assert.ok(first > 0 && last - first >= 10, types.join(' '));
      assert.ok(!types.slice(first, last).includes('job.tick'), `no tick while it reported: ${types.join(' ')}`);
      assert.ok(types.slice(last).includes('job.tick'), `ticks once it fell silent: ${types.join(' ')}`);
    });

    it('lets a watcher that connects mid-job start from the current snapshot', async () => {
      await using t = await startNode({ cadenceMs: 300 });
      let release!: () => void;
      t.node.jobs.handle('quiet', async (_job, ctx) => {
        await ctx.partial('first');
        await new Promise<void>((r) => (release = r));
        return 'ok';
      });
      const created = await t.api('/v1/jobs', { body: { type: 'quiet' } });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${created.body.id}`)).body.partials.length === 1,
        2000,
        'the partial',
      );
      const sse = readSse(await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`));
      await sleep(700);
      release();
      const events = await sse;
      assert.equal(events[0]!.event, 'job.snapshot');
      assert.deepEqual(events[0]!.data.partials, ['first']);
      assert.equal(events[0]!.data.status, 'running');
      assert.ok(events.some((e) => e.event === 'job.tick'));
      assert.equal(events.at(-1)!.event, 'job.succeeded');
    });
  });
  describe('when a watcher comes back from a reconnect', () => {
    it(
      'hears the job state at once, not at the next cadence tick, over WebSocket and SSE',
      { timeout: 30_000 },
      async () => {
        // A cadence long enough that a tick within it can only be the resume's.
        await using t = await startNode({ cadenceMs: 10_000 });
        let release!: () => void;
        t.node.jobs.handle('quiet', () => new Promise<string>((r) => (release = () => r('done'))), {
          expectedMs: 60_000,
        });
        const created = await t.api('/v1/jobs', { body: { type: 'quiet' } });
        const id = created.body.id as string;
        const snapshot = await waitFor(async () => {
          const s = (await t.api(`/v1/jobs/${id}`)).body;
          return s.status === 'running' ? s : null;
        });
        // The job's last event was a moment ago; the next cadence tick is about 10 s away.
        const session = await rawSession(t.url, created.body.token);
        const resumedAt = Date.now();
        const reply = await session.request({
          type: 'subscribe',
          id: 1,
          topic: `job:${id}`,
          since: { epoch: snapshot.epoch, offset: snapshot.offset },
        });
        assert.equal(reply.type, 'subscribed');
        assert.equal(reply.recovered, true);
        const tick = (await waitFor(
          () => session.frames.find((f) => f.type === 'pub' && f.data?.type === 'job.tick'),
          8000,
          'a tick after the resume',
        ))!;
        assert.ok(Date.now() - resumedAt < 8000, 'before the 10 s cadence would have ticked');
        assert.equal(tick.data.job.status, 'running');
        assert.ok(tick.data.job.elapsedMs >= 0);

        // SSE: a reconnect with Last-Event-ID is a resume too.
        const sse = readSse(
          await fetch(`${t.url}/v1/jobs/${id}/stream?token=${created.body.token}`, {
            headers: { 'last-event-id': `${snapshot.epoch}:${snapshot.offset}` },
          }),
          (events) => events.some((e) => e.event === 'job.tick'),
        );
        const events = await sse;
        assert.equal(events.at(-1)!.event, 'job.tick');
        session.ws.close();
        release();
      },
    );
  });

  describe('when the wall clock is set back', () => {
    it('keeps ticking a silent job on time', { timeout: 30_000 }, async () => {
      // An NTP step or a resumed VM: Date.now() jumps back an hour while a job is silent.
      const ticks: number[] = [];
      const start = performance.now();
      const cadence = new Cadence({
        cadenceMs: 1000,
        hasWatchers: () => true,
        tick: async () => {
          ticks.push(performance.now() - start);
          return true;
        },
      });
      const realNow = Date.now;
      try {
        cadence.touch('job');
        await sleep(100);
        Date.now = () => realNow() - 3_600_000;
        await sleep(2600);
      } finally {
        Date.now = realNow;
        cadence.close();
      }
      // Due 750 ms after the last event or tick: at about 750, 1500 and 2250 ms.
      assert.ok(ticks.length >= 2, `ticks at ${ticks.map((t) => Math.round(t)).join(', ')} ms`);
    });
  });
});
