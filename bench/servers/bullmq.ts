import { Queue, Worker } from 'bullmq';
import { ready } from './common.js';

/**
 * BullMQ used directly on the local Redis: add `n` jobs with `inFlight` adds outstanding, a worker
 * with concurrency `inFlight` and a trivial processor; created-to-completed throughput. A finished
 * job is removed at once (`removeOnComplete: true`, the cheapest), or with `keep`, kept for seven
 * days as Inloop keeps a finished job's record (`removeOnComplete: { age }`): its state and result
 * stay readable, as `GET /v1/jobs/:id` reads Inloop's.
 */
const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };
ready({});
const WEEK_SECONDS = 7 * 24 * 3600;
/** Queues run here, removed on SIGTERM: after the bench has read what Redis holds for their jobs. */
const queues: Queue[] = [];
process.on('message', (m: { type?: string; n?: number; inFlight?: number; keep?: boolean }) => {
  if (m?.type !== 'run') return;
  void (async () => {
    const n = m.n ?? 10_000;
    const inFlight = m.inFlight ?? 100;
    const name = `inloop-bench-${process.pid}-${Date.now()}`;
    const queue = new Queue(name, { connection });
    queues.push(queue);
    let completed = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const worker = new Worker(name, async () => null, { connection, concurrency: inFlight });
    worker.on('completed', () => {
      if (++completed === n) resolveDone();
    });
    await worker.waitUntilReady();
    const start = performance.now();
    let added = 0;
    const adder = async () => {
      while (added < n) {
        added++;
        await queue.add('noop', null, { removeOnComplete: m.keep ? { age: WEEK_SECONDS } : true });
      }
    };
    await Promise.all(Array.from({ length: inFlight }, adder));
    await done;
    const seconds = (performance.now() - start) / 1000;
    await worker.close();
    process.send?.({ type: 'done', seconds });
  })();
});
process.on('SIGTERM', () => {
  void Promise.all(queues.map((q) => q.obliterate({ force: true }).then(() => q.close())))
    .catch(() => {})
    .finally(() => process.exit(0));
});
