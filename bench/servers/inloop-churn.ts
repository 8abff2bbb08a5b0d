import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/**
 * An Inloop node with short retention settings for the churn soak: everything stored expires
 * `CHURN_RETENTION_MS` after its last use, and cleanup runs every second. Rate limits are lifted
 * so the soak measures storage, not admission. `CHURN_STORAGE=memory` keeps history in memory.
 */
const dataDir = benchDataDir('inloop-bench-churn-');
const retentionMs = Number(process.env.CHURN_RETENTION_MS ?? 10_000);
const node = await createNode({
  port,
  host: '127.0.0.1',
  dataDir,
  storage: process.env.CHURN_STORAGE === 'memory' ? 'memory' : 'sqlite',
  processMetrics: false,
  apiKeyRateMultiplier: 0,
  historyMaxAgeMs: retentionMs,
  conversationHistoryMaxAgeMs: retentionMs,
  conversationHistoryMaxCount: 100,
  presenceLastSeenMaxAgeMs: retentionMs,
  jobRetentionMs: retentionMs,
  retentionSweepMs: 1000,
});
node.jobs.handle('churn', async (job, ctx) => {
  await ctx.progress(0.5);
  return job.input;
});
const url = await node.listen();
const { token } = await node.mintToken('churner', [{ ops: ['subscribe', 'history'], topics: ['*'] }], 86_400);
ready({ port: Number(new URL(url).port), apiKey: node.apiKey, token, dataDir });
closeOnSigterm(node, dataDir);
