import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { verifyWebhook, WebhookVerificationError } from '@inloop/worker';
import { createNode, type NodeOptions } from '@inloop/server';
import { apiRequest, exited, sleep, spawnNode, startNode, tempDir, waitFor } from './helpers.js';
import { newSecret, Receiver } from '@inloop/testing';

const fast: Partial<NodeOptions> = {
  webhookRetryScheduleMs: [20, 40, 80, 160, 320, 320, 320, 320, 320, 320],
  webhookTimeoutMs: 300,
  presenceFlushMs: 0,
};

const ALL = [
  'job.succeeded',
  'job.failed',
  'job.cancelled',
  'job.stuck',
  'conversation.message',
  'presence.occupied',
  'presence.vacant',
  'topic.publication',
] as const;

describe('signed webhooks', () => {
  it('delivers every event exactly once after dedupe by id to a receiver that fails, times out and recovers', async () => {
    const secret = newSecret();
    // Each event: first attempt 500, second hangs past the timeout, third and later succeed.
    const receiver = new Receiver([secret], (_d, attempt) => (attempt === 1 ? 'fail' : attempt === 2 ? 'hang' : 'ok'));
    await receiver.start();
    await using t = await startNode({
      ...fast,
      webhooks: [
        { id: 'backend', url: receiver.url, secrets: [secret], events: ['topic.publication'], topics: ['orders:*'] },
      ],
    });
    try {
      for (let i = 0; i < 10; i++) {
        const res = await t.api('/v1/topics/orders:1/messages', { body: { data: { n: i } } });
        assert.equal(res.status, 201);
      }
      await t.api('/v1/topics/other:1/messages', { body: { data: 'not wanted' } });
      await waitFor(() => receiver.events.size === 10, 15_000, 'ten distinct events');
      const seen = [...receiver.events.values()].map((e) => e.data.data.n).sort((a, b) => a - b);
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.ok(
        [...receiver.attempts.values()].every((n) => n >= 3),
        'each event was retried past a failure and a timeout',
      );
      const metrics = await (await fetch(t.node.metricsUrl)).text();
      assert.match(metrics, /inloop_webhook_deliveries_total\{endpoint="backend"\} 10/);
      assert.match(metrics, /inloop_webhook_failed_attempts_total\{endpoint="backend",reason="timeout"\} 10/);
      assert.equal(receiver.rejected, 0);
    } finally {
      await receiver.close();
    }
  });

  it('keeps what it owes across a node restart and delivers it once the receiver is back', async () => {
    const secret = newSecret();
    const dir = tempDir();
    const receiver = new Receiver([secret], () => 'fail');
    await receiver.start();
    const options: NodeOptions = {
      ...fast,
      dataDir: dir.path,
      webhookRetryScheduleMs: [50, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
      webhooks: [{ id: 'backend', url: receiver.url, secrets: [secret], events: ['topic.publication'] }],
    };
    try {
      {
        await using first = await startNode(options);
        for (let i = 0; i < 5; i++) await first.api('/v1/topics/feed/messages', { body: { data: i } });
        await waitFor(() => receiver.attempts.size === 5, 5000, 'a first attempt of each');
      }
      receiver.behaviour = () => 'ok';
      await using second = await startNode(options);
      await waitFor(() => receiver.events.size === 5, 10_000, 'the five events after the restart');
      assert.deepEqual([...receiver.events.values()].map((e) => e.data.data).sort(), [0, 1, 2, 3, 4]);
      await sleep(300);
      assert.equal(receiver.events.size, 5);
      void second;
    } finally {
      await receiver.close();
      dir.remove();
    }
  });

  it('keeps what it owes through a SIGKILL of the node', { timeout: 60_000 }, async () => {
    const secret = newSecret();
    const dir = tempDir();
    const receiver = new Receiver([secret], () => 'fail');
    await receiver.start();
    const config = join(dir.path, 'inloop.json');
    writeFileSync(
      config,
      JSON.stringify({
        webhookRetryScheduleMs: Array.from({ length: 20 }, () => 200),
        webhooks: [{ id: 'backend', url: receiver.url, secrets: [secret], events: ['topic.publication'] }],
      }),
    );
    const env = { PORT: '0', INLOOP_HOST: '127.0.0.1', INLOOP_DATA_DIR: join(dir.path, 'data'), INLOOP_CONFIG: config };
    try {
      const first = await spawnNode(env);
      const apiKey = readFileSync(join(dir.path, 'data', 'api-key'), 'utf8').trim();
      for (let i = 0; i < 5; i++) {
        const res = await apiRequest(first.url, apiKey, '/v1/topics/feed/messages', { body: { data: i } });
        assert.equal(res.status, 201);
      }
      await waitFor(() => receiver.attempts.size === 5, 10_000, 'an attempt of each (all in the outbox)');
      first.child.kill('SIGKILL');
      await exited(first.child);
      receiver.behaviour = () => 'ok';
      const second = await spawnNode(env);
      try {
        await waitFor(() => receiver.events.size === 5, 15_000, 'the five events after the crash');
        assert.deepEqual([...receiver.events.values()].map((e) => e.data.data).sort(), [0, 1, 2, 3, 4]);
      } finally {
        second.child.kill('SIGTERM');
        await exited(second.child);
      }
    } finally {
      await receiver.close();
      dir.remove();
    }
  });

  it('never lets an endpoint that hangs slow delivery to another', async () => {
    const secret = newSecret();
    const stuck = new Receiver([secret], () => 'hang');
    const healthy = new Receiver([secret]);
    await stuck.start();
    await healthy.start();
    await using t = await startNode({
      ...fast,
      webhookTimeoutMs: 10_000,
      webhooks: [
        { id: 'stuck', url: stuck.url, secrets: [secret], events: ['topic.publication'], concurrency: 2 },
        { id: 'healthy', url: healthy.url, secrets: [secret], events: ['topic.publication'] },
      ],
    });
    try {
      for (let i = 0; i < 20; i++) await t.api('/v1/topics/feed/messages', { body: { data: i } });
      await waitFor(() => healthy.events.size === 20, 5000, 'every event at the healthy endpoint');
      assert.equal(stuck.events.size, 0);
      assert.ok(stuck.attempts.size <= 2, 'the stuck endpoint holds no more than its own concurrency');
    } finally {
      await stuck.close();
      await healthy.close();
    }
  });

  it('gives up on an endpoint that never answers even when garbage is collected meanwhile', async () => {
    const secret = newSecret();
    const stuck = new Receiver([secret], () => 'hang');
    await stuck.start();
    const dir = tempDir();
    const file = fileURLToPath(new URL('./fixtures/gc-webhook-node.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--conditions=source', '--import', 'tsx', file, dir.path, stuck.url, secret],
      {
        env: { ...process.env, INLOOP_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = (await waitFor(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], 20_000, 'the node to listen'))!;
      const res = await apiRequest(url, 'test-api-key-0123456789', '/v1/topics/feed/messages', { body: { data: 1 } });
      assert.equal(res.status, 201);
      await waitFor(async () => stuck.attempts.size === 1, 5000, 'the delivery to reach the endpoint');
      await waitFor(
        async () =>
          /inloop_webhook_failed_attempts_total\{endpoint="backend",reason="timeout"\} 1/.test(
            await (await fetch(`${url}/metrics`)).text(),
          ),
        8000,
        'the hanging delivery to time out',
      );
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await stuck.close();
      dir.remove();
    }
  });

  it('signs with every configured secret, so a receiver can rotate to the new one', async () => {
    const [oldSecret, newOne] = [newSecret(), newSecret()];
    const onlyNew = new Receiver([newOne]);
    const onlyOld = new Receiver([oldSecret]);
    const wrong = new Receiver([newSecret()]);
    await Promise.all([onlyNew.start(), onlyOld.start(), wrong.start()]);
    await using t = await startNode({
      ...fast,
      webhooks: [onlyNew, onlyOld, wrong].map((r, i) => ({
        id: `r${i}`,
        url: r.url,
        secrets: [oldSecret, newOne],
        events: ['topic.publication' as const],
      })),
    });
    try {
      await t.api('/v1/topics/feed/messages', { body: { data: 'x' } });
      await waitFor(() => onlyNew.events.size === 1 && onlyOld.events.size === 1, 5000, 'both receivers');
      await waitFor(() => wrong.rejected >= 1, 5000, 'a refused delivery');
      assert.equal(wrong.events.size, 0);
    } finally {
      await Promise.all([onlyNew.close(), onlyOld.close(), wrong.close()]);
    }
  });

  it('tells the backend when jobs end, conversations get messages and topics fill and empty', async () => {
    const secret = newSecret();
    const receiver = new Receiver([secret]);
    await receiver.start();
    await using t = await startNode({
      ...fast,
      webhooks: [{ id: 'backend', url: receiver.url, secrets: [secret], events: [...ALL] }],
    });
    try {
      t.node.jobs.handle('ok', async (job) => ({ echoed: job.input }));
      t.node.jobs.handle(
        'broken',
        async () => {
          throw new Error('nope');
        },
        { maxAttempts: 1 },
      );
      const ok = await t.api('/v1/jobs', { body: { type: 'ok', input: 7 } });
      const broken = await t.api('/v1/jobs', { body: { type: 'broken', input: 1 } });
      await t.api('/v1/conversations', { body: { id: 'support-1', members: ['ana', 'bot'] } });
      await t.api('/v1/conversations/support-1/messages', { body: { from: 'ana', text: 'help' } });
      await t.api('/v1/topics/room:9/presence/bot:eliza', { method: 'PUT', body: {} });
      await waitFor(() => receiver.ofType('presence.occupied').length === 1, 5000, 'occupied');
      await t.api('/v1/topics/room:9/presence/bot:eliza', { method: 'DELETE' });
      await waitFor(
        () =>
          receiver.ofType('job.succeeded').length === 1 &&
          receiver.ofType('job.failed').length === 1 &&
          receiver.ofType('conversation.message').length === 1 &&
          receiver.ofType('presence.vacant').length === 1,
        5000,
        'every kind of event',
      );
      const [succeeded] = receiver.ofType('job.succeeded');
      assert.equal(succeeded!.data.job.id, ok.body.id);
      assert.deepEqual(succeeded!.data.job.result, { echoed: 7 });
      assert.equal(receiver.ofType('job.failed')[0]!.data.job.id, broken.body.id);
      const [message] = receiver.ofType('conversation.message');
      assert.equal(message!.data.conversation, 'support-1');
      assert.equal(message!.data.message.text, 'help');
      assert.equal(message!.data.message.from, 'ana');
      assert.deepEqual(receiver.ofType('presence.vacant')[0]!.data, { topic: 'room:9', members: 0 });
      // Job and conversation topics are not reported as plain publications.
      assert.equal(receiver.ofType('topic.publication').filter((e) => /^(job|conv):/.test(e.data.topic)).length, 0);
    } finally {
      await receiver.close();
    }
  });

  it('sends no event per stream append: a streamed job and a streamed message are one event each, when they end', async () => {
    const secret = newSecret();
    const receiver = new Receiver([secret]);
    await receiver.start();
    await using t = await startNode({
      ...fast,
      webhooks: [{ id: 'backend', url: receiver.url, secrets: [secret], events: [...ALL], topics: ['*'] }],
    });
    try {
      t.node.jobs.handle('answer', async (_job, ctx) => {
        const answer = ctx.stream('answer');
        for (let i = 0; i < 200; i++) {
          void answer.append(`w${i} `);
          if (i % 20 === 0) await sleep(1);
        }
        return { words: 200 };
      });
      const job = await t.api('/v1/jobs', { body: { type: 'answer' } });
      await t.api('/v1/conversations', { body: { id: 'support-2', members: ['ana', 'bot'] } });
      for (let i = 0; i < 50; i++)
        await t.api('/v1/conversations/support-2/drafts/r1', { body: { from: 'bot', text: `w${i} ` } });
      await t.api('/v1/conversations/support-2/messages', { body: { from: 'bot', text: 'done', clientId: 'r1' } });
      await waitFor(
        async () => (await t.api(`/v1/jobs/${job.body.id}/streams/answer`)).body.end === 'finished',
        5000,
        'the job’s stream to end',
      );
      // A marker after everything else: once it is in, every earlier event has been handed over.
      await t.api('/v1/topics/marker/messages', { body: { data: 'last' } });
      await waitFor(
        () =>
          receiver.ofType('topic.publication').some((e) => e.data.topic === 'marker') &&
          receiver.ofType('job.succeeded').length === 1,
        10_000,
        'the marker and the job’s end',
      );
      const types = [...receiver.events.values()].map((e) => `${e.type} ${e.data.topic ?? ''}`).sort();
      assert.deepEqual(types, ['conversation.message ', 'job.succeeded ', 'topic.publication marker']);
    } finally {
      await receiver.close();
    }
  });

  it('tells the backend once when a job is flagged likely stuck', async () => {
    const secret = newSecret();
    const receiver = new Receiver([secret]);
    await receiver.start();
    await using t = await startNode({
      ...fast,
      cadenceMs: 100,
      jobStuckAfterMs: 1000,
      webhooks: [{ id: 'backend', url: receiver.url, secrets: [secret], events: ['job.stuck', 'job.cancelled'] }],
    });
    try {
      t.node.jobs.handle(
        'silent',
        async (_job, ctx) => {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        },
        { expectedMs: 100 },
      );
      const job = await t.api('/v1/jobs', { body: { type: 'silent', input: null } });
      await waitFor(() => receiver.ofType('job.stuck').length === 1, 10_000, 'a stuck event');
      await sleep(500);
      assert.equal(receiver.ofType('job.stuck').length, 1, 'once, though it keeps ticking stuck');
      assert.equal(receiver.ofType('job.stuck')[0]!.data.job.flags.likelyStuck, true);
      await t.api(`/v1/jobs/${job.body.id}/cancel`, { method: 'POST', body: {} });
      await waitFor(() => receiver.ofType('job.cancelled').length === 1, 10_000, 'a cancelled event');
    } finally {
      await receiver.close();
    }
  });

  it('stops the node at start when two endpoints share an id or a topic pattern is invalid', async () => {
    const endpoint = { id: 'x', url: 'http://127.0.0.1:9/', secrets: [newSecret()], events: ['job.failed' as const] };
    await assert.rejects(
      createNode({ storage: 'memory', processMetrics: false, webhooks: [endpoint, endpoint] }),
      /the id "x" is used twice/,
    );
    await assert.rejects(
      createNode({ storage: 'memory', processMetrics: false, webhooks: [{ ...endpoint, topics: ['a**'] }] }),
      /"a\*\*" is not a valid topic pattern/,
    );
  });

  it('refuses a delivery whose body, timestamp or signature was tampered with', () => {
    const secret = newSecret();
    const body = JSON.stringify({ type: 'x', timestamp: new Date().toISOString(), data: 1 });
    const ts = String(Math.floor(Date.now() / 1000));
    const sign = (content: string) => `v1,${hmacOf(secret, content)}`;
    const headers = {
      'webhook-id': 'evt_1',
      'webhook-timestamp': ts,
      'webhook-signature': sign(`evt_1.${ts}.${body}`),
    };
    assert.equal(verifyWebhook(secret, headers, body).id, 'evt_1');
    const reason = (fn: () => unknown) => {
      try {
        fn();
        return 'accepted';
      } catch (err) {
        return (err as WebhookVerificationError).reason;
      }
    };
    assert.equal(
      reason(() => verifyWebhook(secret, headers, body.replace('1}', '2}'))),
      'bad_signature',
    );
    assert.equal(
      reason(() => verifyWebhook(secret, { ...headers, 'webhook-id': 'evt_2' }, body)),
      'bad_signature',
    );
    assert.equal(
      reason(() => verifyWebhook(secret, headers, body, { now: () => Date.now() + 3_600_000 })),
      'stale_timestamp',
    );
    assert.equal(
      reason(() => verifyWebhook(secret, { 'webhook-id': 'evt_1' }, body)),
      'missing_headers',
    );
  });
});

/** A Standard Webhooks signature, computed here independently of the node and the SDK. */
function hmacOf(secret: string, content: string): string {
  return createHmac('sha256', Buffer.from(secret.slice(6), 'base64'))
    .update(content)
    .digest('base64');
}
