import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Scope } from '@inloop/protocol';
import { createLogger } from '@inloop/server';
import { rawSession, startNode, waitFor, type TestNode } from './helpers.js';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
const scopes: Scope[] = [
  { ops: ['subscribe', 'history'], topics: ['room:1'] },
  { ops: ['publish'], topics: ['room:42:*'] },
];

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function sign(payload: Record<string, unknown>, secret = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

type Op = 'ws.subscribe' | 'ws.publish' | 'http.publish' | 'http.history' | 'sse.subscribe' | 'sse.header';

/** Try one operation; true when the node let it succeed. */
async function attempt(t: TestNode, token: string, op: Op, topic: string): Promise<boolean> {
  const path = `/v1/topics/${encodeURIComponent(topic)}`;
  switch (op) {
    case 'http.publish':
      return (await t.api(`${path}/messages`, { body: { data: 1 }, token })).status === 201;
    case 'http.history':
      return (await t.api(`${path}/messages?after=0`, { token })).status === 200;
    case 'sse.subscribe':
    case 'sse.header': {
      // EventSource style (`?token=`), or with the header as the SDK and backends send it.
      const res =
        op === 'sse.header'
          ? await fetch(`${t.url}${path}/stream`, { headers: { authorization: `Bearer ${token}` } })
          : await fetch(`${t.url}${path}/stream?token=${encodeURIComponent(token)}`);
      await res.body?.cancel();
      return res.status === 200;
    }
    default: {
      const s = await rawSession(t.url, token);
      if (!s.connected) return false;
      const reply =
        op === 'ws.subscribe'
          ? await s.request({ type: 'subscribe', id: 1, topic })
          : await s.request({ type: 'publish', id: 1, topic, data: 1 });
      s.ws.close();
      return reply.type === (op === 'ws.subscribe' ? 'subscribed' : 'ack');
    }
  }
}

describe('auth', () => {
  it('grants exactly what the token scopes say, on every path (table of cases)', { timeout: 60_000 }, async () => {
    await using t = await startNode({ tokenSecret: SECRET });
    const good = await t.token('user-1', scopes);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'user-1', scopes, exp: now + 600 };
    const tokens: Record<string, string> = {
      good,
      apiKey: t.node.apiKey,
      expired: await sign({ ...claims, exp: now - 10 }),
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      wrongKey: await sign(claims, 'another-secret-that-is-at-least-32-bytes!!'),
      tampered: `${good.split('.')[0]}.${b64({ ...claims, scopes: [{ ops: ['publish', 'subscribe'], topics: ['*'] }] })}.${good.split('.')[2]}`,
      malformed: 'not.a.token',
      badPattern: await sign({ ...claims, scopes: [{ ops: ['subscribe'], topics: ['room:*:x'] }] }),
      noExpiry: await sign({ sub: 'user-1', scopes }),
      wrongApiKey: 'x'.repeat(32),
    };
    const cases: [string, Op, string, boolean][] = [
      // exact topics: siblings, children, case and look-alikes
      ['good', 'ws.subscribe', 'room:1', true],
      ['good', 'sse.subscribe', 'room:1', true],
      ['good', 'http.history', 'room:1', true],
      ['good', 'ws.subscribe', 'room:10', false],
      ['good', 'sse.subscribe', 'room:10', false],
      ['good', 'http.history', 'room:10', false],
      ['good', 'ws.subscribe', 'room:1:private', false],
      ['good', 'ws.subscribe', 'Room:1', false],
      ['good', 'ws.subscribe', 'room:1.', false],
      ['good', 'ws.subscribe', 'room:', false],
      ['good', 'ws.subscribe', 'room', false],
      ['good', 'http.history', 'ROOM:1', false],
      // operations are separate grants
      ['good', 'ws.publish', 'room:1', false],
      ['good', 'http.publish', 'room:1', false],
      ['good', 'ws.subscribe', 'room:42:a', false],
      ['good', 'http.history', 'room:42:a', false],
      ['good', 'sse.subscribe', 'room:42:a', false],
      // prefixes
      ['good', 'ws.publish', 'room:42:a', true],
      ['good', 'http.publish', 'room:42:a', true],
      ['good', 'ws.publish', 'room:42:a:b', true],
      ['good', 'ws.publish', 'room:42', false],
      ['good', 'ws.publish', 'room:42:', false],
      ['good', 'ws.publish', 'room:420:a', false],
      ['good', 'http.publish', 'room:4', false],
      ['good', 'http.publish', 'xroom:42:a', false],
      // path-like and invalid names never match anything
      ['good', 'ws.subscribe', 'room:1/../room:2', false],
      ['good', 'http.history', 'room:1/../room:1', false],
      ['good', 'sse.subscribe', '../room:1', false],
      ['good', 'ws.publish', 'room:42:*', false],
      ['good', 'ws.subscribe', '*', false],
      ['good', 'ws.subscribe', 'room:1 ', false],
      ['good', 'http.publish', '..', false],
      // bad tokens get nothing anywhere
      ...(
        ['expired', 'algNone', 'wrongKey', 'tampered', 'malformed', 'badPattern', 'noExpiry', 'wrongApiKey'] as const
      ).flatMap((name) =>
        (['ws.subscribe', 'http.publish', 'http.history', 'sse.subscribe'] as const).map(
          (op) => [name, op, op === 'http.publish' ? 'room:42:a' : 'room:1', false] as [string, Op, string, boolean],
        ),
      ),
      // backends hold API keys and may do anything over HTTP
      ['apiKey', 'http.publish', 'anything:at:all', true],
      ['apiKey', 'http.history', 'room:1', true],
      ['apiKey', 'sse.header', 'room:10', true],
      // ...in the Authorization header only: never from a URL
      ['apiKey', 'sse.subscribe', 'room:10', false],
    ];
    assert.ok(cases.length >= 40, `${cases.length} cases`);
    const wrong: string[] = [];
    for (const [name, op, topic, expected] of cases) {
      const got = await attempt(t, tokens[name]!, op, topic);
      if (got !== expected)
        wrong.push(`${name} ${op} ${JSON.stringify(topic)}: expected ${expected ? 'allowed' : 'refused'}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('answers refused requests with stable codes', async () => {
    await using t = await startNode({ tokenSecret: SECRET });
    const good = await t.token('user-1', scopes);
    assert.equal((await t.api('/v1/topics/room:10/messages?after=0', { token: good })).body.code, 'forbidden');
    assert.equal((await t.api('/v1/topics/room:1/messages?after=0', { token: 'nope' })).body.code, 'unauthorized');
    const expired = await sign({ sub: 'u', scopes, exp: Math.floor(Date.now() / 1000) - 5 });
    assert.equal((await t.api('/v1/topics/room:1/messages?after=0', { token: expired })).body.code, 'token_expired');
    assert.equal(
      (await t.api('/v1/tokens', { body: { subject: 'x', scopes: [] }, token: good })).body.code,
      'forbidden',
    );
    const s = await rawSession(t.url, good);
    assert.deepEqual(await s.request({ type: 'subscribe', id: 7, topic: 'room:2' }), {
      type: 'error',
      id: 7,
      code: 'forbidden',
      message: 'The credentials do not grant this operation on this topic',
    });
    s.ws.close();
    const bad = await rawSession(t.url, 'garbage');
    assert.equal(bad.connected, false);
    assert.equal(await bad.closeCode, 4401);
    const late = await rawSession(t.url, expired);
    assert.equal(await late.closeCode, 4100);
  });

  describe('browser origins', () => {
    it('closes a WebSocket with 4403 and refuses HTTP requests from an origin not in the allowlist', async () => {
      await using t = await startNode({ allowedOrigins: ['https://app.example.com'] });
      const token = await t.token('u', scopes);
      // A browser cannot read an HTTP refusal (it sees 1006 and retries): the socket opens and is
      // closed at once with 4403, and nothing sent on it is answered.
      const evilWs = await rawSession(t.url, token, { origin: 'https://evil.example.com' });
      assert.equal(evilWs.connected, false);
      assert.equal(await evilWs.closeCode, 4403);
      assert.deepEqual(evilWs.frames, []);
      const ok = await rawSession(t.url, token, { origin: 'https://app.example.com' });
      assert.equal(ok.connected, true);
      ok.ws.close();
      const evil = await t.api('/v1/topics/room:1/messages?after=0', {
        headers: { origin: 'https://app.example.com.evil.com' },
      });
      assert.equal(evil.status, 403);
      assert.equal(evil.body.code, 'origin_not_allowed');
      const allowed = await t.api('/v1/topics/room:1/messages?after=0', {
        headers: { origin: 'https://app.example.com' },
      });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
      const same = await t.api('/v1/topics/room:1/messages?after=0', { headers: { origin: t.url } });
      assert.equal(same.status, 200, 'the node’s own origin is always allowed');
    });
  });

  describe('token lifetime on an open connection', () => {
    it('refreshes in band before expiry without dropping the connection', { timeout: 30_000 }, async () => {
      await using t = await startNode({ tokenSecret: SECRET });
      let minted = 0;
      const client = t.client(async () => {
        minted++;
        return t.token('user-1', scopes, 6);
      });
      const states: string[] = [];
      client.on('state', (s) => states.push(s.to));
      const sub = client.subscribe('room:1');
      await waitFor(() => sub.position, 2000, 'subscribed');
      await waitFor(() => minted >= 3, 12_000, 'two in-band refreshes');
      await t.api('/v1/topics/room:1/messages', { body: { data: 'still here' } });
      const got: unknown[] = [];
      sub.on('publication', (p) => got.push(p.data));
      await t.api('/v1/topics/room:1/messages', { body: { data: 'after refresh' } });
      // 'still here' may reach the subscriber after its HTTP answer, so after the listener: wait
      // for the publication made after it, whatever came before.
      await waitFor(() => got.includes('after refresh'), 2000, 'a publication after refreshing');
      assert.deepEqual(states, ['connecting', 'connected'], 'never disconnected');
    });

    it(
      'closes with 4100 when the token expires unrefreshed, and the client stops with that reason',
      { timeout: 20_000 },
      async () => {
        await using t = await startNode({ tokenSecret: SECRET });
        const client = t.client(await t.token('user-1', scopes, 2));
        const changes: { to: string; closeCode?: number }[] = [];
        client.on('state', (s) => changes.push({ to: s.to, closeCode: s.reason.closeCode }));
        await client.connect();
        await waitFor(() => client.state === 'closed', 6000, 'the close');
        assert.deepEqual(changes.at(-1), { to: 'closed', closeCode: 4100 });
      },
    );

    it('refuses a refresh to another subject', async () => {
      await using t = await startNode({ tokenSecret: SECRET });
      const s = await rawSession(t.url, await t.token('alice', scopes));
      const reply = await s.request({ type: 'refresh', id: 3, token: await t.token('mallory', scopes) });
      assert.equal(reply.code, 'subject_mismatch');
      s.ws.close();
    });
  });

  it('never writes tokens or API keys to the log, even at debug level', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => lines.push(line) });
    await using t = await startNode({ tokenSecret: SECRET, logger });
    const token = await t.token('user-1', scopes);
    await t.api('/v1/topics/room:1/messages?after=0', { token });
    const sse = await fetch(`${t.url}/v1/topics/room:1/stream?token=${token}`);
    await sse.body?.cancel();
    await t.api('/v1/topics/room:1/messages?after=0', { token: 'wrong-token-value-12345' });
    await t.api('/v1/topics/x/messages', { body: { data: 1 } });
    const s = await rawSession(t.url, token);
    s.ws.close();
    await waitFor(() => lines.some((l) => l.includes('[redacted]')), 2000, 'a request line with a redacted token');
    const log = lines.join('');
    assert.ok(lines.length > 3, 'something was logged');
    for (const secret of [token, t.node.apiKey, 'wrong-token-value-12345', SECRET])
      assert.ok(!log.includes(secret), 'a credential leaked into the log');
  });
});
