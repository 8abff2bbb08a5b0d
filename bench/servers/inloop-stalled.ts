import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/**
 * An Inloop node with its shipped limits (embedded SQLite), publish limits lifted so the bench can
 * fill a large topic quickly, for `bench/stalled.ts`. `BENCH_SLOW_CONSUMER_TIMEOUT_MS` sets
 * `slowConsumerTimeoutMs` when given (a node from before that key existed is run without it).
 * Reports its port, API key and a token allowed everything on every topic.
 */
const dataDir = benchDataDir('inloop-bench-');
const timeout = process.env.BENCH_SLOW_CONSUMER_TIMEOUT_MS;
const node = await createNode({
  port,
  host: '127.0.0.1',
  dataDir,
  processMetrics: false,
  publishRatePerSec: 100_000,
  publishBurst: 100_000,
  ...(timeout ? { slowConsumerTimeoutMs: Number(timeout) } : {}),
});
const url = await node.listen();
const { token } = await node.mintToken('bench', [{ ops: ['subscribe', 'publish', 'history'], topics: ['*'] }], 3600);
ready({ port: Number(new URL(url).port), token, apiKey: node.apiKey });
closeOnSigterm(node, dataDir);
