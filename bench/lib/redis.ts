import { execFileSync, spawn } from 'node:child_process';
import { connect } from 'node:net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `fn` against a throwaway redis-server pinned to `cpu` (no persistence); null when none starts. */
export async function withPinnedRedis<T>(cpu: number, fn: (port: number) => Promise<T>): Promise<T | null> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const redis = spawn(
    'taskset',
    [
      '-c',
      String(cpu),
      'redis-server',
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { stdio: 'ignore' },
  );
  try {
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const c = connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
        c.on('error', () => resolve(false));
      });
      if (up) break;
      if (i > 50 || redis.exitCode !== null) return null;
      await sleep(100);
    }
    return await fn(port);
  } finally {
    redis.kill('SIGTERM');
  }
}

/** Run `redis-cli -p port ...args` and return what it printed. */
export function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(port), ...args]).toString();
}

/** The pid of the redis-server listening on `port` (for its CPU), or undefined. */
export async function redisPid(port: number): Promise<number | undefined> {
  try {
    return Number(/process_id:(\d+)/.exec(redisCli(port, 'INFO', 'server'))?.[1]);
  } catch {
    return undefined;
  }
}

/** Run `fn` with Redis at `port` set to `bytes` for `stream-node-max-bytes`, then set it back. */
export async function withStreamNodeMaxBytes<T>(port: number, bytes: number, fn: () => Promise<T>): Promise<T> {
  const before = redisCli(port, 'CONFIG', 'GET', 'stream-node-max-bytes').trim().split('\n')[1] ?? '4096';
  redisCli(port, 'CONFIG', 'SET', 'stream-node-max-bytes', String(bytes));
  try {
    return await fn();
  } finally {
    redisCli(port, 'CONFIG', 'SET', 'stream-node-max-bytes', before);
  }
}
