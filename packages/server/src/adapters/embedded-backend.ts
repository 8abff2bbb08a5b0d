import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadOrCreateSecret } from '../auth/api-keys.js';
import type { Config } from '../config.js';
import { StoreQueue } from './store-queue.js';
import type { Backend } from '../ports/backend.js';
import type { QueueingJobStore } from '../ports/job-store.js';
import { silentLogger } from '../logger.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { prepareDataDir } from './data-dir.js';
import { createMemoryBroker } from './memory-broker.js';
import { createSqliteBroker } from './sqlite-broker.js';
import { createSqliteConversationStore } from './sqlite-conversation-store.js';
import { createSqliteJobStore } from './sqlite-job-store.js';
import { createSqlitePresenceStore } from './sqlite-presence-store.js';
import { createSqliteStreamStore } from './sqlite-stream-store.js';
import { createSqliteWebhookOutbox } from './sqlite-webhook-outbox.js';

/** The SQLite file of the embedded backend, with the journal files SQLite keeps beside it. */
const SQLITE_FILES = ['inloop.db', 'inloop.db-wal', 'inloop.db-shm'];
/** Secrets generated into the data directory when the config has none. */
const SECRET_FILES = ['api-key', 'token-secret'];

/**
 * The single-node backend: one SQLite file in the data directory (or, with `storage: memory`,
 * history in memory and everything else in an in-memory database). The job store is its own
 * queue, and the node is the only writer of its jobs.
 *
 * The data directory is created 0700 and every file in it is 0600 (see {@link prepareDataDir});
 * `logger` hears about a directory others may read and about files it had to tighten.
 */
export function embeddedBackend(config: Readonly<Config>, logger: Logger = silentLogger): Backend {
  const durable = config.storage === 'sqlite';
  if (durable) prepareDataDir(config.dataDir, [...SQLITE_FILES, ...SECRET_FILES], logger);
  const sqlite = {
    file: durable ? join(config.dataDir, SQLITE_FILES[0]!) : ':memory:',
    synchronous: config.sqliteSynchronous,
  };
  return {
    shared: false,
    broker: (options) => (durable ? createSqliteBroker({ ...options, ...sqlite }) : createMemoryBroker(options)),
    jobStore: (options) => createSqliteJobStore({ ...options, ...sqlite }),
    jobQueue: (store) => new StoreQueue(store as QueueingJobStore),
    jobLocks: () => new KeyedLock(),
    conversationStore: (options) => createSqliteConversationStore({ ...options, ...sqlite }),
    presenceStore: (options) => createSqlitePresenceStore({ ...options, ...sqlite }),
    streamStore: (options) => createSqliteStreamStore({ ...options, ...sqlite }),
    webhookOutbox: () => createSqliteWebhookOutbox(sqlite),
    secret: (name, bytes) =>
      Promise.resolve(
        durable
          ? loadOrCreateSecret(config.dataDir, name, bytes)
          : { value: randomBytes(bytes).toString('base64url'), created: true },
      ),
    close: () => Promise.resolve(),
  };
}
