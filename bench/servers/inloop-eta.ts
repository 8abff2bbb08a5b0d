import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/** An Inloop node on its embedded default with one remote job type per family of the ETA bench. */
const dataDir = benchDataDir('inloop-bench-eta-');
const node = await createNode({
  port,
  host: '127.0.0.1',
  dataDir,
  jobTypes: (process.env.BENCH_ETA_TYPES ?? '').split(',').filter(Boolean),
  processMetrics: false,
  apiKey: 'bench-api-key-0123456789',
});
const url = await node.listen();
ready({ port: Number(new URL(url).port), apiKey: node.apiKey });

closeOnSigterm(node, dataDir);
