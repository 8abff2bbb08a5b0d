import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import { rawSession, readSse, startNode, waitFor, type TestNode } from './helpers.js';

const member: Scope[] = [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['conv:*'] }];
const rooms: Scope[] = [{ ops: ['subscribe', 'publish', 'presence'], topics: ['room:*'] }];

type Session = Awaited<ReturnType<typeof rawSession>>;

/** A raw session of `subject` with `scopes`; fails the test if the node refuses it. */
async function session(t: TestNode, subject: string, scopes: Scope[], ttlSeconds?: number): Promise<Session> {
  const s = await rawSession(t.url, await t.token(subject, scopes, ttlSeconds));
  assert.ok(s.connected, `${subject} connects`);
  return s;
}

/** The first frame `s` has received that `match` picks, waiting for it. */
function frame(s: Session, match: (f: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> {
  return waitFor(() => s.frames.find(match), 5000, what) as Promise<Record<string, any>>;
}

/** An SSE stream of `topic` opened with `token`, read in the background until it ends. */
async function stream(t: TestNode, topic: string, token: string) {
  const res = await fetch(`${t.url}/v1/topics/${topic}/stream?token=${token}`);
  assert.equal(res.status, 200);
  const events: { event: string; data: any }[] = [];
  const ended = readSse(res, (evs) => {
    events.splice(0, events.length, ...evs);
    return false;
  }).then((evs) => {
    events.splice(0, events.length, ...evs);
    return evs;
  });
  await waitFor(() => events.some((e) => e.event === 'ready'), 5000, 'the stream to be ready');
  return { events, ended };
}

describe('authorization that follows changes', () => {
  describe('when a member is removed from a conversation', () => {
    it('ends its subscriptions and presence there at once, and it receives nothing more', async () => {
      await using t = await startNode({ presenceFlushMs: 20 });
      const created = await t.api('/v1/conversations', { body: { id: 'team', members: ['ana', 'bob'] } });
      assert.equal(created.status, 201);
      const ana = await session(t, 'ana', member);
      const bob = await session(t, 'bob', member);
      const bobSse = await stream(t, 'conv:team', await t.token('bob', member));
      assert.equal((await ana.request({ type: 'subscribe', id: 1, topic: 'conv:team' })).type, 'subscribed');
      assert.equal((await ana.request({ type: 'presence.watch', id: 2, topic: 'conv:team' })).type, 'presence.state');
      assert.equal((await bob.request({ type: 'subscribe', id: 1, topic: 'conv:team' })).type, 'subscribed');
      assert.equal((await bob.request({ type: 'presence.join', id: 2, topic: 'conv:team' })).type, 'presence.state');
      // Bob is also present over HTTP (as a bot would be): that goes too.
      const put = await t.api('/v1/topics/conv:team/presence/bob', { method: 'PUT', body: {} });
      assert.ok(put.status < 300, JSON.stringify(put.body));

      const removed = await t.api('/v1/conversations/team/members/bob', { method: 'DELETE' });
      assert.equal(removed.status, 204);

      // Bob is told why, on every connection, and the connection itself stays.
      const ended = await frame(bob, (f) => f.type === 'unsubscribed', 'bob to be unsubscribed');
      assert.deepEqual(ended, { type: 'unsubscribed', topic: 'conv:team', code: 'forbidden' });
      const left = await frame(bob, (f) => f.type === 'presence.ended', "bob's presence to end");
      assert.deepEqual(left, { type: 'presence.ended', topic: 'conv:team', code: 'forbidden' });
      const sseEvents = await bobSse.ended;
      assert.deepEqual(sseEvents.at(-1), { event: 'disconnect', data: { code: 'forbidden', reconnect: false } });

      // Ana hears bob was removed, and sees him leave.
      const signal = await frame(ana, (f) => f.type === 'pub' && f.kind === 'member.removed', 'the removal signal');
      assert.equal(signal.from, 'bob');
      await frame(
        ana,
        (f) => f.type === 'presence.diff' && f.leaves.some((l: { id: string }) => l.id === 'bob'),
        'bob to leave',
      );
      const who = await t.api('/v1/topics/conv:team/presence');
      assert.deepEqual(
        who.body.members.map((m: { id: string }) => m.id),
        [],
      );

      // A later message reaches ana and not bob; bob's connection still answers.
      const sent = await ana.request({ type: 'conversation.send', id: 3, conversation: 'team', text: 'just us now' });
      assert.equal(sent.type, 'conversation.sent');
      await frame(ana, (f) => f.type === 'pub' && f.data?.text === 'just us now', 'ana to receive the message');
      assert.equal((await bob.request({ type: 'conversation.get', id: 4, conversation: 'team' })).code, 'not_member');
      assert.ok(!bob.frames.some((f) => f.type === 'pub' && f.data?.text === 'just us now'));
      assert.equal(
        (await bob.request({ type: 'subscribe', id: 5, topic: 'conv:team' })).code,
        'not_member',
        'and he cannot subscribe again',
      );
    });

    it('leaves the other members’ subscriptions alone', async () => {
      await using t = await startNode();
      await t.api('/v1/conversations', { body: { id: 'trio', members: ['ana', 'bob', 'cid'] } });
      const ana = await session(t, 'ana', member);
      const cid = await session(t, 'cid', member);
      for (const s of [ana, cid]) await s.request({ type: 'subscribe', id: 1, topic: 'conv:trio' });
      assert.equal((await t.api('/v1/conversations/trio/members/bob', { method: 'DELETE' })).status, 204);
      await ana.request({ type: 'conversation.send', id: 2, conversation: 'trio', text: 'still here' });
      await frame(cid, (f) => f.type === 'pub' && f.data?.text === 'still here', 'cid to receive the message');
      assert.ok(!ana.frames.some((f) => f.type === 'unsubscribed'));
      assert.ok(!cid.frames.some((f) => f.type === 'unsubscribed'));
    });
  });

  describe('a subscription opened with its own token', () => {
    it('ends with token_expired when that token expires, over WebSocket, and the connection stays', async () => {
      await using t = await startNode();
      const s = await session(t, 'ana', rooms);
      const own = await t.token('ana', [{ ops: ['subscribe'], topics: ['secret:1'] }], 1);
      const subscribed = await s.request({ type: 'subscribe', id: 1, topic: 'secret:1', token: own });
      assert.equal(subscribed.type, 'subscribed');
      const ended = await frame(s, (f) => f.type === 'unsubscribed', 'the subscription to end');
      assert.deepEqual(ended, { type: 'unsubscribed', topic: 'secret:1', code: 'token_expired' });
      await t.api('/v1/topics/secret:1/messages', { body: { data: 'after expiry' } });
      // The connection is fine: its own token still works.
      assert.equal((await s.request({ type: 'subscribe', id: 2, topic: 'room:1' })).type, 'subscribed');
      assert.ok(!s.frames.some((f) => f.type === 'pub' && f.data === 'after expiry'));
    });

    it('ends an SSE stream opened with ?token= when the token expires, saying token_expired', async () => {
      await using t = await startNode();
      const sse = await stream(t, 'room:1', await t.token('ana', rooms, 1));
      const events = await sse.ended;
      assert.deepEqual(events.at(-1), { event: 'disconnect', data: { code: 'token_expired', reconnect: true } });
    });
  });

  describe('a refresh to a narrower token', () => {
    it('ends the presence joins and watches the new token no longer allows, and keeps the rest', async () => {
      await using t = await startNode({ presenceFlushMs: 20 });
      const ana = await session(t, 'ana', rooms);
      const bob = await session(t, 'bob', rooms);
      await bob.request({ type: 'presence.watch', id: 1, topic: 'room:1' });
      assert.equal((await ana.request({ type: 'presence.join', id: 1, topic: 'room:1' })).type, 'presence.state');
      assert.equal((await ana.request({ type: 'presence.join', id: 2, topic: 'room:2' })).type, 'presence.state');
      assert.equal((await ana.request({ type: 'presence.watch', id: 3, topic: 'room:3' })).type, 'presence.state');
      await frame(bob, (f) => f.type === 'presence.diff' && f.joins.length === 1, 'ana to join room:1');

      const narrower = await t.token('ana', [
        { ops: ['subscribe', 'publish'], topics: ['room:*'] },
        { ops: ['presence'], topics: ['room:2'] },
      ]);
      assert.equal((await ana.request({ type: 'refresh', id: 4, token: narrower })).type, 'refreshed');

      const ended = ana.frames.filter((f) => f.type === 'presence.ended');
      assert.deepEqual(ended.map((f) => [f.topic, f.code]).sort(), [
        ['room:1', 'forbidden'],
        ['room:3', 'forbidden'],
      ]);
      await frame(
        bob,
        (f) => f.type === 'presence.diff' && f.leaves.some((l: { id: string }) => l.id === 'ana'),
        'ana to leave room:1',
      );
      const room2 = await t.api('/v1/topics/room:2/presence');
      assert.deepEqual(
        room2.body.members.map((m: { id: string }) => m.id),
        ['ana'],
      );
    });
  });

  describe('a stream watch', () => {
    /** A job of type `answer` whose stream `answer` a worker appends to over HTTP. */
    async function job(t: TestNode) {
      const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
      const lease = await t.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 1000, leaseMs: 60_000 } });
      const id = created.body.id as string;
      const append = async (text: string) => {
        const r = await t.api(`/v1/jobs/${id}/streams/answer`, {
          body: { lease: lease.body.lease.token, append: text },
        });
        assert.equal(r.status, 200);
      };
      return { id, key: `job:${id}/answer`, ref: { job: id, name: 'answer' }, append };
    }

    it('ends with forbidden when a refresh drops job:read, keeps a watch under its own token, and the stream goes on', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const a = await job(t);
      const b = await job(t);
      await a.append('Once');
      await b.append('Twice');
      const ana = await session(t, 'ana', [...rooms, { ops: ['job:read'], topics: ['job:*'] }]);
      const own = await t.token('ana', [{ ops: ['job:read'], topics: [`job:${b.id}`] }]);
      const first = await ana.request({ type: 'stream.subscribe', id: 1, stream: a.ref, from: 0 });
      const second = await ana.request({ type: 'stream.subscribe', id: 2, stream: b.ref, from: 0, token: own });
      assert.deepEqual([first.text, second.text], ['Once', 'Twice']);

      const narrower = await t.token('ana', rooms);
      assert.equal((await ana.request({ type: 'refresh', id: 3, token: narrower })).type, 'refreshed');
      const ended = await frame(ana, (f) => f.type === 'stream.unsubscribed', 'the watch to end');
      assert.deepEqual(ended, { type: 'stream.unsubscribed', stream: a.key, code: 'forbidden' });
      await a.append(' upon');
      await b.append(' more');
      await frame(ana, (f) => f.type === 'stream.delta' && f.stream === b.key, 'the other watch to go on');
      assert.ok(!ana.frames.some((f) => f.type === 'stream.delta' && f.stream === a.key));
      assert.equal((await t.api(`/v1/jobs/${a.id}/streams/answer`)).body.text, 'Once upon');
      // Watching it again needs the scope the connection no longer has.
      const again = await ana.request({ type: 'stream.subscribe', id: 4, stream: a.ref, from: 9 });
      assert.deepEqual([again.type, again.code], ['error', 'forbidden']);
    });

    it('ends when its member is removed from the conversation, over WebSocket and SSE, and leaves the others', async () => {
      await using t = await startNode();
      await t.api('/v1/conversations', { body: { id: 'team', members: ['ana', 'bob', 'bot'] } });
      const draft = (text: string) => t.api('/v1/conversations/team/drafts/r1', { body: { from: 'bot', text } });
      assert.equal((await draft('Hello')).status, 202);
      const ref = { conversation: 'team', message: 'r1' };
      const ana = await session(t, 'ana', member);
      const bob = await session(t, 'bob', member);
      assert.equal((await ana.request({ type: 'stream.subscribe', id: 1, stream: ref })).text, 'Hello');
      assert.equal((await bob.request({ type: 'stream.subscribe', id: 1, stream: ref })).text, 'Hello');
      const res = await fetch(`${t.url}/v1/conversations/team/streams/r1/events?token=${await t.token('bob', member)}`);
      assert.equal(res.status, 200);
      let sse: { event: string; data: any }[] = [];
      const sseEnded = readSse(res, (evs) => {
        sse = evs;
        return false;
      });
      await waitFor(() => sse.some((e) => e.event === 'stream.text'), 5000, 'the SSE watch to start');

      assert.equal((await t.api('/v1/conversations/team/members/bob', { method: 'DELETE' })).status, 204);
      const ended = await frame(bob, (f) => f.type === 'stream.unsubscribed', 'bob’s watch to end');
      assert.deepEqual(ended, { type: 'stream.unsubscribed', stream: 'conv:team/r1', code: 'forbidden' });
      assert.deepEqual((await sseEnded).at(-1), { event: 'disconnect', data: { code: 'forbidden', reconnect: false } });
      await draft(', Ana');
      await frame(ana, (f) => f.type === 'stream.delta' && f.text === ', Ana', 'ana to get the next words');
      assert.ok(!bob.frames.some((f) => f.type === 'stream.delta'));
    });

    it('ends with token_expired when the token stream.subscribe carried expires, and the connection stays', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const a = await job(t);
      await a.append('Once');
      const ana = await session(t, 'ana', rooms);
      const own = await t.token('ana', [{ ops: ['job:read'], topics: [`job:${a.id}`] }], 1);
      const watched = await ana.request({ type: 'stream.subscribe', id: 1, stream: a.ref, from: 0, token: own });
      assert.equal(watched.text, 'Once');
      const ended = await frame(ana, (f) => f.type === 'stream.unsubscribed', 'the watch to end');
      assert.deepEqual(ended, { type: 'stream.unsubscribed', stream: a.key, code: 'token_expired' });
      await a.append(' upon');
      assert.equal((await ana.request({ type: 'subscribe', id: 2, topic: 'room:1' })).type, 'subscribed');
      assert.ok(!ana.frames.some((f) => f.type === 'stream.delta'));
    });
  });

  describe('subjects beginning with key:', () => {
    it('cannot be minted over HTTP or with node.mintToken', async () => {
      await using t = await startNode();
      const scopes = [{ ops: ['publish', 'job:create'], topics: ['*'] }];
      const refused = await t.api('/v1/tokens', { body: { subject: 'key:default', scopes } });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.code, 'bad_request');
      assert.match(refused.body.detail, /key:/);
      await assert.rejects(t.node.mintToken('key:default', []), (err: { code?: string }) => err.code === 'bad_request');
      // Nor in another letter case, behind an invisible character, or as the node's own name.
      for (const subject of ['KEY:default', '\u200bkey:default', 'inloop', 'Inloop', 'ana\u0000']) {
        const res = await t.api('/v1/tokens', { body: { subject, scopes } });
        assert.equal(res.body.code, 'bad_request', JSON.stringify(subject));
      }
      // Other subjects still are.
      assert.equal((await t.api('/v1/tokens', { body: { subject: 'keymaster', scopes } })).status, 201);
    });
  });

  describe('a token signed with the node’s secret', () => {
    it('is refused when its expiry is not a whole number of seconds (exp: 1e400 never expires)', async () => {
      const secret = 'a-token-secret-of-at-least-32-characters!';
      await using t = await startNode({ tokenSecret: secret });
      const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
      const sign = async (payloadJson: string) => {
        const { createHmac } = await import('node:crypto');
        const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payloadJson)}`;
        return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
      };
      const forever = await sign('{"sub":"ana","exp":1e400,"scopes":[{"ops":["subscribe"],"topics":["*"]}]}');
      const s = await rawSession(t.url, forever);
      assert.equal(s.connected, false);
      assert.equal(await s.closeCode, 4401);
      const fine = await sign(
        `{"sub":"ana","exp":${Math.floor(Date.now() / 1000) + 60},"scopes":[{"ops":["subscribe"],"topics":["*"]}]}`,
      );
      const ok = await rawSession(t.url, fine);
      assert.equal(ok.connected, true);
      ok.ws.close();
    });
  });

  describe('presence put over HTTP with a token', () => {
    it('lasts no longer than the token that put it', async () => {
      await using t = await startNode({ presenceTtlMs: 60_000 });
      const token = await t.token('exp3', rooms, 1);
      const put = await t.api('/v1/topics/room:ttl/presence/exp3', {
        method: 'PUT',
        body: { ttlMs: 600_000 },
        token,
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(
        put.body.members.map((m: { id: string }) => m.id),
        ['exp3'],
      );
      await waitFor(
        async () => (await t.api('/v1/topics/room:ttl/presence')).body.members.length === 0,
        10_000,
        'the member to leave once its token expired',
      );
    });
  });

  describe('signals on reserved topics', () => {
    it('refuses typing on a job topic with reserved_topic, over WebSocket and HTTP', async () => {
      await using t = await startNode();
      const s = await session(t, 'ana', [{ ops: ['subscribe', 'publish'], topics: ['*'] }]);
      for (const type of ['typing.start', 'typing.stop']) {
        const reply = await s.request({ type, id: 1, topic: 'job:j_1' });
        assert.equal(reply.code, 'reserved_topic', type);
      }
      const token = await t.token('ana', [{ ops: ['publish'], topics: ['*'] }]);
      const http = await t.api('/v1/topics/job:j_1/messages', { body: { data: {}, ephemeral: true }, token });
      assert.equal(http.status, 403);
      assert.equal(http.body.code, 'reserved_topic');
    });

    it('still lets members type in their conversation', async () => {
      await using t = await startNode();
      await t.api('/v1/conversations', { body: { id: 'pair', members: ['ana', 'bob'] } });
      const ana = await session(t, 'ana', member);
      const bob = await session(t, 'bob', member);
      await bob.request({ type: 'subscribe', id: 1, topic: 'conv:pair' });
      assert.equal((await ana.request({ type: 'typing.start', id: 1, topic: 'conv:pair' })).type, 'ack');
      const typing = await frame(bob, (f) => f.type === 'pub' && f.kind === 'typing.start', 'the typing signal');
      assert.equal(typing.from, 'ana');
    });
  });
});
