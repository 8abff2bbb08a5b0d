import { join } from 'node:path';
import { createMemoryBroker, createSqliteBroker } from '@inloop/server';
import { describeBrokerConformance } from './broker-conformance.js';
import { tempDir } from './helpers.js';

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
