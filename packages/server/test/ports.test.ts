import { join } from 'node:path';
import { createMemoryBroker, createSqliteBroker, createSqliteJobStore } from '@inloop/server';
import { createSqliteConversationStore } from '../src/adapters/sqlite-conversation-store.js';
import { createSqlitePresenceStore } from '../src/adapters/sqlite-presence-store.js';
import {
  describeBrokerConformance,
  describeConversationStoreConformance,
  describeJobStoreConformance,
  describePresenceStoreConformance,
  tempDir,
  describeWebhookOutboxConformance,
} from '@inloop/testing';
import { createSqliteWebhookOutbox } from '../src/adapters/sqlite-webhook-outbox.js';

describeBrokerConformance('memory', async (options) => ({
  broker: createMemoryBroker(options),
  dispose: async () => {},
}));

describeBrokerConformance('sqlite', async (options) => {
  const dir = tempDir();
  const file = join(dir.path, 'inloop.db');
  const broker = createSqliteBroker({ ...options, file });
  return {
    broker,
    reopen: async () => createSqliteBroker({ ...options, file }),
    dispose: async () => {
      await broker.close();
      dir.remove();
    },
  };
});

describeConversationStoreConformance('sqlite', async (options) => {
  const dir = tempDir();
  const store = createSqliteConversationStore({ ...options, file: join(dir.path, 'inloop.db') });
  return {
    store,
    dispose: async () => {
      await store.close();
      dir.remove();
    },
  };
});

describePresenceStoreConformance('sqlite', async (options) => {
  const dir = tempDir();
  const store = createSqlitePresenceStore({ ...options, file: join(dir.path, 'inloop.db') });
  return {
    store,
    dispose: async () => {
      await store.close();
      dir.remove();
    },
  };
});

describeJobStoreConformance('sqlite', async (options) => {
  const dir = tempDir();
  const store = createSqliteJobStore({ ...options, file: join(dir.path, 'inloop.db') });
  return {
    store,
    dispose: async () => {
      await store.close();
      dir.remove();
    },
  };
});

describeWebhookOutboxConformance('sqlite', async () => {
  const dir = tempDir();
  const outbox = createSqliteWebhookOutbox({ file: join(dir.path, 'inloop.db') });
  return {
    outbox,
    dispose: async () => {
      await outbox.close();
      dir.remove();
    },
  };
});
