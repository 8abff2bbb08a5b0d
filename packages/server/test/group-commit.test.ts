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

  it('rejects only the write that failed; the rest of its turn commits', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const told: string[] = [];
    const first = handle.group.write(
      () => insert.run(1),
      () => told.push('1 acknowledged'),
    );
    // One writer's bad write: two rows, the second a duplicate key. Neither of its rows may land.
    const broken = handle.group.write(() => {
      insert.run(5);
      insert.run(1);
    });
    const third = handle.group.write(
      () => insert.run(3),
      () => told.push('3 acknowledged'),
    );
    const results = await Promise.allSettled([first, broken, third]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(told, ['1 acknowledged', '3 acknowledged']);
    assert.deepEqual(handle.db.prepare('SELECT n FROM t ORDER BY n').all(), [{ n: 1 }, { n: 3 }]);
    handle.release();
    dir.remove();
  });

  it('rejects the turn’s first writer alone when it fails: none of its rows land, the writers after it commit', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    await handle.group.write(() => insert.run(1));
    // The first writer of a new turn writes a row, then fails on a duplicate key.
    const broken = handle.group.write(() => {
      insert.run(7);
      insert.run(1);
    });
    const second = handle.group.write(() => insert.run(2));
    const third = handle.group.write(() => insert.run(3));
    const results = await Promise.allSettled([broken, second, third]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal(handle.db.inTransaction, false);
    assert.deepEqual(handle.db.prepare('SELECT n FROM t ORDER BY n').all(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    handle.release();
    dir.remove();
  });

  it('a write made from inside the first writer that fails undoes only its own part', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    await handle.group.write(() => insert.run(1));
    let inner: Promise<unknown> = Promise.resolve();
    const outer = handle.group.write(() => {
      insert.run(2);
      inner = handle.group.write(() => {
        insert.run(9);
        insert.run(1);
      });
      insert.run(3);
    });
    assert.deepEqual(
      (await Promise.allSettled([outer, inner])).map((r) => r.status),
      ['fulfilled', 'rejected'],
    );
    assert.deepEqual(handle.db.prepare('SELECT n FROM t ORDER BY n').all(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    handle.release();
    dir.remove();
  });

  it('rejects every writer of the turn when the transaction itself fails', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 'g.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const told: string[] = [];
    const first = handle.group.write(
      () => insert.run(1),
      () => told.push('1 acknowledged'),
    );
    // A writer that ends the transaction under the group, as SQLite does on a full disk.
    const broken = handle.group.write(() => {
      handle.db.exec('ROLLBACK');
      throw new Error('disk full');
    });
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
