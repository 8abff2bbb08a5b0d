import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadOrCreateSecret } from '../auth/api-keys.js';
import type { Config } from '../config.js';
import { StoreQueue } from '../domain/jobs/store-queue.js';
import type { Backend } from '../ports/backend.js';
import type { QueueingJobStore } from '../ports/job-store.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { createMemoryBroker } from './memory-broker.js';
import { createSqliteBroker } from './sqlite-broker.js';
import { createSqliteConversationStore } from './sqlite-conversation-store.js';
import { createSqliteJobStore } from './sqlite-job-store.js';
import { createSqlitePresenceStore } from './sqlite-presence-store.js';

/**
 * The single-node backend: one SQLite file in the data directory (or, with `storage: memory`,
 * history in memory and everything else in an in-memory database). The job store is its own
 * queue, and the node is the only writer of its jobs.
 */
export function embeddedBackend(config: Readonly<Config>): Backend {
  const durable = config.storage === 'sqlite';
  const sqlite = {
    file: durable ? join(config.dataDir, 'inloop.db') : ':memory:',
    synchronous: config.sqliteSynchronous,
  };
  return {
    shared: false,
    broker: (options) => (durable ? createSqliteBroker({ ...options, ...sqlite }) : createMemoryBroker(options)),
    jobStore: () => createSqliteJobStore(sqlite),
    jobQueue: (store) => new StoreQueue(store as QueueingJobStore),
    jobLocks: () => new KeyedLock(),
    conversationStore: () => createSqliteConversationStore(sqlite),
    presenceStore: () => createSqlitePresenceStore(sqlite),
    secret: (name, bytes) =>
      Promise.resolve(
        durable
          ? loadOrCreateSecret(config.dataDir, name, bytes)
          : { value: randomBytes(bytes).toString('base64url'), created: true },
      ),
    close: () => Promise.resolve(),
  };
}
