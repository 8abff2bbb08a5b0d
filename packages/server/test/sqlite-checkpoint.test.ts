import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../src/adapters/sqlite-database.js';
import { sleep, tempDir } from './helpers.js';

const walBytes = (file: string) => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

describe('WAL checkpoints', () => {
  describe('when a node writes without pause', () => {
    it('keeps the WAL file far below what was written (checkpoints run beside the node, not in its commits)', async () => {
      const dir = tempDir();
      const file = join(dir.path, 'c.db');
      const handle = openDatabase(file, 'NORMAL');
      assert.equal(handle.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'no checkpoint inside a COMMIT');
      handle.db.exec('CREATE TABLE t (n INTEGER, body TEXT)');
      const insert = handle.db.prepare('INSERT INTO t VALUES (?, ?)');
      const body = 'x'.repeat(2000);
      let written = 0;
      let largest = 0;
      for (let turn = 0; turn < 120; turn++) {
        const writes = [];
        for (let i = 0; i < 200; i++) writes.push(handle.group.write(() => insert.run(turn * 200 + i, body)));
        await Promise.all(writes);
        written += 200 * body.length;
        largest = Math.max(largest, walBytes(file));
        await sleep(50);
      }
      assert.ok(written > 40_000_000);
      // The WAL starts over once a checkpoint has copied it: it holds a few intervals' writes at
      // most (without checkpoints it would hold all of them).
      assert.ok(largest < written / 4, `the WAL reached ${largest} bytes after ${written} written`);
      // Every row is there.
      assert.deepEqual(handle.db.prepare('SELECT count(*) AS n FROM t').get(), { n: 24_000 });
      // Writing this fast, checkpoints stay at their shortest interval.
      assert.equal(handle.checkpointIntervalMs, 500);
      handle.release();
      dir.remove();
    });

    it('checkpoints less often while little is written, and the WAL stays short', async () => {
      const dir = tempDir();
      const file = join(dir.path, 'c.db');
      const handle = openDatabase(file, 'NORMAL');
      handle.db.exec('CREATE TABLE t (n INTEGER, body TEXT)');
      const insert = handle.db.prepare('INSERT INTO t VALUES (?, ?)');
      try {
        assert.equal(handle.checkpointIntervalMs, 500);
        // About 40 small commits a second, as a node serving a few publications a second does.
        for (let i = 0; i < 240; i++) {
          await handle.group.write(() => insert.run(i, 'z'.repeat(100)));
          await sleep(25);
        }
        const interval = handle.checkpointIntervalMs!;
        assert.ok(interval >= 2000, `the interval is ${interval} ms after 6 s of slow writes`);
        // A checkpoint still comes while commits happen: the WAL holds far less than SQLite's own
        // 1,000-page threshold would let it.
        assert.ok(walBytes(file) < 1000 * 4096, `the WAL is ${walBytes(file)} bytes`);
        assert.deepEqual(handle.db.prepare('SELECT count(*) AS n FROM t').get(), { n: 240 });
      } finally {
        handle.release();
        dir.remove();
      }
    });

    it('folds the WAL into the database file when the node closes, and the rows are there on the next open', async () => {
      const dir = tempDir();
      const file = join(dir.path, 'c.db');
      const handle = openDatabase(file, 'NORMAL');
      handle.db.exec('CREATE TABLE t (n INTEGER, body TEXT)');
      const insert = handle.db.prepare('INSERT INTO t VALUES (?, ?)');
      const writes = [];
      for (let i = 0; i < 500; i++) writes.push(handle.group.write(() => insert.run(i, 'y'.repeat(1000))));
      await Promise.all(writes);
      assert.ok(walBytes(file) > 0, 'the writes went to the WAL first');
      handle.release();
      assert.equal(walBytes(file), 0);
      const again = openDatabase(file, 'NORMAL');
      assert.deepEqual(again.db.prepare('SELECT count(*) AS n FROM t').get(), { n: 500 });
      again.release();
      dir.remove();
    });
  });
});
