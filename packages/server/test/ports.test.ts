import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
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

describe('sqlite broker storage', () => {
  it('keeps on disk at most the count bound plus one trim step, and never shows the extra', async () => {
    const dir = tempDir();
    const file = join(dir.path, 'inloop.db');
    const broker = createSqliteBroker({ maxCount: 10, maxAgeMs: 86_400_000, idempotencyTtlMs: 300_000, file });
    const stored = () => {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare("SELECT count(*) AS n FROM publications WHERE topic = 't'").get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    let most = 0;
    for (let i = 1; i <= 200; i++) {
      await broker.appendAndPublish('t', { data: i, from: 'a' });
      if (i % 7 === 0) most = Math.max(most, stored());
      const page = await broker.history('t', 0, 100);
      assert.equal(page.publications.length, Math.min(i, 10));
      assert.equal(page.earliest, Math.max(1, i - 9));
    }
    assert.ok(most <= 10 + 32, `at most 42 rows on disk, saw ${most}`);
    assert.ok(stored() >= 10);
    await broker.close();
    // The topic's row is written only before trims; its offsets carry on after a reopen all the same.
    const reopened = createSqliteBroker({ maxCount: 10, maxAgeMs: 86_400_000, idempotencyTtlMs: 300_000, file });
    const next = await reopened.appendAndPublish('t', { data: 'after', from: 'a' });
    assert.equal(next.publication.offset, 201);
    assert.deepEqual(await reopened.position('t'), { epoch: next.publication.epoch, offset: 201 });
    await reopened.close();
    dir.remove();
  });

  it('carries offsets on when every stored publication has expired', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const options = { maxCount: 100, maxAgeMs: 1000, idempotencyTtlMs: 300_000, now: () => now };
    const broker = createSqliteBroker({ ...options, file: join(dir.path, 'inloop.db') });
    for (let i = 0; i < 5; i++) await broker.appendAndPublish('t', { data: i, from: 'a' });
    now += 5000;
    const after = await broker.appendAndPublish('t', { data: 'late', from: 'a' });
    assert.equal(after.publication.offset, 6);
    now += 5000;
    await broker.appendAndPublish('t', { data: 'later', from: 'a' });
    const page = await broker.history('t', 0, 10);
    assert.deepEqual([page.earliest, page.latest, page.publications.map((p) => p.data)], [7, 7, ['later']]);
    await broker.close();
    dir.remove();
  });
});
