import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import type { Scope } from '@inloop/protocol';
import { RateLimits } from '../src/domain/rate-limits.js';
import { rawSession, startNode, waitFor, type TestNode } from './helpers.js';

const everything: Scope[] = [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['*'] }];

/**
 * Budgets small enough to run out in a few requests and slow enough (one token per 100 s) that
 * none comes back while a test runs, however slow the machine.
 */
const SLOW = 0.01;
const tight = (burst: number) => ({
  publishRatePerSec: SLOW,
  publishBurst: burst,
  signalRatePerSec: SLOW,
  signalBurst: burst,
  presenceRatePerSec: SLOW,
  presenceBurst: burst,
  receiptRatePerSec: SLOW,
  receiptBurst: burst,
});

async function group(t: TestNode, id: string, members: string[]): Promise<void> {
  const created = await t.api('/v1/conversations', { body: { id, members } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

/** Publish over HTTP as `token`; the status. */
async function httpPublish(t: TestNode, token: string, topic = 'room'): Promise<number> {
  return (await t.api(`/v1/topics/${topic}/messages`, { body: { data: 'hi' }, token })).status;
}

/** Assert a 429 problem document with a Retry-After of at least a second. */
function assertRateLimited(res: { status: number; body: any; headers: Headers }, what: string): void {
  assert.equal(res.status, 429, `${what}: ${JSON.stringify(res.body)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
  assert.equal(res.body.code, 'rate_limited', what);
  assert.equal(res.body.retryable, true, what);
  assert.ok(res.body.retryAfterMs > 0, `${what}: retryAfterMs`);
  assert.ok(Number(res.headers.get('retry-after')) >= 1, `${what}: Retry-After header`);
}

describe('rate limits', () => {
  describe('when a client publishes over HTTP faster than its budget', () => {
    it('answers 429 with Retry-After and a problem document once the burst is spent', async () => {
      await using t = await startNode(tight(3));
      const token = await t.token('flooder', everything);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push(await httpPublish(t, token));
      assert.deepEqual(statuses, [201, 201, 201]);
      assertRateLimited(await t.api('/v1/topics/room/messages', { body: { data: 'x' }, token }), 'publish');
      // Ephemeral publishes come out of the same budget.
      const ephemeral = await t.api('/v1/topics/room/messages', { body: { data: 'x', ephemeral: true }, token });
      assertRateLimited(ephemeral, 'ephemeral publish');
    });

    it('counts job creations against the same publish budget', async () => {
      await using t = await startNode({ ...tight(2), jobTypes: ['echo'] });
      const token = await t.token('maker', [{ ops: ['job:create', 'publish'], topics: ['*'] }]);
      assert.equal(await httpPublish(t, token), 201);
      const job = await t.api('/v1/jobs', { body: { type: 'echo', input: 1 }, token });
      assert.equal(job.status, 202);
      assertRateLimited(await t.api('/v1/jobs', { body: { type: 'echo', input: 2 }, token }), 'job creation');
    });
  });

  it('gives a principal one budget over the WebSocket, HTTP and several connections', async () => {
    await using t = await startNode(tight(4));
    const token = await t.token('ana', everything);
    const tab1 = await rawSession(t.url, token);
    const tab2 = await rawSession(t.url, token);
    assert.equal((await tab1.request({ type: 'publish', id: 1, topic: 'room', data: 1 })).type, 'ack');
    assert.equal((await tab2.request({ type: 'publish', id: 1, topic: 'room', data: 2 })).type, 'ack');
    assert.equal(await httpPublish(t, token), 201);
    assert.equal((await tab1.request({ type: 'publish', id: 2, topic: 'room', data: 3 })).type, 'ack');

    const ws = await tab2.request({ type: 'publish', id: 2, topic: 'room', data: 4 });
    assert.equal(ws.code, 'rate_limited');
    assert.match(ws.message, /retry in \d+ ms/);
    assertRateLimited(await t.api('/v1/topics/room/messages', { body: { data: 5 }, token }), 'http after ws');
    // Told to wait, not cut off.
    assert.equal(tab1.ws.readyState, WebSocket.OPEN);
    assert.equal(tab2.ws.readyState, WebSocket.OPEN);
    tab1.ws.close();
    tab2.ws.close();
  });

  it('leaves another principal its own budget, and a subscriber loses nothing of it', async () => {
    await using t = await startNode(tight(5));
    const flooder = await t.token('flooder', everything);
    for (let i = 0; i < 10; i++) await httpPublish(t, flooder, 'noise');
    assert.equal(await httpPublish(t, flooder, 'noise'), 429);

    const reader = await rawSession(t.url, await t.token('reader', everything));
    assert.equal((await reader.request({ type: 'subscribe', id: 1, topic: 'calm' })).type, 'subscribed');
    const writer = await rawSession(t.url, await t.token('writer', everything));
    for (let i = 1; i <= 5; i++) {
      const ack = await writer.request({ type: 'publish', id: i, topic: 'calm', data: i });
      assert.equal(ack.type, 'ack', JSON.stringify(ack));
    }
    await waitFor(() => reader.frames.filter((f) => f.type === 'pub').length === 5, 5000, 'the publications');
    assert.deepEqual(
      reader.frames.filter((f) => f.type === 'pub').map((f) => f.data),
      [1, 2, 3, 4, 5],
    );
    reader.ws.close();
    writer.ws.close();
  });

  describe('typing, drafts, presence joins and receipts', () => {
    it('limits typing and drafts together as signals, over the WebSocket and HTTP', async () => {
      await using t = await startNode(tight(3));
      await group(t, 'g', ['ana', 'bob']);
      const ana = await t.token('ana', everything);
      const s = await rawSession(t.url, ana);
      assert.equal((await s.request({ type: 'typing.start', id: 1, topic: 'conv:g' })).type, 'ack');
      assert.equal((await s.request({ type: 'typing.stop', id: 2, topic: 'conv:g' })).type, 'ack');
      const draft = await t.api('/v1/conversations/g/drafts/d1', { body: { text: 'a' }, token: ana });
      assert.equal(draft.status, 202);

      assert.equal((await s.request({ type: 'typing.start', id: 3, topic: 'conv:g' })).code, 'rate_limited');
      const wsDraft = await s.request({
        type: 'conversation.draft',
        id: 4,
        conversation: 'g',
        clientId: 'd1',
        text: 'b',
      });
      assert.equal(wsDraft.code, 'rate_limited');
      assertRateLimited(
        await t.api('/v1/conversations/g/drafts/d1', { body: { text: 'b' }, token: ana }),
        'http draft',
      );
      assertRateLimited(
        await t.api('/v1/conversations/g/typing', { body: { typing: true }, token: ana }),
        'http typing',
      );
      // Signals have a budget of their own: sending a message still works.
      const sent = await s.request({ type: 'conversation.send', id: 5, conversation: 'g', text: 'done' });
      assert.equal(sent.type, 'conversation.sent');
      s.ws.close();
    });

    it('limits presence joins and updates, over the WebSocket and HTTP', async () => {
      await using t = await startNode(tight(3));
      const ana = await t.token('ana', everything);
      const s = await rawSession(t.url, ana);
      assert.equal((await s.request({ type: 'presence.join', id: 1, topic: 'p1' })).type, 'presence.state');
      assert.equal(
        (await s.request({ type: 'presence.update', id: 2, topic: 'p1', meta: { away: true } })).type,
        'ack',
      );
      const put = await t.api('/v1/topics/p2/presence/ana', { method: 'PUT', body: {}, token: ana });
      assert.equal(put.status, 200);

      assert.equal((await s.request({ type: 'presence.join', id: 3, topic: 'p3' })).code, 'rate_limited');
      assertRateLimited(
        await t.api('/v1/topics/p4/presence/ana', { method: 'PUT', body: {}, token: ana }),
        'http join',
      );
      // Watching and leaving cost nothing.
      assert.equal((await s.request({ type: 'presence.watch', id: 4, topic: 'p5' })).type, 'presence.state');
      assert.equal((await s.request({ type: 'presence.leave', id: 5, topic: 'p1' })).type, 'ack');
      s.ws.close();
    });

    it('limits receipts, over the WebSocket and HTTP', async () => {
      await using t = await startNode({ ...tight(3), publishBurst: 10 });
      await group(t, 'g', ['ana', 'bob']);
      const ana = await t.token('ana', everything);
      const bob = await t.token('bob', everything);
      const s = await rawSession(t.url, bob);
      await t.api('/v1/conversations/g/messages', { body: { text: 'one' }, token: ana });
      await t.api('/v1/conversations/g/messages', { body: { text: 'two' }, token: ana });
      const receipt = (id: number, read: number) =>
        s.request({ type: 'conversation.receipt', id, conversation: 'g', read });
      assert.equal((await receipt(1, 1)).type, 'conversation.receipt');
      assert.equal((await receipt(2, 2)).type, 'conversation.receipt');
      const http = await t.api('/v1/conversations/g/receipts', { body: { delivered: 2 }, token: bob });
      assert.equal(http.status, 200);

      assert.equal((await receipt(3, 2)).code, 'rate_limited');
      assertRateLimited(await t.api('/v1/conversations/g/receipts', { body: { read: 2 }, token: bob }), 'receipt');
      // Ana's receipts are her own.
      const anaReceipt = await t.api('/v1/conversations/g/receipts', { body: { read: 2 }, token: ana });
      assert.equal(anaReceipt.status, 200);
      s.ws.close();
    });
  });

  describe('API keys', () => {
    it('get the client budget times apiKeyRateMultiplier, per key', async () => {
      await using t = await startNode({ ...tight(2), apiKeyRateMultiplier: 3 });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await t.api('/v1/topics/k/messages', { body: { data: i } })).status);
      assert.deepEqual(statuses, [201, 201, 201, 201, 201, 201, 429]);
    });

    it('are exempt with apiKeyRateMultiplier 0', async () => {
      await using t = await startNode({ ...tight(1), apiKeyRateMultiplier: 0 });
      for (let i = 0; i < 20; i++)
        assert.equal((await t.api('/v1/topics/k/messages', { body: { data: i } })).status, 201);
    });
  });

  describe('presence topics per member', () => {
    it('caps the topics one member is present on, over HTTP and the WebSocket together', async () => {
      await using t = await startNode({ maxPresenceTopicsPerMember: 3 });
      const ana = await t.token('ana', everything);
      const put = (topic: string) => t.api(`/v1/topics/${topic}/presence/ana`, { method: 'PUT', body: {}, token: ana });
      assert.equal((await put('a')).status, 200);
      assert.equal((await put('b')).status, 200);
      const s = await rawSession(t.url, ana);
      assert.equal((await s.request({ type: 'presence.join', id: 1, topic: 'c' })).type, 'presence.state');

      const fourth = await s.request({ type: 'presence.join', id: 2, topic: 'd' });
      assert.equal(fourth.code, 'too_many_subscriptions');
      const overHttp = await put('e');
      assert.equal(overHttp.status, 400);
      assert.equal(overHttp.body.code, 'too_many_subscriptions');
      // Renewing a topic already held, or a second connection on it, is no new topic.
      assert.equal((await put('a')).status, 200);
      assert.equal((await s.request({ type: 'presence.join', id: 3, topic: 'a' })).type, 'presence.state');
      // Another member is not affected; leaving one topic makes room.
      const bob = await t.token('bob', everything);
      const bobPut = await t.api('/v1/topics/d/presence/bob', { method: 'PUT', body: {}, token: bob });
      assert.equal(bobPut.status, 200);
      assert.equal((await t.api('/v1/topics/b/presence/ana', { method: 'DELETE', token: ana })).status, 204);
      assert.equal((await s.request({ type: 'presence.join', id: 4, topic: 'd' })).type, 'presence.state');
      s.ws.close();
    });
  });

  describe('drafts', () => {
    it('bounds the drafts one member keeps open, and frees one when it is sent', async () => {
      await using t = await startNode({ maxDraftsPerMember: 2 });
      await group(t, 'g', ['ana', 'bob']);
      await group(t, 'h', ['ana']);
      const ana = await t.token('ana', everything);
      const draft = (conversation: string, clientId: string, text = 'x') =>
        t.api(`/v1/conversations/${conversation}/drafts/${clientId}`, { body: { text }, token: ana });
      assert.equal((await draft('g', 'd1')).status, 202);
      assert.equal((await draft('h', 'd2')).status, 202);
      const third = await draft('g', 'd3');
      assert.equal(third.status, 409);
      assert.equal(third.body.code, 'too_many_drafts');
      assert.equal(third.body.retryable, true);
      // An open draft still grows; bob's drafts are his own.
      assert.equal((await draft('g', 'd1', 'y')).body.length, 2);
      const bob = await t.token('bob', everything);
      assert.equal((await t.api('/v1/conversations/g/drafts/b1', { body: { text: 'x' }, token: bob })).status, 202);

      const sent = await t.api('/v1/conversations/g/messages', { body: { text: 'xy', clientId: 'd1' }, token: ana });
      assert.equal(sent.status, 201);
      assert.equal((await draft('g', 'd3')).status, 202);
    });
  });

  describe('invalid frames', () => {
    it('closes a connection that keeps sending them with 4400, after a bounded number of replies', async () => {
      await using t = await startNode({ invalidFrameBurst: 5, invalidFrameRatePerSec: SLOW });
      const s = await rawSession(t.url, await t.token('fuzzer', everything));
      const garbage = ['not json', '{"type":"nope","id":1}', '[]', '{"type":"publish","id":2}', '{'];
      for (let i = 0; i < 50 && s.ws.readyState === WebSocket.OPEN; i++) s.ws.send(garbage[i % garbage.length]!);
      assert.equal(await s.closeCode, 4400);
      const errors = s.frames.filter((f) => f.type === 'error');
      assert.equal(errors.length, 5, 'one answer per frame of the allowance, none after');
    });

    it('answers a few with their codes and keeps the connection working', async () => {
      await using t = await startNode({ invalidFrameBurst: 5, invalidFrameRatePerSec: SLOW });
      const s = await rawSession(t.url, await t.token('clumsy', everything));
      s.ws.send('oops');
      s.ws.send('{"type":"nope","id":7}');
      await waitFor(() => s.frames.filter((f) => f.type === 'error').length === 2, 5000, 'two error replies');
      assert.deepEqual(
        s.frames.filter((f) => f.type === 'error').map((f) => f.code),
        ['invalid_json', 'invalid_message'],
      );
      assert.equal((await s.request({ type: 'publish', id: 8, topic: 'room', data: 1 })).type, 'ack');
      assert.equal(s.ws.readyState, WebSocket.OPEN);
      s.ws.close();
    });
  });

  it('closes a connection that keeps publishing after rate_limited with 4004', async () => {
    await using t = await startNode(tight(1));
    const s = await rawSession(t.url, await t.token('flooder', everything));
    for (let i = 0; i < 1100 && s.ws.readyState === WebSocket.OPEN; i++)
      s.ws.send(JSON.stringify({ type: 'publish', id: i, topic: 'room', data: i }));
    assert.equal(await s.closeCode, 4004);
  });

  it('forgets the buckets of principals that went quiet', () => {
    let now = 0;
    const limits = new RateLimits({
      budgets: {
        publish: { ratePerSec: 10, burst: 10 },
        signal: { ratePerSec: 10, burst: 10 },
        presence: { ratePerSec: 10, burst: 10 },
        receipt: { ratePerSec: 10, burst: 10 },
      },
      now: () => now,
    });
    const client = (sub: string) => ({ kind: 'token' as const, sub, id: sub, scopes: [], expiresAt: Infinity });
    for (let i = 0; i < 1000; i++) assert.equal(limits.take(client(`u${i}`), 'publish'), 0);
    assert.equal(limits.size, 1000);
    now += 60_000;
    limits.take(client('late'), 'publish');
    assert.equal(limits.size, 1, 'only the new bucket is left');
  });
});
