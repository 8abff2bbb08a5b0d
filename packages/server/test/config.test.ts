import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '@inloop/server';
import { exited, spawnNode, tempDir } from './helpers.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

describe('configuration', () => {
  it('has working defaults: port 8080, SQLite under .inloop', () => {
    const config = loadConfig();
    assert.equal(config.port, 8080);
    assert.equal(config.storage, 'sqlite');
    assert.equal(config.dataDir, '.inloop');
    assert.equal(config.maxMessageBytes, 65_536);
    assert.equal(config.maxBufferedBytes, 1_048_576);
    assert.ok(Object.isFrozen(config));
  });

  it('reads flags over environment over file', () => {
    const dir = tempDir();
    const file = join(dir.path, 'inloop.json');
    writeFileSync(file, JSON.stringify({ port: 1000, historyMaxCount: 5, logLevel: 'debug' }));
    const config = loadConfig({
      argv: ['--config', file, '--port', '3000', '--allowed-origins=https://a.example,https://b.example'],
      env: {
        PORT: '2000',
        INLOOP_HISTORY_MAX_COUNT: '7',
        INLOOP_DATA_DIR: '/tmp/x',
        INLOOP_API_KEY: 'k'.repeat(20),
        INLOOP_TOKEN_SECRET: 's'.repeat(40),
      },
    });
    assert.equal(config.port, 3000);
    assert.equal(config.historyMaxCount, 7);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.dataDir, '/tmp/x');
    assert.equal(config.apiKey, 'k'.repeat(20));
    assert.equal(config.tokenSecret, 's'.repeat(40));
    assert.deepEqual(config.allowedOrigins, ['https://a.example', 'https://b.example']);
    dir.remove();
  });

  it('reports every problem at once', () => {
    try {
      loadConfig({
        argv: ['--port', 'eighty', '--bogus', '1'],
        env: { INLOOP_STORAGE: 'floppy', INLOOP_TOKEN_SECRET: 'short', INLOOP_IDEMPOTENCY_TTL_MS: '1000' },
      });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const key of ['unknown flag --bogus', 'port', 'storage', 'tokenSecret', 'idempotencyTtlMs'])
        assert.ok(text.includes(key), `mentions ${key}:\n${text}`);
    }
  });

  it('takes a Redis Cluster as nodes by flag or environment, never with redis, and never echoes a password', () => {
    const flag = loadConfig({ argv: ['--redis-cluster', '10.0.0.1:7000,10.0.0.2:7001'] });
    assert.deepEqual(flag.redisCluster, ['10.0.0.1:7000', '10.0.0.2:7001']);
    assert.equal(flag.redis, undefined);
    const env = loadConfig({ env: { INLOOP_REDIS_CLUSTER: 'rediss://:pw@redis-a:6380, redis-b:6380' } });
    assert.deepEqual(env.redisCluster, ['rediss://:pw@redis-a:6380', 'redis-b:6380']);
    assert.deepEqual(loadConfig().redisCluster, [], 'one server or none by default');
    for (const sources of [
      { argv: ['--redis', 'redis://one:6379', '--redis-cluster', 'a:7000'] },
      { env: { INLOOP_REDIS_CLUSTER: 'redis://:hunter2@a:7000,not a node' } },
    ]) {
      try {
        loadConfig(sources);
        assert.fail('expected a ConfigError');
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        assert.match(text, /redisCluster/);
        assert.doesNotMatch(text, /hunter2/);
      }
    }
  });

  it('makes the inloop command exit with status 2 and list the problems', () => {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const run = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', cli, '--port', 'x', '--storage', 'tape'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(run.status, 2);
    assert.match(run.stderr, /invalid configuration/);
    assert.match(run.stderr, /port/);
    assert.match(run.stderr, /storage/);
  });

  it('generates an API key on first start, prints it once, and keeps it', { timeout: 40_000 }, async () => {
    const dir = tempDir();
    const env = { PORT: '0', INLOOP_HOST: '127.0.0.1', INLOOP_DATA_DIR: dir.path };
    const first = await spawnNode(env);
    const key = /\n {2}(\S+)\n/.exec(first.output())?.[1];
    assert.ok(key, 'key printed');
    first.child.kill('SIGTERM');
    await exited(first.child);
    const second = await spawnNode(env);
    assert.ok(!second.output().includes(key!), 'not printed again');
    const res = await fetch(`${second.url}/v1/topics/t/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"data":1}',
    });
    assert.equal(res.status, 201);
    second.child.kill('SIGTERM');
    await exited(second.child);
    dir.remove();
  });
});
