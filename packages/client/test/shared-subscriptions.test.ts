import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { PublicationMessage } from '@inloop/protocol';
import { InloopError, SubscriptionTable, type Subscription, type SubscriptionWire } from '@inloop/client';

/**
 * A node as the table sees it: requests wait in a queue and are answered when the test says so,
 * per topic in the order they were sent (as the node now guarantees for one connection).
 */
class FakeNode {
  readonly held = new Set<string>();
  readonly queue: { topic: string; run: () => void }[] = [];
  frames = { subscribe: 0, unsubscribe: 0 };
  ready = true;
  /** Subscribes still to refuse `unavailable` (the node's backend out of reach; the socket stays up). */
  unavailable = 0;
  table!: SubscriptionTable;
  #nextId = 1;

  readonly wire: SubscriptionWire = {
    ready: () => this.ready,
    subscribe: (topic, _since, _token, failed) => {
      const id = this.#nextId++;
      this.frames.subscribe++;
      this.queue.push({
        topic,
        run: () => {
          if (this.unavailable > 0) {
            this.unavailable--;
            return failed(new InloopError('unavailable'));
          }
          if (this.held.has(topic)) return failed(new InloopError('already_subscribed'));
          this.held.add(topic);
          this.table.handleSubscribed({ id, topic, recovered: true, replayed: 0, epoch: 'e', offset: 0 });
        },
      });
      return id;
    },
    unsubscribe: (topic, done) => {
      this.frames.unsubscribe++;
      this.queue.push({
        topic,
        run: () => {
          this.held.delete(topic);
          done();
        },
      });
    },
  };

  /** Answer the oldest request of the `pick`-th topic that has one waiting. */
  answer(pick: number): boolean {
    const topics = [...new Set(this.queue.map((q) => q.topic))];
    if (topics.length === 0) return false;
    const topic = topics[pick % topics.length]!;
    const i = this.queue.findIndex((q) => q.topic === topic);
    const [request] = this.queue.splice(i, 1);
    request!.run();
    return true;
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

const pub = (offset: number): PublicationMessage => ({
  type: 'pub',
  topic: 't',
  epoch: 'e',
  offset,
  data: offset,
  from: 'x',
  ts: 0,
});
const page = ({ offset, data, from, ts }: PublicationMessage) => ({ offset: offset!, data, from, ts });

async function waitUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await tick();
}

function setup(): { node: FakeNode; table: SubscriptionTable } {
  const node = new FakeNode();
  const table = new SubscriptionTable(node.wire);
  node.table = table;
  return { node, table };
}

async function settleAll(node: FakeNode): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    await tick();
    if (!node.answer(0)) {
      await tick();
      if (node.queue.length === 0) return;
    }
  }
  throw new Error('the table did not settle');
}

describe('the shared subscription table', () => {
  it('sends one subscribe for a mount, unmount and mount in one turn (StrictMode)', async () => {
    const { node, table } = setup();
    table.acquire('t').unsubscribe();
    const live = table.acquire('t');
    await settleAll(node);
    assert.deepEqual(node.frames, { subscribe: 1, unsubscribe: 0 });
    assert.deepEqual([...node.held], ['t']);
    assert.equal(live.ended, false);
  });

  it('keeps the subscription while any consumer holds it, and lets go after the last', async () => {
    const { node, table } = setup();
    const feed = table.acquire('t');
    const typing = table.acquire('t');
    await settleAll(node);
    typing.unsubscribe();
    await settleAll(node);
    assert.deepEqual([...node.held], ['t'], 'releasing typing does not silence the feed');
    assert.equal(table.consumers('t'), 1);
    feed.unsubscribe();
    await settleAll(node);
    assert.deepEqual([...node.held], []);
  });

  it('tells a consumer joining a live subscription at once, without another request', async () => {
    const { node, table } = setup();
    table.acquire('t');
    await settleAll(node);
    const late = table.acquire('t');
    let subscribed = false;
    late.on('subscribed', () => (subscribed = true));
    await settleAll(node);
    assert.ok(subscribed);
    assert.equal(node.frames.subscribe, 1);
  });

  it('fills a late consumer from further back than the table remembers from history, in order', async () => {
    const { node, table } = setup();
    const stored = Array.from({ length: 101 }, (_, i) => pub(i + 1));
    let release!: () => void;
    const asked = new Promise<void>((r) => (release = r));
    node.wire.history = async (_topic, after) => {
      await asked;
      const messages = stored.filter((m) => m.offset! > after).slice(0, 40);
      const next = messages.at(-1)?.offset ?? after;
      return { epoch: 'e', truncated: false, next, more: next < 101, messages: messages.map(page) };
    };
    table.acquire('t');
    await settleAll(node);
    for (const m of stored.slice(0, 100)) table.handlePublication(m);
    const late = table.acquire('t', { since: { epoch: 'e', offset: 2 } });
    const seen: number[] = [];
    const resets: number[] = [];
    late.on('publication', (p) => seen.push(p.offset!));
    late.on('reset', (e) => resets.push(e.offset));
    await tick();
    table.handlePublication(stored[100]!); // live while history is read
    release();
    await waitUntil(() => seen.length === 99);
    assert.deepEqual(
      seen,
      Array.from({ length: 99 }, (_, i) => i + 3),
    );
    assert.deepEqual(resets, []);
  });

  it('resets a late consumer whose missed range history cannot fill', async () => {
    const { node, table } = setup();
    node.wire.history = () => Promise.reject(new InloopError('forbidden'));
    table.acquire('t');
    await settleAll(node);
    for (let o = 1; o <= 100; o++) table.handlePublication(pub(o));
    const late = table.acquire('t', { since: { epoch: 'e', offset: 2 } });
    const resets: number[] = [];
    const seen: number[] = [];
    late.on('reset', (e) => resets.push(e.offset));
    late.on('publication', (p) => seen.push(p.offset!));
    await waitUntil(() => resets.length === 1);
    table.handlePublication(pub(101));
    assert.deepEqual(resets, [100]);
    assert.deepEqual(seen, [101]);
  });

  it('ends every consumer with the refusal when the node refuses the topic', async () => {
    const { node, table } = setup();
    node.held.add('t'); // the node answers already_subscribed to the next subscribe
    const a = table.acquire('t');
    const b = table.acquire('t');
    const errors: string[] = [];
    a.on('error', (e) => errors.push(e.code));
    b.on('error', (e) => errors.push(e.code));
    await settleAll(node);
    await tick();
    assert.deepEqual(errors, ['already_subscribed', 'already_subscribed']);
    assert.deepEqual(table.wanted, []);
  });

  it('asks again after a pause when the node answers unavailable on a connection still up', async () => {
    const { node, table } = setup();
    node.unavailable = 2;
    const watch = table.acquire('t');
    const errors: string[] = [];
    let subscribed = false;
    watch.on('error', (e) => errors.push(e.code));
    watch.on('subscribed', () => (subscribed = true));
    // Refused twice (the pauses are 0.25-0.5 s, then 0.5-1 s), then held.
    for (let i = 0; i < 100 && !subscribed; i++) {
      await settleAll(node);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(subscribed, 'subscribed once the node could answer');
    assert.deepEqual(errors, []);
    assert.equal(watch.ended, false);
    assert.deepEqual([...node.held], ['t']);
    assert.equal(node.frames.subscribe, 3);
  });

  it('ends with the node holding exactly the topics still wanted, whatever the interleaving', async () => {
    const topics = ['a', 'b', 'c'];
    const step = fc.oneof(
      fc.record({ op: fc.constant('acquire' as const), topic: fc.constantFrom(...topics) }),
      fc.record({ op: fc.constant('release' as const), index: fc.nat() }),
      fc.record({ op: fc.constant('answer' as const), pick: fc.nat() }),
      fc.record({ op: fc.constant('turn' as const) }),
      fc.record({ op: fc.constant('drop' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const { node, table } = setup();
        const live: Subscription[] = [];
        for (const s of steps) {
          if (s.op === 'acquire') live.push(table.acquire(s.topic));
          else if (s.op === 'release' && live.length > 0) live.splice(s.index % live.length, 1)[0]!.unsubscribe();
          else if (s.op === 'answer') node.answer(s.pick);
          else if (s.op === 'turn') await tick();
          else if (s.op === 'drop') {
            // The connection drops and comes back: the node forgets everything.
            node.queue.length = 0;
            node.held.clear();
            table.disconnected();
            table.connected();
          }
        }
        await settleAll(node);
        const wanted = [...new Set(live.map((l) => l.topic))].sort();
        assert.deepEqual([...node.held].sort(), wanted);
        assert.deepEqual(table.wanted.sort(), wanted);
        assert.ok(
          live.every((l) => !l.ended),
          'no consumer was ended',
        );
      }),
      { numRuns: 300 },
    );
  });
});
