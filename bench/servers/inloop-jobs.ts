import { createNode } from '@inloop/server';
import { benchDataDir, closeOnSigterm, port, ready } from './common.js';

/**
 * An Inloop node on its embedded default with job types for the jobs benchmark; with
 * `BENCH_REDIS_URL`, on that Redis with jobs in Inloop's own queue, or with `BENCH_JOB_QUEUE=bullmq`
 * queued through BullMQ.
 */
const dataDir = benchDataDir('inloop-bench-jobs-');
const redis = process.env.BENCH_REDIS_URL;
const node = await createNode({
  ...(redis ? { redis, redisPrefix: `bench${process.pid}` } : {}),
  redisJobQueue: process.env.BENCH_JOB_QUEUE === 'bullmq' ? 'bullmq' : 'inloop',
  port,
  host: '127.0.0.1',
  dataDir,
  jobTypes: ['remote'],
  processMetrics: false,
  apiKey: 'bench-api-key-0123456789',
});
node.jobs.handle('noop', async () => null, { concurrency: 100 });
node.jobs.handle(
  'silent',
  async (job) => {
    await new Promise((r) => setTimeout(r, (job.input as { ms: number }).ms));
    return null;
  },
  { concurrency: 5000 },
);
const url = await node.listen();
ready({ port: Number(new URL(url).port), apiKey: node.apiKey });

/** In-process throughput: create `n` jobs through the library API, `inFlight` at a time, until all are done. */
process.on('message', (m: { type?: string; n?: number; inFlight?: number }) => {
  if (m?.type !== 'inproc') return;
  const n = m.n ?? 10_000;
  const inFlight = m.inFlight ?? 100;
  let created = 0;
  let finished = 0;
  const start = performance.now();
  const service = node.jobs.service;
  const onFinished = () => {
    if (++finished < n) return;
    service.off('finished', onFinished);
    process.send?.({ type: 'inproc-done', seconds: (performance.now() - start) / 1000 });
  };
  service.on('finished', onFinished);
  const next = async (): Promise<void> => {
    while (created < n) {
      created++;
      await service.create({ type: 'noop', input: null, size: null, idempotencyKey: null, createdBy: 'bench' });
    }
  };
  for (let i = 0; i < inFlight; i++) void next();
});

closeOnSigterm(node, dataDir);
