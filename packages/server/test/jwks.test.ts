import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import { createNode } from '@inloop/server';
import { freePort, rawSession, startNode, type TestNode } from './helpers.js';

interface Key {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  privateKey: CryptoKey;
  publicJwk: JWK;
  spki: string;
}

async function key(kid: string, alg: Key['alg']): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, spki: await exportSPKI(publicKey) };
}

/** A local identity provider: JWKS documents served on loopback, changed at will, fetches counted. */
class JwksServer {
  readonly sets = new Map<string, Key[]>();
  readonly fetches = new Map<string, number>();
  /** How a path fails instead of answering its keys; `huge` answers them padded past 2 MiB, chunked. */
  readonly failures = new Map<string, 'error' | 'bad-json' | 'not-a-set' | 'reset' | 'huge'>();
  failing = false;
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const path = req.url ?? '';
      this.fetches.set(path, (this.fetches.get(path) ?? 0) + 1);
      const keys = this.sets.get(path);
      const failure = this.failures.get(path);
      if (failure === 'error') return void res.writeHead(500).end();
      if (failure === 'bad-json')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":');
      if (failure === 'not-a-set')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":5}');
      if (failure === 'reset') return void req.socket.destroy();
      if (failure === 'huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`{"keys":${JSON.stringify((keys ?? []).map((k) => k.publicJwk))},"padding":"`);
        const chunk = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 40; i++) res.write(chunk);
        res.end('"}');
        return;
      }
      if (this.failing || !keys) {
        res.writeHead(this.failing ? 500 : 404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#server?.closeAllConnections();
    return new Promise((r) => this.#server?.close(() => r()) ?? r());
  }
}

const ISS_A = 'https://a.example.com/';
const ISS_B = 'https://b.example.com/';
const ISS_C = 'https://c.example.com/';
const ISS_DOWN = 'https://down.example.com/';

interface Claims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  [claim: string]: unknown;
}

const now = () => Math.floor(Date.now() / 1000);

async function sign(k: Key, claims: Claims, header: Record<string, unknown> = {}): Promise<string> {
  const body: Claims = { iss: ISS_A, sub: 'alice', aud: 'app', exp: now() + 300, ...claims };
  for (const name of Object.keys(body)) if (body[name] === undefined) delete body[name];
  return new SignJWT(body).setProtectedHeader({ alg: k.alg, kid: k.kid, ...header }).sign(k.privateKey);
}

/** What the node answers to reading `topic`'s history with `token`: 'ok', or the problem's code. */
async function read(t: TestNode, token: string, topic: string): Promise<string> {
  const res = await t.api(`/v1/topics/${encodeURIComponent(topic)}/messages?after=0`, { token });
  return res.status === 200 ? 'ok' : String(res.body.code);
}

describe('tokens from an identity provider (JWKS)', () => {
  const idp = new JwksServer();
  let t: TestNode;
  let a1: Key, a2: Key, aNext: Key, bSameKid: Key, bEc: Key, c1: Key, stranger: Key;

  before(async () => {
    await idp.start();
    [a1, a2, aNext, bSameKid, bEc, c1, stranger] = await Promise.all([
      key('k1', 'RS256'),
      key('a2', 'ES256'),
      key('a-next', 'RS256'),
      key('k1', 'RS256'), // the same kid and algorithm as A's first key: it must never verify A's tokens
      key('b-ec', 'ES256'),
      key('c1', 'EdDSA'),
      key('stranger', 'RS256'),
    ]);
    idp.sets.set('/a/jwks', [a1, a2]);
    idp.sets.set('/b/jwks', [bSameKid, bEc]);
    t = await startNode({
      tokenSecret: 'test-secret-that-is-at-least-32-bytes-long!',
      tokenIssuerRefreshCooldownMs: 0,
      tokenIssuers: [
        {
          issuer: ISS_A,
          jwksUrl: `${idp.url}/a/jwks`,
          audience: ['app', 'app-2'],
          rules: [
            { ops: ['subscribe', 'history', 'publish'], topics: ['user:{sub}:*'] },
            { ops: ['history'], topics: ['admin:*'], when: { claim: 'roles', equals: 'admin' } },
            { ops: ['history'], topics: ['org:{org.id}:*'] },
          ],
        },
        {
          issuer: ISS_B,
          jwksUrl: `${idp.url}/b/jwks`,
          audience: 'app-b',
          algorithms: ['RS256'],
          scopesClaim: 'inloop.scopes',
          subjectPrefix: 'b|',
        },
        {
          issuer: ISS_C,
          keys: { keys: [c1.publicJwk as Record<string, unknown>] },
          audience: 'app-c',
          rules: [{ ops: ['history'], topics: ['c:{sub}'] }],
        },
        { issuer: ISS_DOWN, jwksUrl: `http://127.0.0.1:${await freePort()}/jwks`, audience: 'app' },
      ],
    });
  });

  after(async () => {
    await t[Symbol.asyncDispose]();
    await idp.close();
  });

  it('accepts an RS256 token of a trusted issuer and grants what its rules derive from the claims', async () => {
    const token = await sign(a1, {});
    assert.equal(await read(t, token, 'user:alice:inbox'), 'ok');
    assert.equal(await read(t, token, 'user:bob:inbox'), 'forbidden');
  });

  it('accepts an ES256 token of the same issuer (another key of its set)', async () => {
    assert.equal(await read(t, await sign(a2, {}), 'user:alice:x'), 'ok');
  });

  it('accepts any of the audiences the issuer is trusted for, in a list claim too', async () => {
    assert.equal(await read(t, await sign(a1, { aud: 'app-2' }), 'user:alice:x'), 'ok');
    assert.equal(await read(t, await sign(a1, { aud: ['other', 'app'] }), 'user:alice:x'), 'ok');
  });

  it('grants a conditional rule only when the claim holds the value', async () => {
    assert.equal(await read(t, await sign(a1, { roles: ['admin', 'x'] }), 'admin:audit'), 'ok');
    assert.equal(await read(t, await sign(a1, { roles: ['user'] }), 'admin:audit'), 'forbidden');
    assert.equal(await read(t, await sign(a1, { roles: 'admin' }), 'admin:audit'), 'ok');
  });

  it('fills a rule from a nested claim', async () => {
    assert.equal(await read(t, await sign(a1, { org: { id: 'acme' } }), 'org:acme:news'), 'ok');
    assert.equal(await read(t, await sign(a1, { org: { id: 'acme' } }), 'org:other:news'), 'forbidden');
  });

  it('grants nothing from a rule whose claim would reach into another namespace or widen it', async () => {
    assert.equal(await read(t, await sign(a1, { sub: 'eve:alice' }), 'user:eve:alice:inbox'), 'forbidden');
    assert.equal(await read(t, await sign(a1, { sub: '*' }), 'user:bob:inbox'), 'forbidden');
    assert.equal(await read(t, await sign(a1, { org: { id: 'a*' } }), 'org:abc:news'), 'forbidden');
  });

  it('takes scopes from the claim path configured for the issuer (RS256 only there)', async () => {
    const scopes = [{ ops: ['history'], topics: ['b:room'] }];
    const token = await sign(bSameKid, { iss: ISS_B, aud: 'app-b', inloop: { scopes } });
    assert.equal(await read(t, token, 'b:room'), 'ok');
    assert.equal(await read(t, token, 'b:other'), 'forbidden');
  });

  it("prefixes the issuer's subjects so they cannot meet another issuer's users", async () => {
    const scopes = [{ ops: ['publish', 'history'], topics: ['b:room'] }];
    const token = await sign(bSameKid, { iss: ISS_B, aud: 'app-b', sub: 'alice', inloop: { scopes } });
    const res = await t.api('/v1/topics/b%3Aroom/messages', { body: { data: 1 }, token });
    assert.equal(res.status, 201);
    const history = await t.api('/v1/topics/b%3Aroom/messages?after=0', { token });
    assert.equal(history.body.messages.at(-1).from, 'b|alice');
  });

  it('refuses a malformed scopes claim', async () => {
    const token = await sign(bSameKid, { iss: ISS_B, aud: 'app-b', inloop: { scopes: 'everything' } });
    assert.equal(await read(t, token, 'b:room'), 'unauthorized');
  });

  it('accepts an EdDSA token of an issuer with a static key set', async () => {
    assert.equal(await read(t, await sign(c1, { iss: ISS_C, aud: 'app-c' }), 'c:alice'), 'ok');
  });

  it('refuses an expired token with token_expired', async () => {
    assert.equal(await read(t, await sign(a1, { exp: now() - 120 }), 'user:alice:x'), 'token_expired');
  });

  it('refuses a token that is not valid yet with token_not_yet_valid', async () => {
    assert.equal(await read(t, await sign(a1, { nbf: now() + 600 }), 'user:alice:x'), 'token_not_yet_valid');
  });

  it('refuses a token for another audience, or none', async () => {
    assert.equal(await read(t, await sign(a1, { aud: 'someone-else' }), 'user:alice:x'), 'token_audience_mismatch');
    assert.equal(await read(t, await sign(a1, { aud: undefined }), 'user:alice:x'), 'token_audience_mismatch');
  });

  it('refuses a token of an issuer it does not trust, or of no issuer', async () => {
    assert.equal(
      await read(t, await sign(a1, { iss: 'https://evil.example.com/' }), 'user:alice:x'),
      'token_issuer_unknown',
    );
    assert.equal(await read(t, await sign(a1, { iss: undefined }), 'user:alice:x'), 'token_issuer_unknown');
  });

  it("never verifies one issuer's token with another issuer's key of the same kid", async () => {
    // Signed with B's key "k1", claiming A: A's "k1" is another key, so the signature fails.
    assert.equal(await read(t, await sign(bSameKid, { iss: ISS_A }), 'user:alice:x'), 'unauthorized');
    // Signed with A's key "k1", claiming B: B's "k1" is another key.
    const forged = await sign(a1, {
      iss: ISS_B,
      aud: 'app-b',
      inloop: { scopes: [{ ops: ['history'], topics: ['b:room'] }] },
    });
    assert.equal(await read(t, forged, 'b:room'), 'unauthorized');
  });

  it("refuses an HS256 token made with an issuer's public key as the secret (alg confusion)", async () => {
    const asSecret = async (secret: string) =>
      new SignJWT({ iss: ISS_A, sub: 'alice', aud: 'app', exp: now() + 300 })
        .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
        .sign(new TextEncoder().encode(secret));
    assert.equal(await read(t, await asSecret(a1.spki), 'user:alice:x'), 'unauthorized');
    assert.equal(await read(t, await asSecret(JSON.stringify(a1.publicJwk)), 'user:alice:x'), 'unauthorized');
  });

  it('refuses alg none and algorithms an issuer does not allow', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const none = `${b64({ alg: 'none' })}.${b64({ iss: ISS_A, sub: 'alice', aud: 'app', exp: now() + 60 })}.`;
    assert.equal(await read(t, none, 'user:alice:x'), 'token_algorithm_not_allowed');
    const ecForB = await sign(bEc, { iss: ISS_B, aud: 'app-b' });
    assert.equal(await read(t, ecForB, 'b:room'), 'token_algorithm_not_allowed');
  });

  it('refuses a token whose header claims another algorithm than its key', async () => {
    const token = await sign(a1, {});
    const [, payload, signature] = token.split('.');
    // A's ES256 key "a2" exists: the RS256 signature does not verify with it.
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'a2' })).toString('base64url');
    assert.equal(await read(t, `${header}.${payload}.${signature}`, 'user:alice:x'), 'unauthorized');
  });

  it('refuses a token whose claims were changed after signing', async () => {
    const [header, , signature] = (await sign(a1, {})).split('.');
    const payload = Buffer.from(JSON.stringify({ iss: ISS_A, sub: 'bob', aud: 'app', exp: now() + 300 })).toString(
      'base64url',
    );
    assert.equal(await read(t, `${header}.${payload}.${signature}`, 'user:bob:x'), 'unauthorized');
  });

  it('refuses a token without a subject or an expiry', async () => {
    assert.equal(await read(t, await sign(a1, { sub: undefined }), 'user:alice:x'), 'unauthorized');
    assert.equal(await read(t, await sign(a1, { exp: undefined }), 'user:alice:x'), 'unauthorized');
  });

  it('refuses a subject that would speak as an API key or as the node', async () => {
    assert.equal(await read(t, await sign(a1, { sub: 'key:default' }), 'user:alice:x'), 'unauthorized');
    assert.equal(await read(t, await sign(a1, { sub: 'inloop' }), 'user:alice:x'), 'unauthorized');
  });

  it('refuses a token signed with a key its issuer never published', async () => {
    const token = await sign(stranger, {});
    assert.equal(await read(t, token, 'user:alice:x'), 'token_key_unknown');
  });

  it('refuses garbage with unauthorized', async () => {
    assert.equal(await read(t, 'not-a-token', 'user:alice:x'), 'unauthorized');
    assert.equal(await read(t, 'a.b.c', 'user:alice:x'), 'unauthorized');
  });

  it('picks up a rotated-in key on the first token that uses it', async () => {
    const before = idp.fetches.get('/a/jwks') ?? 0;
    idp.sets.set('/a/jwks', [a1, a2, aNext]);
    assert.equal(await read(t, await sign(aNext, {}), 'user:alice:x'), 'ok');
    assert.ok((idp.fetches.get('/a/jwks') ?? 0) > before, 'the key set was fetched again');
  });

  it('refuses a rotated-out key once the set was fetched again', async () => {
    idp.sets.set('/a/jwks', [a2, aNext]);
    // A token with a kid nobody knows makes the node refetch; afterwards k1 is gone.
    assert.equal(await read(t, await sign(stranger, {}), 'user:alice:x'), 'token_key_unknown');
    assert.equal(await read(t, await sign(a1, {}), 'user:alice:x'), 'token_key_unknown');
    assert.equal(await read(t, await sign(aNext, {}), 'user:alice:x'), 'ok');
  });

  it("answers token_keys_unavailable (503, retry) when the issuer's JWKS cannot be fetched", async () => {
    const res = await t.api('/v1/topics/x/messages?after=0', {
      token: await sign(a1, { iss: ISS_DOWN }),
    });
    assert.equal(res.status, 503);
    assert.equal(res.body.code, 'token_keys_unavailable');
  });

  it('keeps accepting HS256 tokens made with the node secret, and refuses them claiming an issuer', async () => {
    const own = await t.token('alice', [{ ops: ['history'], topics: ['user:alice:x'] }]);
    assert.equal(await read(t, own, 'user:alice:x'), 'ok');
    const claimingA = await new SignJWT({ iss: ISS_A, sub: 'alice', exp: now() + 60, scopes: [] })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('test-secret-that-is-at-least-32-bytes-long!'));
    assert.equal(await read(t, claimingA, 'user:alice:x'), 'unauthorized');
  });

  it('connects over WebSocket with a provider token and subscribes where the rules allow', async () => {
    const s = await rawSession(t.url, await sign(aNext, {}));
    assert.equal(s.connected, true);
    assert.equal((await s.request({ type: 'subscribe', id: 1, topic: 'user:alice:feed' })).type, 'subscribed');
    assert.equal((await s.request({ type: 'subscribe', id: 2, topic: 'user:bob:feed' })).code, 'forbidden');
    s.ws.close();
  });

  it('closes a WebSocket connecting with an expired provider token with 4100, a bad one with 4401', async () => {
    const expired = await rawSession(t.url, await sign(aNext, { exp: now() - 120 }));
    assert.equal(expired.connected, false);
    assert.equal(expired.frames.find((f) => f.type === 'error')?.code, 'token_expired');
    assert.equal(await expired.closeCode, 4100);
    const wrong = await rawSession(t.url, await sign(aNext, { aud: 'nope' }));
    assert.equal(wrong.frames.find((f) => f.type === 'error')?.code, 'token_audience_mismatch');
    assert.equal(await wrong.closeCode, 4401);
  });

  it("closes a WebSocket with 4005 (reconnect later) when the issuer's keys cannot be fetched", async () => {
    const s = await rawSession(t.url, await sign(aNext, { iss: ISS_DOWN }));
    assert.equal(s.connected, false);
    assert.equal(s.frames.find((f) => f.type === 'error')?.code, 'token_keys_unavailable');
    assert.equal(await s.closeCode, 4005);
  });

  it('refreshes a connection with a newer provider token of the same subject only', async () => {
    const s = await rawSession(t.url, await sign(aNext, {}));
    assert.equal((await s.request({ type: 'refresh', id: 1, token: await sign(aNext, {}) })).type, 'refreshed');
    const other = await s.request({ type: 'refresh', id: 2, token: await sign(aNext, { sub: 'bob' }) });
    assert.equal(other.code, 'subject_mismatch');
    s.ws.close();
  });

  it('refuses when the JWKS endpoint answers an error', async () => {
    idp.failing = true;
    try {
      assert.equal(
        await read(t, await sign(bSameKid, { iss: ISS_B, aud: 'app-b' }, { kid: 'brand-new' }), 'b:room'),
        'token_keys_unavailable',
      );
    } finally {
      idp.failing = false;
    }
  });
});

describe('a mistaken issuer config', () => {
  it('stops the node at start, naming the mistake', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = { ...(await exportJWK(privateKey)), kid: 'oops' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ keys: { keys: [privateJwk] } }, /must be public keys/],
      [
        { jwksUrl: 'https://idp.example.com/jwks', rules: [{ ops: ['subscibe'], topics: ['a'] }] },
        /unknown operation "subscibe"/,
      ],
      [
        { jwksUrl: 'https://idp.example.com/jwks', rules: [{ ops: ['subscribe'], topics: ['user:{sub}:**'] }] },
        /not a valid topic pattern/,
      ],
      [{}, /needs jwksUrl or keys/],
    ];
    for (const [fields, message] of cases) {
      await assert.rejects(
        createNode({
          storage: 'memory',
          processMetrics: false,
          tokenIssuers: [{ issuer: ISS_A, audience: 'app', ...fields }] as never,
        }),
        (err: Error) => err.name === 'ConfigError' && message.test(err.message),
      );
    }
  });
});

describe('refreshing key sets is rate-limited', () => {
  it('fetches the set once for a burst of tokens with unknown kids', async () => {
    const idp = new JwksServer();
    await idp.start();
    const known = await key('known', 'RS256');
    idp.sets.set('/jwks', [known]);
    await using t = await startNode({
      tokenIssuerRefreshCooldownMs: 60_000,
      tokenIssuers: [
        {
          issuer: ISS_A,
          jwksUrl: `${idp.url}/jwks`,
          audience: 'app',
          rules: [{ ops: ['history'], topics: ['user:{sub}:*'] }],
        },
      ],
    });
    try {
      assert.equal(await read(t, await sign(known, {}), 'user:alice:x'), 'ok');
      const first = idp.fetches.get('/jwks');
      for (let i = 0; i < 5; i++) {
        const unknown = await key(`unknown-${i}`, 'RS256');
        assert.equal(await read(t, await sign(unknown, {}), 'user:alice:x'), 'token_key_unknown');
      }
      assert.ok((idp.fetches.get('/jwks') ?? 0) <= (first ?? 0) + 1, 'at most one refetch within the cooldown');
    } finally {
      await idp.close();
    }
  });

  it('fetches a failing key set once per cooldown, however many tokens (forged ones too) arrive meanwhile', async () => {
    const idp = new JwksServer();
    await idp.start();
    const modes = ['error', 'bad-json', 'not-a-set', 'reset'] as const;
    for (const mode of modes) idp.failures.set(`/${mode}`, mode);
    await using t = await startNode({
      tokenIssuerRefreshCooldownMs: 60_000,
      tokenIssuers: modes.map((mode) => ({
        issuer: `https://${mode}.example.com/`,
        jwksUrl: `${idp.url}/${mode}`,
        audience: 'app',
        rules: [{ ops: ['history'], topics: ['user:{sub}:*'] }],
      })),
    });
    try {
      const signer = await key('whatever', 'RS256');
      for (const mode of modes) {
        for (let i = 0; i < 30; i++) {
          const token = await sign(signer, { iss: `https://${mode}.example.com/` }, { kid: `made-up-${i}` });
          // A garbage signature: nothing about the token is trusted, yet it must not cost a fetch.
          const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(43)}`;
          assert.equal(await read(t, i % 2 ? forged : token, 'user:alice:x'), 'token_keys_unavailable', mode);
        }
        const s = await rawSession(t.url, await sign(signer, { iss: `https://${mode}.example.com/` }));
        assert.equal(s.frames.find((f) => f.type === 'error')?.code, 'token_keys_unavailable');
        assert.equal(await s.closeCode, 4005);
        assert.equal(idp.fetches.get(`/${mode}`), 1, `one fetch of the set answering ${mode}`);
      }
    } finally {
      await idp.close();
    }
  });

  it('keeps verifying with the last good key set while the endpoint fails, without fetching for each token', async () => {
    const idp = new JwksServer();
    await idp.start();
    const known = await key('known', 'RS256');
    idp.sets.set('/jwks', [known]);
    await using t = await startNode({
      tokenIssuerRefreshCooldownMs: 60_000,
      tokenIssuers: [
        {
          issuer: ISS_A,
          jwksUrl: `${idp.url}/jwks`,
          audience: 'app',
          rules: [{ ops: ['history'], topics: ['user:{sub}:*'] }],
        },
      ],
    });
    try {
      assert.equal(await read(t, await sign(known, {}), 'user:alice:x'), 'ok');
      idp.failures.set('/jwks', 'error');
      const stranger = await key('rotated-in', 'RS256');
      for (let i = 0; i < 10; i++) {
        assert.notEqual(await read(t, await sign(stranger, {}), 'user:alice:x'), 'ok');
        assert.equal(await read(t, await sign(known, {}), 'user:alice:x'), 'ok');
      }
      assert.ok((idp.fetches.get('/jwks') ?? 0) <= 2, 'at most one refetch within the cooldown');
    } finally {
      await idp.close();
    }
  });

  it('refuses a key set larger than the configured limit as unavailable', async () => {
    const idp = new JwksServer();
    await idp.start();
    const known = await key('known', 'RS256');
    idp.sets.set('/jwks', [known]);
    idp.failures.set('/jwks', 'huge');
    await using t = await startNode({
      tokenIssuers: [
        {
          issuer: ISS_A,
          jwksUrl: `${idp.url}/jwks`,
          audience: 'app',
          rules: [{ ops: ['history'], topics: ['user:{sub}:*'] }],
        },
      ],
    });
    try {
      assert.equal(await read(t, await sign(known, {}), 'user:alice:x'), 'token_keys_unavailable');
      idp.failures.delete('/jwks');
      await using small = await startNode({
        tokenIssuerJwksMaxBytes: 1024,
        tokenIssuers: [{ issuer: ISS_A, jwksUrl: `${idp.url}/jwks`, audience: 'app' }],
      });
      // One RSA public key is about 420 bytes: three of them pass 1 KiB.
      idp.sets.set('/jwks', [known, await key('other', 'RS256'), await key('third', 'RS256')]);
      assert.equal(await read(small, await sign(known, {}), 'x'), 'token_keys_unavailable');
    } finally {
      await idp.close();
    }
  });
});
