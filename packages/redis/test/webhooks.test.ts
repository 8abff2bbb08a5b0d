import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { NodeOptions } from '@inloop/server';
import { sleep, startNode, waitFor, newSecret, Receiver, startRedis, type TestRedis } from '@inloop/testing';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis[Symbol.asyncDispose]();
});

describe('webhooks on a cluster', () => {
  it('sends each publication once, whichever node it was made on, and a node that stops leaves nothing undelivered', async () => {
    const secret = newSecret();
    const receiver = new Receiver([secret], () => 'fail');
    await receiver.start();
    const options: NodeOptions = {
      redis: redis.url,
      redisPrefix: `w${randomBytes(4).toString('hex')}`,
      webhookRetryScheduleMs: Array.from({ length: 30 }, () => 100),
      webhookTimeoutMs: 500,
      webhooks: [{ id: 'backend', url: receiver.url, secrets: [secret], events: ['topic.publication'] }],
    };
    try {
      await using b = await startNode(options);
      {
        await using a = await startNode(options);
        for (let i = 0; i < 5; i++) await a.api('/v1/topics/feed/messages', { body: { data: `a${i}` } });
        for (let i = 0; i < 5; i++) await b.api('/v1/topics/feed/messages', { body: { data: `b${i}` } });
        await waitFor(() => receiver.attempts.size === 10, 10_000, 'a first attempt of each');
      }
      // A has stopped, owing its receiver five events; B delivers them once the receiver is back.
      receiver.behaviour = () => 'ok';
      await waitFor(() => receiver.events.size === 10, 15_000, 'all ten events');
      assert.deepEqual([...receiver.events.values()].map((e) => e.data.data).sort(), [
        'a0',
        'a1',
        'a2',
        'a3',
        'a4',
        'b0',
        'b1',
        'b2',
        'b3',
        'b4',
      ]);
      await sleep(300);
      assert.equal(receiver.events.size, 10);
      void b;
    } finally {
      await receiver.close();
    }
  });
});
