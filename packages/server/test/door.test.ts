import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCatalog, isErrorCode, type Scope } from '@inloop/protocol';
import { Ticker, type Flushable } from '../src/domain/ticker.js';
import { rawSession, readSse, startNode, waitFor } from './helpers.js';

const everything: Scope[] = [{ ops: ['subscribe', 'publish', 'history', 'presence'], topics: ['*'] }];

/** `[[[...0...]]]` nested `depth` levels, as text (JSON.stringify itself overflows on deep input). */
const nested = (depth: number) => '['.repeat(depth) + '0' + ']'.repeat(depth);

/** Send raw bytes on a fresh connection and read what comes back until the node closes it. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

/** Whether an HTTP answer is a problem document whose code and status match the catalog. */
function assertProblem(res: { status: number; body: any; headers: Headers }, code: string, what: string): void {
  assert.equal(res.body?.code, code, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.status, ErrorCatalog[code as keyof typeof ErrorCatalog].status, what);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
}

describe('limits at the door', () => {
  describe('when a payload nests deeper than maxJsonDepth', () => {
    it('refuses a deep ephemeral publish with too_deep on HTTP and WebSocket, and every subscriber keeps receiving', async () => {
      await using t = await startNode();
      const token = await t.token('deep', everything);
      const ws = await rawSession(t.url, token);
      assert.equal((await ws.request({ type: 'subscribe', id: 1, topic: 'room' })).type, 'subscribed');
      const sse = await fetch(`${t.url}/v1/topics/room/stream?token=${token}`);
      const sseEvents = readSse(sse, (events) => events.some((e) => e.event === 'pub' && e.data.data === 'after'));

      // The payload that used to end the process from inside the ticker: 6,000 levels, 12 KB.
      const deep = nested(6000);
      const http = await t.api('/v1/topics/room/messages', { body: `{"ephemeral":true,"data":${deep}}` });
      assertProblem(http, 'too_deep', 'HTTP ephemeral');
      const stored = await t.api('/v1/topics/room/messages', { body: `{"data":${deep}}` });
      assertProblem(stored, 'too_deep', 'HTTP stored');
      ws.ws.send(`{"type":"publish","id":2,"topic":"room","ephemeral":true,"data":${deep}}`);
      const refused = (await waitFor(() => ws.frames.find((f) => f.id === 2)))!;
      assert.equal(refused.type, 'error');
      assert.equal(refused.code, 'too_deep');

      // The node is up, the subscribers are still subscribed, and the next publication arrives.
      const ok = await t.api('/v1/topics/room/messages', { body: { data: 'after' } });
      assert.equal(ok.status, 201);
      await waitFor(() => ws.frames.find((f) => f.type === 'pub' && f.data === 'after'));
      const events = await sseEvents;
      assert.deepEqual(
        events.filter((e) => e.event === 'pub').map((e) => e.data.data),
        ['after'],
      );
      ws.ws.close();
    });

    it('refuses deep presence meta, conversation messages and worker reports with the same code', async () => {
      await using t = await startNode({ jobTypes: ['render'] });
      const deep = nested(200);
      const conv = await t.api('/v1/conversations', { body: { id: 'c1', members: ['ana', 'bo'] } });
      assert.equal(conv.status, 201, JSON.stringify(conv.body));
      const cases: [string, string, string][] = [
        ['presence', '/v1/topics/room/presence', `{"member":"ana","meta":{"a":${deep}}}`],
        ['conversation message', '/v1/conversations/c1/messages', `{"from":"ana","data":${deep}}`],
        ['job input', '/v1/jobs', `{"type":"render","input":${deep}}`],
        ['worker lease', '/v1/workers/lease', `{"types":["render"],"worker":${deep}}`],
      ];
      for (const [what, path, body] of cases) assertProblem(await t.api(path, { body }), 'too_deep', what);
    });

    it('accepts input nested exactly to the limit, envelope included, and refuses one level more', async () => {
      await using t = await startNode({ maxJsonDepth: 16 });
      // The envelope {"data": ...} is one level: data may nest 15 more.
      const ok = await t.api('/v1/topics/room/messages', { body: `{"data":${nested(14)}}` });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const history = await t.api('/v1/topics/room/messages?after=0');
      assert.equal(JSON.stringify(history.body.messages[0].data), nested(14));
      assertProblem(
        await t.api('/v1/topics/room/messages', { body: `{"data":${nested(16)}}` }),
        'too_deep',
        'one more',
      );
    });

    it('holds for any shape: a document is refused exactly when it nests deeper than the limit', async () => {
      await using t = await startNode({ maxJsonDepth: 8, publishRatePerSec: 100_000, publishBurst: 100_000 });
      const token = await t.token('prop', everything);
      const ws = await rawSession(t.url, token);
      let id = 10;
      const depthOf = (v: unknown): number =>
        typeof v !== 'object' || v === null ? 0 : 1 + Math.max(0, ...Object.values(v).map(depthOf));
      await fc.assert(
        fc.asyncProperty(
          // Prototype keys have a refusal of their own (below); this property is about depth.
          fc
            .jsonValue({ depthSize: 'large', maxDepth: 12 })
            .filter((v) => !/"(__proto__|constructor)"/.test(JSON.stringify(v))),
          async (data) => {
            const frame = { type: 'publish', id: ++id, topic: 'prop', ephemeral: true, data };
            const reply = await ws.request(frame);
            if (depthOf(frame) > 8) assert.equal(reply.code, 'too_deep', JSON.stringify(frame));
            else assert.equal(reply.type, 'ack', JSON.stringify(reply));
          },
        ),
        { numRuns: 150, seed: 11 },
      );
      ws.ws.close();
    });
  });

  describe('when a payload carries a prototype key or a number JSON cannot hold', () => {
    it('refuses it alike on HTTP and WebSocket, instead of storing something else', async () => {
      await using t = await startNode();
      const token = await t.token('proto', everything);
      const ws = await rawSession(t.url, token);
      const bodies = ['{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '[1,2,1e400]', '-1e999'];
      let id = 1;
      for (const data of bodies) {
        const http = await t.api('/v1/topics/p/messages', { body: `{"data":${data}}` });
        assertProblem(http, 'bad_request', data);
        const reply = await ws.request({ type: 'publish', id: ++id, topic: 'p', data: 0, ...{} });
        assert.equal(reply.type, 'ack');
        ws.ws.send(`{"type":"publish","id":${++id},"topic":"p","data":${data}}`);
        const refused = (await waitFor(() => ws.frames.find((f) => f.id === id)))!;
        assert.equal(refused.code, 'invalid_message', data);
        assert.equal(refused.message, http.body.detail, `${data}: one detail for both transports`);
      }
      // Only the plain zeros were stored.
      const history = await t.api('/v1/topics/p/messages?after=0');
      assert.deepEqual(
        history.body.messages.map((m: { data: unknown }) => m.data),
        [0, 0, 0, 0],
      );
      ws.ws.close();
    });
  });

  describe('when a query number is not a plain decimal integer', () => {
    it('answers 400 bad_request naming the parameter, never 500', async () => {
      await using t = await startNode();
      for (const q of [
        'limit=1e400',
        'limit=Infinity',
        'after=1e3',
        'after=0x10',
        'after=%205',
        'after=1.5',
        'after=NaN',
      ]) {
        const res = await t.api(`/v1/topics/a/messages?${q}`);
        assertProblem(res, 'bad_request', q);
        assert.match(res.body.detail, /query parameter (limit|after)/, q);
      }
      assert.equal((await t.api('/v1/topics/a/messages?after=0&limit=5')).status, 200);
    });

    it('holds for any string: only decimal integers in range reach the store', async () => {
      await using t = await startNode();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string({ maxLength: 12 }), fc.integer().map(String), fc.double().map(String)),
          async (raw) => {
            const res = await t.api(`/v1/topics/a/messages?limit=${encodeURIComponent(raw)}`);
            const n = Number(raw);
            const fine = /^-?(0|[1-9][0-9]*)$/.test(raw) && n >= 1 && n <= 1000;
            if (fine) assert.equal(res.status, 200, raw);
            else assertProblem(res, 'bad_request', raw);
          },
        ),
        { numRuns: 200, seed: 5 },
      );
    });
  });

  describe('when the request itself is malformed', () => {
    it('answers framework errors with catalogued problem documents', async () => {
      await using t = await startNode();
      const port = Number(new URL(t.url).port);
      assertProblem(await t.api('/v1/topics/%zz/messages'), 'bad_request', 'bad percent-encoding');
      // Topic names may be 200 characters: a long one is judged by the topic rules, not the router.
      assertProblem(await t.api(`/v1/topics/${'a'.repeat(201)}/messages`), 'invalid_topic', '201 characters');
      assert.equal((await t.api(`/v1/topics/${'a'.repeat(200)}/messages`)).status, 200);
      assertProblem(await t.api(`/v1/topics/${'a'.repeat(2000)}/messages`), 'uri_too_long', 'over-long segment');
      assertProblem(
        await t.api('/v1/topics/a/messages', { headers: { 'x-pad': 'a'.repeat(20_000) } }),
        'headers_too_large',
        'huge header',
      );

      const garbled = await rawHttp(port, 'GARBAGE / HTTP/1.1\r\n\r\n');
      assert.match(garbled, /^HTTP\/1\.1 400 /);
      const body = JSON.parse(garbled.slice(garbled.indexOf('\r\n\r\n') + 4));
      assert.equal(body.code, 'bad_request');
      assert.ok(isErrorCode(body.code));
    });

    it('answers malformed WebSocket handshakes and a HEAD with oversized headers by the rules', async () => {
      await using t = await startNode();
      const port = Number(new URL(t.url).port);
      const upgrade = (method: string, headers: string) =>
        rawHttp(
          port,
          `${method} /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n`,
        );
      const key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
      for (const [what, answer] of [
        ['no key', await upgrade('GET', 'Sec-WebSocket-Version: 13\r\n')],
        ['bad version', await upgrade('GET', `${key}Sec-WebSocket-Version: 99\r\n`)],
        ['POST', await upgrade('POST', `${key}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n`)],
        [
          'bad subprotocols',
          await upgrade('GET', `${key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a,,b\r\n`),
        ],
      ] as const) {
        assert.match(answer, /^HTTP\/1\.1 400 /, what);
        assert.match(answer, /content-type: application\/problem\+json/i, what);
        assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).code, 'bad_request', what);
      }
      const head = await rawHttp(port, `HEAD /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
      assert.match(head, /^HTTP\/1\.1 431 /);
      assert.equal(head.slice(head.indexOf('\r\n\r\n') + 4), '', 'a response to HEAD has no body');
    });

    it('answers a body of another media type, CONNECT and an unknown Expect by the rules', async () => {
      await using t = await startNode();
      const port = Number(new URL(t.url).port);
      for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/xml']) {
        const res = await t.api('/v1/topics/a/messages', { body: '{"data":1}', headers: { 'content-type': type } });
        assertProblem(res, 'unsupported_media_type', type);
      }
      const connectAnswer = await rawHttp(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(connectAnswer, /^HTTP\/1\.1 400 /);
      assert.equal(JSON.parse(connectAnswer.slice(connectAnswer.indexOf('\r\n\r\n') + 4)).code, 'bad_request');
      // An expectation the node does not know is ignored: the request is answered as usual.
      const body = '{"data":1}';
      const expect = await rawHttp(
        port,
        `POST /v1/topics/a/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.node.apiKey}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: bogus\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.match(expect, /^HTTP\/1\.1 201 /);
    });

    it('parses numbers in paths as strictly as in queries', async () => {
      await using t = await startNode();
      assert.equal((await t.api('/v1/conversations', { body: { id: 'c1', members: ['ana'] } })).status, 201);
      assert.equal((await t.api('/v1/conversations/c1/messages', { body: { from: 'ana', text: 'hi' } })).status, 201);
      assert.equal((await t.api('/v1/conversations/c1/messages/1')).status, 200);
      for (const offset of ['1e0', '0x1', '01', '1.0', '%2B1', '%201']) {
        const res = await t.api(`/v1/conversations/c1/messages/${offset}`);
        assertProblem(res, 'bad_request', offset);
        assert.match(res.body.detail, /path parameter offset/);
      }
    });

    it('answers HEAD on an event stream with its headers instead of holding a stream open', async () => {
      await using t = await startNode();
      const res = await fetch(`${t.url}/v1/topics/room/stream`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${t.node.apiKey}` },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      // No stream was opened for it: no SSE connection, no subscription.
      assert.doesNotMatch(metrics, /inloop_connections\{transport="sse"\} [1-9]/);
      assert.doesNotMatch(metrics, /inloop_subscriptions [1-9]/);
    });

    it(
      'closes a connection whose connect token cannot be read with 4401, and frees a silent one',
      { timeout: 10_000 },
      async () => {
        await using t = await startNode({ connectTimeoutMs: 200 });
        const s = await rawSession(t.url, 'a'.repeat(60_000));
        assert.equal(s.connected, false);
        assert.equal(await s.closeCode, 4401);
        assert.ok(s.frames.some((f) => f.type === 'error' && f.code === 'unauthorized'));
        // A client that never sends connect, and never answers the close frame either.
        const port = Number(new URL(t.url).port);
        const socket = connect(port, '127.0.0.1');
        socket.write(
          'GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
        socket.resume();
        await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      },
    );

    it('keeps stack traces and internal messages off the wire', async () => {
      await using t = await startNode();
      const port = Number(new URL(t.url).port);
      const answers = await Promise.all([
        t.api('/v1/topics/a/messages', { body: '{"data":' }),
        t.api('/v1/topics/a/messages', { body: '[1,2]' }),
        t.api('/v1/jobs', { body: '{"type":{"__proto__":{"x":1}}}' }),
        new Promise<string>((resolve) => {
          const req = httpRequest(
            {
              port,
              host: '127.0.0.1',
              path: '/v1/topics/a/messages',
              method: 'POST',
              headers: { 'content-type': 'application/json', 'content-length': '5' },
            },
            (res) => {
              let text = '';
              res.on('data', (d) => (text += d));
              res.on('end', () => resolve(text));
            },
          );
          req.end('{"dat');
        }),
      ]);
      for (const a of answers) {
        const text = typeof a === 'string' ? a : JSON.stringify(a.body);
        assert.doesNotMatch(text, /at .*\.(ts|js):\d+|node_modules|SyntaxError|Unexpected/, text);
      }
    });
  });
});

describe('a browser on an allowed origin', () => {
  it('may use every method the API has: the preflight allows PUT and DELETE too', async () => {
    await using t = await startNode({ allowedOrigins: ['https://app.example.com'] });
    for (const method of ['PUT', 'DELETE']) {
      const res = await fetch(`${t.url}/v1/topics/room/presence/bob`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': method },
      });
      assert.equal(res.status, 204);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', new RegExp(`\\b${method}\\b`));
    }
  });
});

describe('isolation', () => {
  it('closes only the connection whose write failed; the others in the same tick are written', () => {
    const faults: unknown[] = [];
    const written: string[] = [];
    const aborted: string[] = [];
    const ticker = new Ticker(
      () => {},
      () => {},
      (err) => faults.push(err),
    );
    const target = (name: string, fails: boolean): Flushable => ({
      flush() {
        if (fails) throw new RangeError('Maximum call stack size exceeded');
        written.push(name);
      },
      abort: () => aborted.push(name),
    });
    ticker.schedule(target('a', false));
    ticker.schedule(target('b', true));
    ticker.schedule(target('c', false));
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        assert.deepEqual(written, ['a', 'c']);
        assert.deepEqual(aborted, ['b']);
        assert.equal(faults.length, 1);
        resolve();
      }),
    );
  });
});
