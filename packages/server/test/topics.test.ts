import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Publication } from '@inloop/client';
import { startNode, waitFor } from './helpers.js';

const all = [{ ops: ['subscribe', 'publish', 'history'] as const, topics: ['*'] }].map((s) => ({
  ...s,
  ops: [...s.ops],
}));

describe('topics', () => {
  describe('publishing over HTTP', () => {
    it('gives each stored publication the next offset and keeps it in history with its publisher', async () => {
      await using t = await startNode();
      const first = await t.api('/v1/topics/room:1/messages', { body: { data: { n: 1 } } });
      const second = await t.api('/v1/topics/room:1/messages', { body: { data: { n: 2 } } });
      assert.equal(first.status, 201);
      assert.equal(first.body.offset, 1);
      assert.equal(second.body.offset, 2);
      assert.equal(second.body.epoch, first.body.epoch);
      const history = await t.api('/v1/topics/room:1/messages?after=0');
      assert.deepEqual(
        history.body.messages.map((m: { offset: number; data: unknown; from: string }) => [m.offset, m.data, m.from]),
        [
          [1, { n: 1 }, 'key:default'],
          [2, { n: 2 }, 'key:default'],
        ],
      );
      const after1 = await t.api('/v1/topics/room:1/messages?after=1&limit=10');
      assert.deepEqual(
        after1.body.messages.map((m: { offset: number }) => m.offset),
        [2],
      );
    });

    it('returns the original offset for a repeated idempotency key and stores nothing new', async () => {
      await using t = await startNode();
      const headers = { 'idempotency-key': 'order-17' };
      const a = await t.api('/v1/topics/orders/messages', { body: { data: { total: 5 } }, headers });
      const b = await t.api('/v1/topics/orders/messages', { body: { data: { total: 5 } }, headers });
      assert.equal(a.status, 201);
      assert.equal(b.status, 200);
      assert.equal(b.body.offset, a.body.offset);
      assert.equal(b.body.duplicate, true);
      const conflict = await t.api('/v1/topics/orders/messages', { body: { data: { total: 6 } }, headers });
      assert.equal(conflict.status, 409);
      assert.equal(conflict.body.code, 'idempotency_conflict');
      assert.equal(conflict.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      const history = await t.api('/v1/topics/orders/messages?after=0');
      assert.equal(history.body.messages.length, 1);
    });

    it('delivers ephemeral publications live but never stores them or gives them an offset', async () => {
      await using t = await startNode();
      const client = t.client(await t.token('viewer', all));
      const sub = client.subscribe('cursor:doc1');
      const got: Publication[] = [];
      sub.on('publication', (p) => got.push(p));
      await client.connect();
      await waitFor(() => sub.position, 2000, 'subscribed');
      const res = await t.api('/v1/topics/cursor:doc1/messages', { body: { data: { x: 3 }, ephemeral: true } });
      assert.equal(res.status, 202);
      assert.equal(res.body.offset, undefined);
      await client.publish('cursor:doc1', { x: 4 }, { ephemeral: true });
      await waitFor(() => got.length === 2, 2000, 'two ephemeral publications');
      assert.deepEqual(
        got.map((p) => [p.data, p.ephemeral, p.offset]),
        [
          [{ x: 3 }, true, undefined],
          [{ x: 4 }, true, undefined],
        ],
      );
      const history = await t.api('/v1/topics/cursor:doc1/messages?after=0');
      assert.deepEqual(history.body.messages, []);
      assert.equal(history.body.latest, 0);
    });
  });

  describe('history bounds', () => {
    it('keeps at most historyMaxCount publications per topic and says when a read is truncated', async () => {
      await using t = await startNode({ historyMaxCount: 5 });
      for (let i = 1; i <= 12; i++) await t.api('/v1/topics/feed/messages', { body: { data: i } });
      const history = await t.api('/v1/topics/feed/messages?after=0');
      assert.deepEqual(
        history.body.messages.map((m: { data: number }) => m.data),
        [8, 9, 10, 11, 12],
      );
      assert.equal(history.body.earliest, 8);
      assert.equal(history.body.truncated, true);
      const fine = await t.api('/v1/topics/feed/messages?after=9');
      assert.equal(fine.body.truncated, false);
    });

    it('drops publications older than historyMaxAgeMs', async () => {
      await using t = await startNode({ historyMaxAgeMs: 1000 });
      await t.api('/v1/topics/old/messages', { body: { data: 'old' } });
      await new Promise((r) => setTimeout(r, 1100));
      await t.api('/v1/topics/old/messages', { body: { data: 'new' } });
      const history = await t.api('/v1/topics/old/messages?after=0');
      assert.deepEqual(
        history.body.messages.map((m: { data: string }) => m.data),
        ['new'],
      );
      assert.equal(history.body.earliest, 2);
    });
  });

  describe('over WebSocket', () => {
    it('delivers publications from HTTP and WebSocket publishers in offset order, with their identity', async () => {
      await using t = await startNode();
      const alice = t.client(await t.token('alice', all));
      const bob = t.client(await t.token('bob', all));
      const got: Publication[] = [];
      const sub = bob.subscribe('room:7');
      sub.on('publication', (p) => got.push(p));
      await bob.connect();
      await waitFor(() => sub.position, 2000, 'subscribed');
      const ack = await alice.publish('room:7', { text: 'hi' });
      await t.api('/v1/topics/room:7/messages', { body: { data: { text: 'from backend' } } });
      await waitFor(() => got.length === 2, 2000, 'two publications');
      assert.equal(ack.offset, 1);
      assert.deepEqual(
        got.map((p) => [p.offset, p.from, p.data]),
        [
          [1, 'alice', { text: 'hi' }],
          [2, 'key:default', { text: 'from backend' }],
        ],
      );
    });

    it('serves many topics on one connection', async () => {
      await using t = await startNode();
      const c = t.client(await t.token('u', all));
      const seen = new Map<string, number>();
      const subs = ['a', 'b', 'c'].map((topic) => {
        const s = c.subscribe(topic);
        s.on('publication', () => seen.set(topic, (seen.get(topic) ?? 0) + 1));
        return s;
      });
      await waitFor(() => subs.every((s) => s.position), 2000, 'subscriptions');
      for (const topic of ['a', 'b', 'c', 'a']) await t.api(`/v1/topics/${topic}/messages`, { body: { data: 1 } });
      await waitFor(() => seen.get('a') === 2 && seen.get('b') === 1 && seen.get('c') === 1, 2000, 'fan-out');
    });

    it('resends an unacknowledged publish after a reconnect without storing it twice', async () => {
      await using t = await startNode();
      const c = t.client(await t.token('u', all));
      await c.connect();
      const pending = c.publish('once', { v: 1 }, { idempotencyKey: 'k-1' });
      c.reconnect();
      const again = await c.publish('once', { v: 1 }, { idempotencyKey: 'k-1' });
      const first = await pending;
      assert.equal(first.offset, again.offset);
      const history = await t.api('/v1/topics/once/messages?after=0');
      assert.equal(history.body.messages.length, 1);
    });
  });

  describe('operations', () => {
    it('serves health, readiness, metrics and an OpenAPI document', async () => {
      await using t = await startNode();
      assert.equal((await t.api('/healthz')).status, 200);
      assert.equal((await t.api('/readyz')).status, 200);
      await t.api('/v1/topics/m/messages', { body: { data: 1 } });
      const metrics = await t.api('/metrics');
      assert.match(metrics.body, /inloop_publications_total\{kind="stored"\} 1/);
      assert.match(metrics.body, /inloop_fanout_seconds_bucket/);
      const openapi = await t.api('/openapi.json');
      assert.equal(openapi.body.openapi, '3.1.0');
      assert.ok(openapi.body.paths['/v1/topics/{topic}/messages'].post);
      assert.ok(openapi.body.paths['/v1/tokens'].post);
    });

    it('tells connected clients to reconnect elsewhere when it shuts down', async () => {
      const t = await startNode();
      const c = t.client(await t.token('u', all));
      await c.connect();
      const closes: (number | undefined)[] = [];
      c.on('state', (s) => s.to === 'reconnecting' && closes.push(s.reason.closeCode));
      await t.node.close();
      await waitFor(() => closes.length > 0, 2000, 'a disconnect');
      assert.equal(closes[0], 4000);
      await c.close();
      await t[Symbol.asyncDispose]();
    });
  });
});
