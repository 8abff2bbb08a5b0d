import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PublicationMessage } from '@inloop/protocol';
import { refreshDelay, Subscription, tokenExpiry } from '@inloop/client';

const pub = (offset: number, epoch = 'e1'): PublicationMessage => ({
  type: 'pub',
  topic: 't',
  epoch,
  offset,
  data: offset,
  from: 'x',
  ts: 0,
});

describe('a subscription', () => {
  it('delivers each offset once, in order, and counts the duplicates it drops', () => {
    const sub = new Subscription('t', undefined, () => {});
    const seen: number[] = [];
    sub.on('publication', (p) => seen.push(p.offset!));
    sub.handleSubscribed({ recovered: true, replayed: 0, epoch: 'e1', offset: 0 });
    const outcomes = [1, 2, 2, 1, 3].map((o) => sub.handlePublication(pub(o)));
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(outcomes, ['delivered', 'delivered', 'duplicate', 'duplicate', 'delivered']);
    assert.equal(sub.duplicates, 2);
    assert.deepEqual(sub.position, { epoch: 'e1', offset: 3 });
  });

  it('reports a hole in the offsets as a gap instead of delivering past it', () => {
    const sub = new Subscription('t', { epoch: 'e1', offset: 5 }, () => {});
    assert.equal(sub.handlePublication(pub(7)), 'gap');
    assert.deepEqual(sub.position, { epoch: 'e1', offset: 5 });
    assert.equal(sub.handlePublication(pub(6)), 'delivered');
  });

  it('takes the new position and emits reset when the node could not recover', () => {
    const sub = new Subscription('t', { epoch: 'old', offset: 9 }, () => {});
    const resets: number[] = [];
    sub.on('reset', (e) => resets.push(e.offset));
    sub.handleSubscribed({ recovered: false, replayed: 0, epoch: 'new', offset: 40 });
    assert.deepEqual(resets, [40]);
    assert.deepEqual(sub.position, { epoch: 'new', offset: 40 });
    assert.equal(sub.handlePublication(pub(41, 'new')), 'delivered');
  });

  it('can be consumed with for await, which ends on unsubscribe', async () => {
    let unsubscribed = false;
    const sub = new Subscription('t', undefined, () => (unsubscribed = true));
    const got: number[] = [];
    const loop = (async () => {
      for await (const p of sub) {
        got.push(p.offset!);
        if (got.length === 2) break;
      }
    })();
    await new Promise((r) => setImmediate(r));
    sub.handlePublication(pub(1));
    sub.handlePublication(pub(2));
    sub.handlePublication(pub(3));
    await loop;
    assert.deepEqual(got, [1, 2]);
    assert.equal(unsubscribed, true);
  });
});

describe('token refresh', () => {
  it('refreshes a fifth of the remaining life early, between 5 and 60 s before expiry', () => {
    const now = 1_000_000;
    assert.equal(refreshDelay(now + 900_000, now), 900_000 - 60_000);
    assert.equal(refreshDelay(now + 100_000, now), 100_000 - 20_000);
    assert.equal(refreshDelay(now + 6_000, now), 1_000);
    assert.equal(refreshDelay(now + 1_000, now), 0);
  });

  it('reads exp from a JWT without verifying it, and tolerates garbage', () => {
    const payload = Buffer.from(JSON.stringify({ exp: 1_764_000_000 })).toString('base64url');
    assert.equal(tokenExpiry(`h.${payload}.s`), 1_764_000_000_000);
    assert.equal(tokenExpiry('nonsense'), undefined);
    assert.equal(tokenExpiry('a.!!!.b'), undefined);
  });
});
