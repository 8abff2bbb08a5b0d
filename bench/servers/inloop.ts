import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/**
 * An Inloop node on its embedded default (SQLite file, WAL), publish rate limit lifted for the
 * publisher. With `BENCH_REDIS_URL`, one node of a cluster on that Redis instead (the nodes of
 * one run share `BENCH_REDIS_PREFIX`, an API key and a token secret).
 */
const dataDir = benchDataDir('inloop-bench-');
const redis = process.env.BENCH_REDIS_URL;
const node = await createNode({
  ...(redis
    ? {
        redis,
        redisPrefix: process.env.BENCH_REDIS_PREFIX ?? 'bench',
        apiKey: 'bench-api-key-0123456789',
        tokenSecret: 'bench-token-secret-0123456789abcdef0123',
      }
    : {}),
  // BENCH_STORAGE=memory: history in memory, to tell the storage's share of a cost from the rest.
  ...(process.env.BENCH_STORAGE === 'memory' ? { storage: 'memory' as const } : {}),
  port,
  host: '127.0.0.1',
  dataDir,
  publishRatePerSec: 1_000_000,
  publishBurst: 1_000_000,
  historyMaxCount: 10_000,
  processMetrics: false,
});
const url = await node.listen();
const { token } = await node.mintToken('bench', [{ ops: ['subscribe', 'publish'], topics: ['bench'] }], 3600);
ready({ port: Number(new URL(url).port), token, apiKey: node.apiKey });
closeOnSigterm(node, dataDir);
