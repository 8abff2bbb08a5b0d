import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Scope } from '@inloop/protocol';
import { ConfigError, createLogger, loadConfig } from '@inloop/server';
import { readSse, startNode, tempDir, waitFor } from './helpers.js';

const scopes: Scope[] = [{ ops: ['subscribe', 'history', 'publish'], topics: ['room:*'] }];

/** A logger at debug level whose JSON lines land in `lines`, as an operator's collector would get them. */
function captureLogs(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', { write: (line: string) => void lines.push(line) }), lines };
}

const modeOf = (path: string): number => statSync(path).mode & 0o777;

/** `inloop` with these arguments and environment, to its exit: what an operator sees. */
function runCli(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', cli, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ...env },
  });
  return { status: run.status, stderr: run.stderr + run.stdout };
}

function configProblems(sources: Parameters<typeof loadConfig>[0]): string {
  try {
    loadConfig(sources);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  return assert.fail('expected a ConfigError');
}

describe('credentials', () => {
  describe('in the log', () => {
    it('never shows a token or API key, however its query parameter name is encoded', async () => {
      const { logger, lines } = captureLogs();
      await using t = await startNode({ logger });
      const token = await t.token('ana', scopes);
      const key = t.node.apiKey;
      for (const query of [`%74oken=${token}`, `t%6Fk%65n=${token}`, `TOKEN=${token}`, `token=${token}`]) {
        const sse = await fetch(`${t.url}/v1/topics/room:1/stream?${query}`);
        await sse.body?.cancel();
      }
      for (const query of [
        `%74oken=${key}`,
        `to%6ben=${key}`,
        `api_key=${key}`,
        `%2574oken=${key}`,
        `jwt=${key}`,
        `bearer=${key}`,
      ])
        await (await fetch(`${t.url}/v1/topics/room:1/messages?after=0&${query}`)).text();
      // Failing requests: a bad URL (a framework error) and a wrong credential in the header.
      await (await fetch(`${t.url}/v1/topics/%zz/stream?%74oken=${token}`)).text();
      const wrong = 'a-wrong-credential-0123456789';
      await t.api('/v1/topics/room:1/messages?after=0', { token: wrong });
      // A stream that opened is logged when it opens, any other request when it is answered (the
      // bad URL may never reach a route's hooks, so it is not counted).
      const logged = () => lines.filter((l) => /"msg":"(request|sse stream opened)"/.test(l)).length;
      await waitFor(() => logged() >= 11, 5000, 'every request logged');
      const log = lines.join('');
      assert.ok(log.includes('%74oken=[redacted]'), 'the request line is there, its value redacted');
      assert.ok(!log.includes(token), 'a client token leaked into the log');
      assert.ok(!log.includes(key), 'an API key leaked into the log');
      assert.ok(!log.includes(wrong), 'a wrong credential leaked into the log');
    });
  });

  describe('API keys', () => {
    it('are accepted in the Authorization header only, never as ?token=', async () => {
      await using t = await startNode({ jobTypes: ['transcribe'] });
      const key = encodeURIComponent(t.node.apiKey);
      assert.equal((await t.api('/v1/topics/room:1/messages?after=0')).status, 200);
      const history = await fetch(`${t.url}/v1/topics/room:1/messages?after=0&token=${key}`);
      assert.equal(history.status, 401);
      const publish = await fetch(`${t.url}/v1/topics/room:1/messages?token=${key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: 1 }),
      });
      assert.equal(publish.status, 401);
      for (const query of [`token=${key}`, `%74oken=${key}`]) {
        const stream = await fetch(`${t.url}/v1/topics/room:1/stream?${query}`);
        assert.equal(stream.status, 401);
        const body = (await stream.json()) as { code: string; detail: string };
        assert.equal(body.code, 'unauthorized');
        assert.match(body.detail, /Authorization header/);
      }
      const created = await t.api('/v1/jobs', { body: { type: 'transcribe', input: {} } });
      assert.equal(created.status, 202);
      const jobStream = await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${key}`);
      assert.equal(jobStream.status, 401);
      await jobStream.body?.cancel();
      const watched = await fetch(`${t.url}/v1/jobs/${created.body.id}/stream?token=${created.body.token}`);
      assert.equal(watched.status, 200, "the job's own read token still works in the query");
      await watched.body?.cancel();
    });

    it('leave ?token= to client tokens, and only on event streams', async () => {
      await using t = await startNode();
      const token = await t.token('ana', scopes);
      const stream = await fetch(`${t.url}/v1/topics/room:1/stream?token=${token}`);
      assert.equal(stream.status, 200);
      const events = await readSse(stream, (e) => e.length > 0);
      assert.equal(events[0]?.event, 'ready');
      const history = await fetch(`${t.url}/v1/topics/room:1/messages?after=0&token=${token}`);
      assert.equal(history.status, 401, 'a token in the query of a plain request is not read');
      assert.equal((await t.api('/v1/topics/room:1/messages?after=0', { token })).status, 200);
    });
  });

  describe('an invalid configuration', () => {
    it('names the secret keys at fault on stderr but never their values', () => {
      const dir = tempDir();
      const file = join(dir.path, 'inloop.json');
      const secrets = {
        apiKey: 'short-key-AAAA',
        apiKeys: [{ name: 'ci', key: 'short-key-BBBB' }],
        tokenSecret: 'too-short-secret-CCCC',
        metricsToken: 'short-DDDD',
        redis: 'http://user:redis-password-EEEE@redis.internal:6379',
      };
      writeFileSync(file, JSON.stringify(secrets));
      const run = runCli(['--config', file], { INLOOP_TOKEN_SECRET: '' });
      dir.remove();
      assert.equal(run.status, 2);
      for (const path of ['apiKey', 'apiKeys.0.key', 'tokenSecret', 'metricsToken', 'redis'])
        assert.ok(run.stderr.includes(`${path}:`), `names ${path}:\n${run.stderr}`);
      for (const secret of ['AAAA', 'BBBB', 'CCCC', 'DDDD', 'EEEE'])
        assert.ok(!run.stderr.includes(secret), `printed a secret (${secret}):\n${run.stderr}`);
    });

    it('does not quote a config file that is not valid JSON, nor a stray argument', () => {
      const dir = tempDir();
      const file = join(dir.path, 'inloop.json');
      writeFileSync(file, '{ "apiKey": "a-secret-key-FFFF" oops }');
      const text = configProblems({ argv: ['--config', file, 'a-secret-key-GGGG'] });
      dir.remove();
      assert.match(text, /not valid JSON/);
      assert.match(text, /argument 3 is not a flag/);
      assert.ok(!text.includes('FFFF') && !text.includes('GGGG'), text);
    });

    it('rejects __proto__ and constructor keys as unknown keys', () => {
      const dir = tempDir();
      const file = join(dir.path, 'inloop.json');
      // Raw text: JSON.stringify could not even write an own __proto__ key.
      writeFileSync(file, '{ "__proto__": { "port": 1 }, "constructor": 1, "toString": "x" }');
      const text = configProblems({ argv: ['--config', file] });
      for (const key of ['__proto__', 'constructor', 'toString'])
        assert.ok(text.includes(`unknown key "${key}"`), `rejects ${key}:\n${text}`);
      writeFileSync(file, '{ "apiKeys": [{ "name": "a", "key": "0123456789abcdef", "__proto__": { "x": 1 } }] }');
      assert.match(configProblems({ argv: ['--config', file] }), /apiKeys\.0\.__proto__/);
      dir.remove();
    });
  });

  describe('the data directory', () => {
    it('is created 0700, with the database, its journals and the generated secrets 0600', async () => {
      const dir = tempDir();
      const dataDir = join(dir.path, 'data');
      await using t = await startNode({ dataDir });
      assert.equal((await t.api('/v1/topics/room:1/messages', { body: { data: 'on disk' } })).status, 201);
      assert.equal(modeOf(dataDir), 0o700);
      for (const file of ['inloop.db', 'inloop.db-wal', 'inloop.db-shm', 'api-key', 'token-secret'])
        assert.equal(modeOf(join(dataDir, file)).toString(8), '600', file);
      await t.node.close();
      dir.remove();
    });

    it('keeps an existing directory as it is, with a warning, and tightens readable files in it', async () => {
      const dir = tempDir();
      const dataDir = join(dir.path, 'shared');
      mkdirSync(dataDir);
      chmodSync(dataDir, 0o755);
      writeFileSync(join(dataDir, 'api-key'), 'an-api-key-from-an-older-version\n', { mode: 0o644 });
      chmodSync(join(dataDir, 'api-key'), 0o644);
      const { logger, lines } = captureLogs();
      await using t = await startNode({ dataDir, logger });
      assert.equal(t.node.apiKey, 'an-api-key-from-an-older-version');
      assert.equal(modeOf(join(dataDir, 'api-key')), 0o600);
      assert.equal(modeOf(dataDir), 0o755, 'a directory the node did not create is not changed');
      assert.ok(
        lines.some((l) => l.includes('"level":40') && l.includes('data directory is readable')),
        'warns that others may read the directory',
      );
      await t.node.close();
      dir.remove();
    });
  });

  describe('/metrics', () => {
    it('answers only the metrics token when one is configured', async () => {
      const metricsToken = 'a-metrics-token-for-the-scraper';
      await using t = await startNode({ metricsToken });
      const open = await fetch(`${t.url}/metrics`);
      assert.equal(open.status, 401);
      assert.equal(((await open.json()) as { code: string }).code, 'unauthorized');
      assert.equal((await t.api('/metrics')).status, 401, 'the API key is not the metrics token');
      const scraped = await t.api('/metrics', { token: metricsToken });
      assert.equal(scraped.status, 200);
      assert.match(scraped.body as string, /inloop_connections/);
    });

    it('can be served on a separate port only, the token still applying there', async () => {
      const metricsToken = 'a-metrics-token-for-the-scraper';
      await using t = await startNode({ metricsPort: 0, metricsToken });
      assert.notEqual(t.node.metricsUrl, `${t.url}/metrics`);
      assert.equal((await t.api('/metrics', { token: metricsToken })).status, 404, 'not on the main port');
      assert.equal((await fetch(t.node.metricsUrl)).status, 401);
      const scraped = await fetch(t.node.metricsUrl, { headers: { authorization: `Bearer ${metricsToken}` } });
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /inloop_publications_total/);
      const elsewhere = await fetch(t.node.metricsUrl.replace('/metrics', '/v1/topics/room:1/messages'));
      assert.equal(elsewhere.status, 404, 'the metrics port serves nothing else');
    });
  });
});
