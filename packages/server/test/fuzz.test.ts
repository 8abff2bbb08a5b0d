import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { deepPublishArbitrary, frameArbitrary } from './fuzz-frames.js';
import {
  describeRequest,
  Findings,
  fuzzSession,
  httpViolation,
  problemCode,
  rawExchange,
  sendRaw,
  Tally,
  WatchedNode,
  WellBehavedClients,
} from './fuzz-harness.js';
import { nestedValue, queryNumber, requestFor, routesOf, type FuzzContext, type FuzzRequest } from './fuzz-inputs.js';
import { apiRequest, exited, rawSession, sleep, spawnNode, tempDir } from './helpers.js';

/**
 * A bounded fuzz run against one node in a child process (so a crash is a finding, not the end of
 * the test run): random and mutated requests to every route of `/openapi.json`, random and mutated
 * WebSocket frames of every message type, while well-behaved clients publish and subscribe.
 * Fixed seeds: a failure replays exactly.
 */

const FUZZ_KEY = 'fuzz-api-key-0123456789abcdef';
const GOOD_KEY = 'good-api-key-0123456789abcdef';
const WATCHED = 'live';
const SEED = 11;
/** The node's `maxJsonDepth` here: not the default, so the limit is seen to follow the config. */
const DEPTH_LIMIT = 40;
const allOps = ['subscribe', 'publish', 'presence', 'history', 'job:read', 'job:cancel', 'job:create'];

/**
 * Run a property with a fixed seed and stop at the first failure without shrinking (the node is
 * shared, and a crashed one cannot replay anything); the property's own error is rethrown, so the
 * message names the inputs rather than printing a 12 KB counterexample.
 */
async function check<T>(property: fc.IAsyncPropertyWithHooks<T>, params: { numRuns: number }): Promise<void> {
  const details = await fc.check(property, { seed: SEED, endOnFailure: true, ...params });
  if (!details.failed) return;
  const err = details.errorInstance instanceof Error ? details.errorInstance : new Error(String(details.errorInstance));
  err.message += `\n(fast-check seed ${details.seed}, path ${details.counterexamplePath}, run ${details.numRuns})`;
  throw err;
}

describe('fuzzing a node', { timeout: 120_000 }, () => {
  const dir = tempDir('inloop-fuzz-');
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let node: WatchedNode;
  let good: WellBehavedClients;
  let ctx: FuzzContext;
  let tokens: { wide: string; narrow: string; expired: string };

  const api = (path: string, body?: unknown) => apiRequest(node.url, FUZZ_KEY, path, { body });
  const mint = async (subject: string, ops: string[], topics: string[], ttlSeconds = 600) => {
    const res = await api('/v1/tokens', { subject, ttlSeconds, scopes: [{ ops, topics }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.token as string;
  };

  before(async () => {
    const config = join(dir.path, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        host: '127.0.0.1',
        port: 0,
        dataDir: join(dir.path, 'data'),
        apiKeys: [
          { name: 'fuzz', key: FUZZ_KEY },
          { name: 'good', key: GOOD_KEY },
        ],
        tokenSecret: 'fuzz-token-secret-0123456789abcdef0123',
        jobTypes: ['fuzz.job'],
        maxJsonDepth: DEPTH_LIMIT,
        // Limits well above what the fuzzer sends, so its requests reach the code behind them
        // (rate limits have their own tests); invalid-frame punishment stays at its default.
        publishRatePerSec: 10_000,
        publishBurst: 10_000,
        signalRatePerSec: 10_000,
        signalBurst: 10_000,
        presenceRatePerSec: 10_000,
        presenceBurst: 10_000,
        receiptRatePerSec: 10_000,
        receiptBurst: 10_000,
      }),
    );
    const spawned = await spawnNode({ INLOOP_CONFIG: config });
    node = new WatchedNode(spawned.child, spawned.url, spawned.output);

    const expiredAt = Date.now();
    const expired = await mint('expired', allOps, ['*'], 1);
    tokens = {
      wide: await mint('fuzzer', allOps, ['*']),
      narrow: await mint('narrow', ['subscribe'], ['fz']),
      expired,
    };
    assert.equal((await api('/v1/conversations', { id: 'fz', members: ['fuzzer', 'narrow', 'good-sub'] })).status, 201);
    const jobIds: string[] = [];
    const leases: string[] = [];
    for (let i = 0; i < 4; i++) {
      jobIds.push((await api('/v1/jobs', { type: 'fuzz.job', input: { i } })).body.id);
      const leased = await api('/v1/workers/lease', { types: ['fuzz.job'], waitMs: 0 });
      if (leased.status === 200) leases.push(leased.body.lease.token);
    }
    ctx = {
      topics: [WATCHED, 'fz', 'fz-other'],
      members: ['fuzzer', 'narrow', 'good-sub'],
      conversations: ['fz'],
      jobIds,
      leases,
      jobTypes: ['fuzz.job'],
      credentials: [
        undefined,
        `Bearer ${FUZZ_KEY}`,
        `Bearer ${tokens.wide}`,
        `Bearer ${tokens.wide}`,
        `Bearer ${tokens.narrow}`,
        `Bearer ${tokens.expired}`,
        `Bearer ${tokens.wide.slice(0, -4)}AAAA`,
        'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5LCJzY29wZXMiOltdfQ.',
        'Bearer ',
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        `Bearer ${'a'.repeat(9000)}`,
      ],
    };
    good = new WellBehavedClients(node, WATCHED, GOOD_KEY);
    await good.start({
      subscriber: await mint('good-sub', ['subscribe'], [WATCHED]),
      publisher: await mint('good-pub', ['publish'], [WATCHED]),
    });
    await sleep(Math.max(0, expiredAt + 2100 - Date.now()));
  });

  after(async () => {
    agent.destroy();
    if (node && !node.crashed) {
      node.child.kill('SIGTERM');
      await exited(node.child);
    }
    dir.remove();
  });

  it('answers every route of /openapi.json with a success or a catalogued problem, however hostile the request', async (t) => {
    const doc = await node.alive(api('/openapi.json'));
    const routes = routesOf(doc.body);
    assert.ok(routes.length >= 25, `${routes.length} routes in /openapi.json`);
    const findings = new Findings();
    const answers = new Tally();
    let sent = 0;
    const one = async (req: FuzzRequest) => {
      node.sending(`http ${describeRequest(req)}`);
      const stream = /\/stream$|\/lease$/.test(req.route);
      const outcome = await sendRaw(node.url, req, agent, stream ? 2000 : 15_000);
      sent++;
      if ('error' in outcome) {
        node.assertAlive();
        if (outcome.error === 'timeout' && stream) return;
        const what = outcome.error.startsWith('Parse Error')
          ? `an answer that breaks HTTP framing (${outcome.error})`
          : `${outcome.error} instead of an answer`;
        findings.add(`http: ${what}`, describeRequest(req));
        return;
      }
      if (outcome.status === 0) return; // refused by Node's own client before sending
      answers.add(outcome.status < 400 ? String(outcome.status) : `${outcome.status} ${problemCode(outcome.body)}`);
      const violation = httpViolation(req.method, outcome.status, outcome.contentType, outcome.body);
      if (violation) findings.add(`http ${violation}`, `${describeRequest(req)} -> ${outcome.body.slice(0, 300)}`);
    };
    await check(
      fc.asyncProperty(fc.tuple(...routes.map((r) => requestFor(r, ctx))), async (batch) => {
        await Promise.all(batch.map(one));
        node.assertAlive();
      }),
      { numRuns: 500 },
    );
    t.diagnostic(`${sent} requests; answers: ${answers}`);
    assert.ok(sent >= 500 * routes.length, `${sent} requests sent`);
    assert.equal(findings.size, 0, `misbehaviour found:\n${findings}`);
  });

  it('answers random and mutated WebSocket frames with catalogued errors and documented close codes', async (t) => {
    const findings = new Findings();
    const closes = new Tally();
    const codes = new Tally();
    let frames = 0;
    const credential = fc.constantFrom(tokens.wide, tokens.wide, tokens.narrow, tokens.expired);
    await check(
      fc.asyncProperty(credential, fc.array(frameArbitrary(ctx), { minLength: 1, maxLength: 20 }), async (t, batch) => {
        const { closeCode, errors } = await node.alive(fuzzSession(node, t, batch, findings));
        frames += batch.length;
        closes.add(String(closeCode));
        for (const code of errors) codes.add(code);
        node.assertAlive();
      }),
      { numRuns: 1500 },
    );
    t.diagnostic(`${frames} frames; close codes: ${closes}; error codes: ${codes}`);
    assert.ok(frames > 5000, `${frames} frames sent`);
    assert.equal(findings.size, 0, `misbehaviour found:\n${findings}`);
  });

  it('survives deeply nested and huge-number publications to a watched topic, stored and ephemeral', async () => {
    const findings = new Findings();
    await check(
      fc.asyncProperty(fc.array(deepPublishArbitrary(WATCHED), { minLength: 1, maxLength: 5 }), async (batch) => {
        await node.alive(fuzzSession(node, tokens.wide, batch, findings));
        await sleep(20); // let the ticker deliver the batch before the next
        node.assertAlive();
      }),
      { numRuns: 100 },
    );
    assert.equal(findings.size, 0, `misbehaviour found:\n${findings}`);
  });

  it('answers malformed HTTP and WebSocket upgrade requests on the wire with a problem document, and keeps serving', async () => {
    const findings = new Findings();
    const host = 'Host: 127.0.0.1\r\n';
    const auth = `Authorization: Bearer ${FUZZ_KEY}\r\n`;
    const json = 'Content-Type: application/json\r\n';
    const publish = `POST /v1/topics/fz/messages HTTP/1.1\r\n${host}${auth}${json}`;
    const key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
    const upgrade = (headers: string, path = '/v1/ws') =>
      `GET ${path} HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n`;
    const cases = [
      'GARBAGE\r\n\r\n',
      `GET /healthz HTTP/1.1\r\n${host}a header line without a colon\r\n\r\n`,
      `GET /healthz HTTP/9.9\r\n${host}\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}X-Bad: a\u0000b\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}X-Folded: a\r\n b\r\n\r\n`,
      `${publish}Content-Length: abc\r\n\r\n`,
      `${publish}Content-Length: 10\r\nContent-Length: 11\r\n\r\n{"data":1}`,
      `${publish}Transfer-Encoding: chunked\r\n\r\nzz\r\n{"data":1}\r\n0\r\n\r\n`,
      `${publish}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\na\r\n{"data":1}\r\n0\r\n\r\n`,
      `${publish}Content-Length: 9\r\n\r\n{"data":1`,
      `GET http://evil.example/v1/topics/fz/messages?after=0 HTTP/1.1\r\n${host}${auth}\r\n`,
      `GET /v1/topics/fz/messages HTTP/1.1\r\n${host}Authorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /v1/topics/${'t'.repeat(20_000)}/messages HTTP/1.1\r\n${host}\r\n`,
      `GET /v1/topics/fz/messages?after=0 HTTP/1.1\r\n${host}${auth}${json}Content-Length: 9\r\n\r\n{"data":1`,
      upgrade('Sec-WebSocket-Version: 13\r\n'),
      upgrade('Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 99\r\n'),
      // A well-formed upgrade from a disallowed origin is accepted and closed with 4403 (auth.test.ts).
      upgrade('Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n'),
      upgrade(key, '/v1/ws/extra'),
      upgrade(key, '/v1/ws?token=%zz'),
      `POST /v1/ws HTTP/1.1\r\n${host}Upgrade: websocket\r\nConnection: Upgrade\r\n${key}Content-Length: 0\r\n\r\n`,
    ];
    for (const bytes of cases) {
      const shown = JSON.stringify(bytes.length > 300 ? `${bytes.slice(0, 300)}...` : bytes);
      node.sending(`raw ${shown}`);
      const res = await node.alive(rawExchange(node.url, bytes));
      if (!res) findings.add('raw: the node closed the connection without an answer', shown);
      else {
        const violation = httpViolation('GET', res.status, res.contentType, res.body);
        if (violation) findings.add(`raw ${violation}`, `${shown} -> ${res.status} ${res.body.slice(0, 200)}`);
      }
    }
    node.assertAlive();
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.equal(findings.size, 0, `misbehaviour found:\n${findings}`);
  });

  describe('the JSON depth limit', () => {
    // A conversation and a leased job of its own: the fuzz runs above may have removed members
    // from `fz` and finished the jobs they knew about.
    let job = { id: '', lease: '' };
    before(async () => {
      assert.equal((await api('/v1/conversations', { id: 'depth', members: ['prop'] })).status, 201);
      assert.ok((await api('/v1/jobs', { type: 'fuzz.job' })).status < 300, 'a job created');
      for (let i = 0; i < 20 && !job.id; i++) {
        const leased = await api('/v1/workers/lease', { types: ['fuzz.job'], waitMs: 0 });
        if (leased.status === 200 && !ctx.jobIds.includes(leased.body.job.id))
          job = { id: leased.body.job.id, lease: leased.body.lease.token };
      }
      assert.ok(job.id, 'a job leased for the worker reports');
    });
    const bodies: [string, () => string, (x: string) => string][] = [
      ['a publication', () => '/v1/topics/fz/messages', (x) => `{"data":${x}}`],
      ['presence metadata', () => '/v1/topics/fz/presence/fuzzer', (x) => `{"meta":${x}}`],
      ['a conversation message', () => '/v1/conversations/depth/messages', (x) => `{"from":"prop","data":${x}}`],
      ['a job input', () => '/v1/jobs', (x) => `{"type":"fuzz.job","input":${x}}`],
      ['a worker report', () => `/v1/jobs/${job.id}/progress`, (x) => `{"lease":"${job.lease}","partial":${x}}`],
    ];
    for (const [what, route, body] of bodies)
      it(`accepts ${what} over HTTP nested up to maxJsonDepth, envelope included, and refuses deeper with too_deep`, async () => {
        await check(
          fc.asyncProperty(nestedValue(DEPTH_LIMIT + 20), async ({ depth, text }) => {
            const path = route();
            const res = await node.alive(
              apiRequest(node.url, FUZZ_KEY, path, {
                method: path.includes('/presence/') ? 'PUT' : 'POST',
                body: body(text),
              }),
            );
            if (1 + depth <= DEPTH_LIMIT)
              assert.ok(res.status < 300, `depth ${1 + depth}: ${res.status} ${JSON.stringify(res.body)}`);
            else assert.deepEqual([res.status, res.body.code], [400, 'too_deep'], `depth ${1 + depth}`);
          }),
          { numRuns: 60 },
        );
      });

    it('accepts a WebSocket publish nested up to maxJsonDepth and answers a deeper one with too_deep', async () => {
      await check(
        fc.asyncProperty(nestedValue(DEPTH_LIMIT + 20), fc.boolean(), async ({ depth, text }, ephemeral) => {
          const s = await node.alive(rawSession(node.url, tokens.wide));
          s.ws.on('error', () => {});
          const frame = `{"type":"publish","id":7,"topic":"fz","ephemeral":${ephemeral},"data":${text}}`;
          const reply = await new Promise<Record<string, any>>((resolve) => {
            s.ws.once('message', (m) => resolve(JSON.parse(m.toString())));
            void s.closeCode.then((code) => resolve({ type: 'closed', code }));
            s.ws.send(frame);
          });
          s.ws.close(1000);
          node.assertAlive();
          if (1 + depth <= DEPTH_LIMIT) assert.equal(reply.type, 'ack', `depth ${1 + depth}: ${JSON.stringify(reply)}`);
          else assert.deepEqual([reply.type, reply.code, reply.id], ['error', 'too_deep', 7], `depth ${1 + depth}`);
        }),
        { numRuns: 80 },
      );
    });
  });

  describe('numbers in queries', () => {
    const plain = (v: string, min: number, max: number) => /^(0|[1-9][0-9]*)$/.test(v) && +v >= min && +v <= max;
    for (const path of ['/v1/topics/fz/messages', '/v1/conversations/fz/messages'])
      it(`reads after and limit on ${path} only as plain integers in range, and answers anything else with 400 bad_request`, async () => {
        await check(
          fc.asyncProperty(queryNumber, queryNumber, async (afterValue, limit) => {
            const query = `after=${encodeURIComponent(afterValue)}&limit=${encodeURIComponent(limit)}`;
            const res = await node.alive(apiRequest(node.url, FUZZ_KEY, `${path}?${query}`));
            const valid = plain(afterValue, 0, Number.MAX_SAFE_INTEGER) && plain(limit, 1, 1000);
            if (valid) assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
            else assert.deepEqual([res.status, res.body.code], [400, 'bad_request'], query);
          }),
          { numRuns: 150 },
        );
      });
  });

  it('keeps serving the well-behaved clients throughout: every publication stored and delivered, in order', async () => {
    node.assertAlive();
    assert.ok(good.published > 20, `${good.published} well-behaved publications`);
    const losses = await good.finish();
    node.assertAlive();
    assert.deepEqual(losses, []);
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);
  });
});
