import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import { ConfigError, createLogger, loadConfig } from '@inloop/server';
import { rawSession, readSse, sleep, startNode, waitFor } from './helpers.js';

const everything: Scope[] = [{ ops: ['subscribe', 'publish', 'history'], topics: ['*'] }];

/** Timeouts small enough for a test to wait them out. */
const short = { httpHeadersTimeoutMs: 400, httpRequestTimeoutMs: 1200, httpIdleTimeoutMs: 800 };

/** A raw TCP connection to a node: what it was sent back, and whether the node closed it. */
interface Raw {
  socket: Socket;
  /** Everything received so far, as text. */
  text(): string;
  /** Resolves when the connection has closed, with everything received. */
  closed: Promise<string>;
  isClosed(): boolean;
}

async function openRaw(port: number): Promise<Raw> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let isClosed = false;
  socket.on('data', (d: Buffer) => (text += d.toString()));
  // A reset after the answer was read is the node closing too.
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve(text);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, text: () => text, closed, isClosed: () => isClosed };
}

/** Write `chunks` one at a time, `everyMs` apart, until the node closes the connection. */
async function trickle(raw: Raw, chunks: string[], everyMs: number): Promise<string> {
  for (const chunk of chunks) {
    if (raw.isClosed()) break;
    raw.socket.write(chunk);
    await sleep(everyMs);
  }
  return raw.closed;
}

/** The problem document at the end of a raw HTTP answer. */
function problemOf(answer: string): { code?: string; status?: number } {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code?: string };
}

/** A keep-alive `GET path` on a raw connection, waiting for the whole answer. */
async function get(raw: Raw, path: string): Promise<string> {
  const before = raw.text().length;
  raw.socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  await waitFor(
    () => {
      const answer = raw.text().slice(before);
      const length = /content-length: (\d+)/i.exec(answer)?.[1];
      const head = answer.indexOf('\r\n\r\n');
      return (length !== undefined && head >= 0 && answer.length >= head + 4 + Number(length)) || raw.isClosed();
    },
    5000,
    `an answer to GET ${path}`,
  );
  return raw.text().slice(before);
}

describe('sockets', () => {
  describe('timeouts', () => {
    it('answers a client trickling its headers with 408 request_timeout and closes it', async () => {
      await using t = await startNode(short);
      const raw = await openRaw(t.node.port);
      const headers = Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: 1\r\n`);
      const answer = await trickle(raw, ['GET /healthz HTTP/1.1\r\nHost: localhost\r\n', ...headers], 100);
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.equal(problemOf(answer).code, 'request_timeout');
    });

    it('closes a connection that never sends anything', async () => {
      await using t = await startNode(short);
      const raw = await openRaw(t.node.port);
      const answer = await Promise.race([raw.closed, sleep(10_000).then(() => 'still open')]);
      assert.notEqual(answer, 'still open');
      // Node counts a silent connection against the headers timeout (and says so) or the idle one.
      if (answer !== '') assert.equal(problemOf(answer).code, 'request_timeout');
    });

    it('answers 401 to a client without credentials as soon as its headers are in, and closes it', async () => {
      // A request timeout far off: the 401 cannot be the node giving up on the body.
      await using t = await startNode({ httpRequestTimeoutMs: 60_000 });
      const raw = await openRaw(t.node.port);
      raw.socket.write(
        'POST /v1/topics/room/messages HTTP/1.1\r\nHost: localhost\r\n' +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      );
      const answer = await Promise.race([raw.closed, sleep(10_000).then(() => 'still open')]);
      assert.match(answer, /^HTTP\/1\.1 401 /);
      assert.match(answer, /connection: close/i);
      assert.equal(problemOf(answer).code, 'unauthorized');
    });

    it('answers 401 the same way to a body sent in chunks, and to a bad credential', async () => {
      await using t = await startNode({ httpRequestTimeoutMs: 60_000 });
      for (const authorization of ['', 'Authorization: Bearer not-a-real-credential\r\n']) {
        const raw = await openRaw(t.node.port);
        raw.socket.write(
          `POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\n${authorization}` +
            'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n',
        );
        const answer = await Promise.race([raw.closed, sleep(10_000).then(() => 'still open')]);
        assert.match(answer, /^HTTP\/1\.1 401 /, authorization || 'no credentials');
      }
    });

    it('cuts off an authenticated client trickling its body at the request timeout', async () => {
      await using t = await startNode(short);
      const raw = await openRaw(t.node.port);
      const head =
        'POST /v1/topics/room/messages HTTP/1.1\r\nHost: localhost\r\n' +
        `Authorization: Bearer ${t.node.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`;
      const answer = await trickle(raw, [head, ...Array.from({ length: 100 }, () => ' ')], 100);
      // Either the node's 408, or nothing at all if the peer was already gone: never a 2xx.
      if (answer !== '') {
        assert.match(answer, /^HTTP\/1\.1 408 /);
        assert.equal(problemOf(answer).code, 'request_timeout');
      }
      // Nothing was published from the partial body.
      const history = await t.api('/v1/topics/room/messages');
      assert.deepEqual(history.body.messages ?? [], []);
    });

    it('refuses a configuration whose headers timeout is longer than its request timeout', () => {
      assert.throws(
        () => loadConfig({ overrides: { httpHeadersTimeoutMs: 5000, httpRequestTimeoutMs: 1000 } }),
        (err: unknown) => err instanceof ConfigError && /httpHeadersTimeoutMs \(5000\)/.test(err.message),
      );
    });

    it('keeps event streams and WebSockets open past the idle timeout', async () => {
      await using t = await startNode({
        ...short,
        sseHeartbeatMs: 60_000,
        pingIntervalMs: 60_000,
        presenceTtlMs: 120_000,
      });
      const token = await t.token('quiet', everything);
      const ws = await rawSession(t.url, token);
      assert.equal((await ws.request({ type: 'subscribe', id: 1, topic: 'room' })).type, 'subscribed');
      const sse = await fetch(`${t.url}/v1/topics/room/stream?token=${token}`);
      const events = readSse(sse, (e) => e.some((x) => x.event === 'pub'));
      await sleep(short.httpIdleTimeoutMs * 3);
      assert.equal((await t.api('/v1/topics/room/messages', { body: { data: 'still there?' } })).status, 201);
      const pub = (await events).find((e) => e.event === 'pub');
      assert.equal(pub?.data.data, 'still there?');
      await waitFor(() => ws.frames.some((f) => f.type === 'pub' && f.data === 'still there?'), 5000, 'the ws pub');
      ws.ws.close();
    });
  });

  describe('the descriptor limit', () => {
    it(
      'is logged at start with the connection cap derived from it',
      { skip: !existsSync('/proc/self/limits') },
      async () => {
        const lines: string[] = [];
        const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
        await using t = await startNode({ logger, connectionReserve: 16 });
        const entry = lines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.msg === 'connection cap set');
        assert.ok(t.node.url);
        assert.equal(typeof entry?.descriptorLimit, 'number');
        const limit = entry!.descriptorLimit as number;
        assert.equal(entry!.maxConnections, limit - Math.max(64, Math.ceil(limit / 10)) - 16);
      },
    );
  });

  describe('when the node is at its connection cap', () => {
    it('refuses new connections with 503 unavailable while open ones carry on and probes still answer', async () => {
      const max = 20;
      const reserve = 2;
      await using t = await startNode({ maxConnections: max, connectionReserve: reserve });
      const token = await t.token('steady', everything);
      const ws = await rawSession(t.url, token);
      assert.equal((await ws.request({ type: 'subscribe', id: 1, topic: 'room' })).type, 'subscribed');
      const held: Raw[] = [];
      try {
        // Fill the cap with keep-alive connections, each answered once so the node has counted it.
        for (let i = 1; i < max; i++) {
          const raw = await openRaw(t.node.port);
          held.push(raw);
          assert.match(await get(raw, '/healthz'), /^HTTP\/1\.1 200 /);
        }
        // The reserve: probes answer, anything else is refused.
        for (let i = 0; i < reserve; i++) {
          const raw = await openRaw(t.node.port);
          held.push(raw);
          assert.match(await get(raw, i === 0 ? '/healthz' : '/readyz'), /^HTTP\/1\.1 200 /);
        }
        const probeOnly = held.at(-1)!;
        const refusedRoute = await get(probeOnly, '/v1/topics/room/messages');
        assert.match(refusedRoute, /^HTTP\/1\.1 503 /);
        assert.equal(problemOf(refusedRoute).code, 'unavailable');
        await probeOnly.closed;
        held.pop();
        // Nor does a WebSocket get one of the reserve's connections.
        await assert.rejects(rawSession(t.url, token), /503/);

        // Past the cap and the reserve: a clean 503 with Retry-After, then the connection closes.
        const reserveProbe = await waitFor(
          async () => {
            const raw = await openRaw(t.node.port);
            if (/^HTTP\/1\.1 200 /.test(await get(raw, '/healthz'))) return raw;
            raw.socket.destroy();
            return undefined;
          },
          5000,
          'the reserve connection freed by the refused WebSocket',
        );
        held.push(reserveProbe!);
        for (let i = 0; i < 5; i++) {
          const res = await fetch(`${t.url}/v1/topics/room/messages`, {
            headers: { authorization: `Bearer ${t.node.apiKey}` },
          });
          assert.equal(res.status, 503);
          assert.equal(res.headers.get('retry-after'), '1');
          assert.equal(((await res.json()) as { code: string }).code, 'unavailable');
        }
        const refused = await openRaw(t.node.port);
        const answer = await Promise.race([refused.closed, sleep(10_000).then(() => 'still open')]);
        assert.match(answer, /^HTTP\/1\.1 503 /);
        assert.equal(problemOf(answer).code, 'unavailable');

        // The WebSocket opened before the cap was reached publishes and receives as before.
        assert.equal((await ws.request({ type: 'publish', id: 2, topic: 'room', data: 'full house' })).type, 'ack');
        await waitFor(() => ws.frames.some((f) => f.type === 'pub' && f.data === 'full house'), 5000, 'the pub');
        // So do the held connections.
        assert.match(await get(held[0]!, '/readyz'), /^HTTP\/1\.1 200 /);

        // Once connections close, new ones are served in full again.
        for (const raw of held.splice(0, 5)) raw.socket.destroy();
        await waitFor(
          async () => (await t.api('/v1/topics/room/messages')).status === 200,
          5000,
          'a connection served in full',
        );
      } finally {
        for (const raw of held) raw.socket.destroy();
        ws.ws.close();
      }
    });
  });
});
