import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../src/adapters/sqlite-database.js';
import { Ticker, type Flushable } from '../src/domain/ticker.js';
import { tempDir } from './helpers.js';

/** Resolves after `n` more turns of the event loop (their immediates): no timer, so no race with them. */
const turns = (n = 2) =>
  new Promise<void>((resolve) => {
    const step = (left: number): void => void (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });

/** A ticker with a counted `before` phase, and a connection that logs its flushes. */
function setup(log: string[]) {
  const ticker = new Ticker();
  let ticks = 0;
  ticker.use({ before: () => void ticks++ });
  const connection: Flushable = { flush: () => void log.push('flush'), abort() {} };
  return { ticker, connection, ticks: () => ticks };
}

describe('ticker', () => {
  it('writes what a commit releases in the turn of the commit, not one turn later', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 't.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const log: string[] = [];
    const { ticker, connection, ticks } = setup(log);
    handle.group.follow(ticker);
    // As a publish does: the write's `after` hook queues a delivery (the hub's fan-out), and the
    // writer's promise resolves to queue the ack. A marker queued meanwhile runs in the next turn.
    const acked = handle.group
      .write(
        () => insert.run(1),
        () => {
          setImmediate(() => log.push('next turn'));
          ticker.arm();
        },
      )
      .then(() => ticker.schedule(connection));
    await acked;
    await turns();
    assert.deepEqual(log, ['flush', 'next turn'], 'the tick ran behind the commit, in its turn');
    assert.equal(ticks(), 1, 'one tick wrote the delivery and the ack');
    handle.group.unfollow(ticker);
    handle.release();
    dir.remove();
  });

  it('moves a tick queued before the commit behind it', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 't.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const log: string[] = [];
    const { ticker, ticks } = setup(log);
    handle.group.follow(ticker);
    // Two connections: one with a reply queued earlier in the turn, one the commit delivers to.
    const reply: Flushable = { flush: () => void log.push('reply'), abort() {} };
    const delivery: Flushable = { flush: () => void log.push('delivery'), abort() {} };
    ticker.schedule(reply);
    await handle.group.write(
      () => insert.run(1),
      () => ticker.schedule(delivery),
    );
    await turns();
    assert.equal(ticks(), 1, 'both went out in one tick, after the commit');
    assert.deepEqual(log, ['reply', 'delivery']);
    handle.group.unfollow(ticker);
    handle.release();
    dir.remove();
  });

  it('is never starved by commits that keep queueing commits', async () => {
    const dir = tempDir();
    const handle = openDatabase(join(dir.path, 't.db'), 'NORMAL');
    handle.db.exec('CREATE TABLE t (n INTEGER)');
    const insert = handle.db.prepare('INSERT INTO t VALUES (?)');
    const log: string[] = [];
    const { ticker, connection } = setup(log);
    handle.group.follow(ticker);
    let turns = 0;
    let flushedAt = -1;
    const flushing: Flushable = {
      flush: () => {
        flushedAt = turns;
        connection.flush();
      },
      abort() {},
    };
    // Each commit's writer queues the next write: a commit is queued in every turn for 50 turns.
    const chain = async (): Promise<void> => {
      while (turns < 50) {
        await handle.group.write(() => insert.run(turns));
        turns++;
        if (turns === 3) ticker.schedule(flushing);
      }
    };
    await chain();
    assert.deepEqual(log, ['flush']);
    assert.ok(flushedAt >= 3 && flushedAt <= 4, `flushed ${flushedAt - 3} turns after it was queued`);
    handle.group.unfollow(ticker);
    handle.release();
    dir.remove();
  });

  it('a flush queued while the fan-out runs needs no tick of its own', async () => {
    const log: string[] = [];
    const ticker = new Ticker();
    let ticks = 0;
    const connection: Flushable = { flush: () => void log.push('flush'), abort() {} };
    // The hub's phase: the deliveries it queues are written by the tick that runs it.
    ticker.use({
      before: () => {
        ticks++;
        ticker.schedule(connection);
      },
    });
    ticker.arm();
    await turns();
    await turns();
    assert.deepEqual(log, ['flush']);
    assert.equal(ticks, 1, 'no empty tick followed');
    // An arm from the phase itself (a publication arriving meanwhile) still gets its tick.
    ticker.use({
      before: () => {
        if (++ticks === 2) ticker.arm();
      },
    });
    ticker.arm();
    await turns();
    assert.equal(ticks, 3);
  });
});
