import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/**
 * An Inloop node exactly as shipped (embedded SQLite, every limit at its default), with one job
 * type for remote workers: what the fuzz soak attacks. Reports its port, API key and a token for
 * the well-behaved client (`bench`: subscribe and publish on the topic `bench`).
 */
const dataDir = benchDataDir('inloop-bench-');
const node = await createNode({
  port,
  host: '127.0.0.1',
  dataDir,
  jobTypes: ['bench.job'],
  processMetrics: false,
});
const url = await node.listen();
const { token } = await node.mintToken('bench', [{ ops: ['subscribe', 'publish'], topics: ['bench'] }], 3600);
ready({ port: Number(new URL(url).port), token, apiKey: node.apiKey });
closeOnSigterm(node, dataDir);
