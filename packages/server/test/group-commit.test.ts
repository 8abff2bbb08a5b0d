import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../src/adapters/sqlite-database.js';
import { tempDir } from './helpers.js';

describe('group commit', () => {
  it('commits a turn’s writes together and answers each writer only after the commit', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const order: string[] = [];
    const writes = [1, 2, 3].map((n) =>
      handle.group.write(
        () => insert.run(n),
        () => order.push(`after ${n}`),
      ),
    );
    order.push('same turn');
    assert.equal(handle.db.inTransaction, true, 'one transaction holds the turn’s writes');
    await Promise.all(writes);
    assert.deepEqual(order, ['same turn', 'after 1', 'after 2', 'after 3']);
    assert.equal(handle.db.inTransaction, false);
    handle.release();
    // Another connection sees all three: they were committed.
    const again = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    assert.deepEqual(again.db.prepare('SELECT n FROM t ORDER BY n').all(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    again.release();
    dir.remove();
  });

  it('rolls back the whole turn and rejects every writer when a write fails', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const told: string[] = [];
    const first = handle.group.write(
      () => insert.run(1),
      () => told.push('1 acknowledged'),
    );
    const broken = handle.group.write(() => insert.run(1)); // a storage failure: duplicate key
    const results = await Promise.allSettled([first, broken]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.deepEqual(told, [], 'nobody is told of a write that did not land');
    assert.deepEqual(handle.db.prepare('SELECT n FROM t').all(), []);
    await handle.group.write(() => insert.run(2));
    assert.deepEqual(handle.db.prepare('SELECT n FROM t').all(), [{ n: 2 }], 'the next turn is unaffected');
    handle.release();
    dir.remove();
  });
});
