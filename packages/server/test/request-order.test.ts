import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import { rawSession, startNode, waitFor } from './helpers.js';

const rooms: Scope[] = [{ ops: ['subscribe', 'publish'], topics: ['room:*'] }];

/** The node's `inloop_subscriptions` gauge, as a scraper reads it. */
async function subscriptionGauge(t: Awaited<ReturnType<typeof startNode>>): Promise<number> {
  const text = (await t.api('/metrics')).body as string;
  return Number(/^inloop_subscriptions (\d+)/m.exec(text)?.[1] ?? NaN);
}

describe("a connection's requests for one topic", () => {
  it('are answered in order: subscribe, unsubscribe, subscribe leaves one live subscription', async () => {
    await using t = await startNode();
    const token = await t.token('ann', rooms);
    const s = await rawSession(t.url, token);
    // Sent back to back, as React's StrictMode double mount does: the unsubscribe must not
    // overtake the subscribe still checking access.
    s.ws.send(JSON.stringify({ type: 'subscribe', id: 3, topic: 'room:1' }));
    s.ws.send(JSON.stringify({ type: 'unsubscribe', id: 4, topic: 'room:1' }));
    const last = s.request({ type: 'subscribe', id: 5, topic: 'room:1' });
    assert.equal((await last).type, 'subscribed');
    const replies = s.frames.filter((f) => f.id !== undefined).map((f) => `${f.type}#${f.id}`);
    assert.deepEqual(replies, ['subscribed#3', 'unsubscribed#4', 'subscribed#5']);
    assert.equal(await subscriptionGauge(t), 1);

    const ack = await s.request({ type: 'publish', id: 6, topic: 'room:1', data: 'hi' });
    assert.equal(ack.type, 'ack');
    await waitFor(() => s.frames.some((f) => f.type === 'pub'), 5000, 'the publication');
    assert.equal(s.frames.filter((f) => f.type === 'pub').length, 1);

    const bye = await s.request({ type: 'unsubscribe', id: 7, topic: 'room:1' });
    assert.equal(bye.type, 'unsubscribed');
    assert.equal(await subscriptionGauge(t), 0, 'no subscription is left behind');
    s.ws.close();
  });

  it('end unsubscribed when the last of many pipelined requests is an unsubscribe', async () => {
    await using t = await startNode();
    const token = await t.token('bob', rooms);
    const s = await rawSession(t.url, token);
    for (let id = 1; id < 20; id++) {
      s.ws.send(JSON.stringify({ type: id % 2 ? 'subscribe' : 'unsubscribe', id, topic: 'room:2' }));
    }
    const last = await s.request({ type: 'unsubscribe', id: 20, topic: 'room:2' });
    assert.equal(last.type, 'unsubscribed');
    const errors = s.frames.filter((f) => f.type === 'error');
    assert.deepEqual(errors, [], 'every request found the state its predecessors left');
    assert.equal(await subscriptionGauge(t), 0);
    s.ws.close();
  });

  it('for different topics still run side by side', async () => {
    await using t = await startNode();
    const token = await t.token('cy', rooms);
    const s = await rawSession(t.url, token);
    const replies = await Promise.all(
      ['room:a', 'room:b', 'room:c'].map((topic, i) => s.request({ type: 'subscribe', id: i + 1, topic })),
    );
    assert.deepEqual(
      replies.map((r) => r.type),
      ['subscribed', 'subscribed', 'subscribed'],
    );
    assert.equal(await subscriptionGauge(t), 3);
    s.ws.close();
  });
});
