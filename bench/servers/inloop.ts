import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '@inloop/server';
import { port, ready } from './common.js';

/** An Inloop node on its embedded default (SQLite file, WAL), publish rate limit lifted for the publisher. */
const dataDir = mkdtempSync(join(tmpdir(), 'inloop-bench-'));
const node = await createNode({
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
process.on('SIGTERM', () => {
  void node.close().then(() => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
});
