import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import {
  backoffDelay,
  createClient,
  RetrySchedule,
  type ConnectionState,
  type NetworkEvent,
  type NetworkSignals,
  type StateChange,
  type WebSocketLike,
} from '@inloop/client';

/** A WebSocket the test drives: it opens when told, answers `connect` when the node is "up". */
class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  static nodeUp = true;
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
    // The network answers on the next turn: refused while the node is down, else open.
    setTimeout(() => (FakeSocket.nodeUp ? this.open() : this.drop()), 0);
  }
  open(): void {
    if (this.closed) return;
    this.readyState = 1;
    this.onopen?.({});
  }
  send(data: string): void {
    const frame = JSON.parse(data) as { type: string };
    if (frame.type !== 'connect') return;
    const connected = { type: 'connected', session: 's', node: 'n', version: 1, subject: 'ana', expiresAt: 0 };
    setTimeout(() => !this.closed && this.onmessage?.({ data: JSON.stringify(connected) }), 0);
  }
  /** The network cut the socket: 1006, no close frame. */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
}

class FakeNetwork implements NetworkSignals {
  up = true;
  #fns = new Set<(e: NetworkEvent) => void>();
  online(): boolean {
    return this.up;
  }
  listen(fn: (e: NetworkEvent) => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }
  fire(e: NetworkEvent): void {
    if (e === 'online') this.up = true;
    if (e === 'offline') this.up = false;
    for (const fn of this.#fns) fn(e);
  }
}

describe('backoff', () => {
  it('makes the first attempt at once, then jitters short waits while the outage is young', () => {
    assert.equal(backoffDelay(0, {}, 0), 0);
    for (let attempt = 1; attempt < 40; attempt++) {
      const samples = Array.from({ length: 200 }, () => backoffDelay(attempt, {}, 9_000));
      assert.ok(
        samples.every((d) => d >= 250 && d <= 750),
        `attempt ${attempt}`,
      );
      assert.ok(new Set(samples.map(Math.round)).size > 50, 'jittered');
    }
  });

  it('waits at most a quarter of an older outage, up to maxMs, never less than minMs', () => {
    const opts = { minMs: 100, maxMs: 5000, youngOutageMs: 2000 };
    for (const outage of [2000, 4000, 8000, 20_000, 60_000, 600_000]) {
      const ceiling = Math.min(5000, Math.max(300, outage / 4));
      const samples = Array.from({ length: 200 }, () => backoffDelay(5, opts, outage));
      assert.ok(
        samples.every((d) => d >= 100 && d <= ceiling),
        `outage ${outage}`,
      );
      assert.ok(Math.max(...samples) > ceiling * 0.8, 'uses the range');
    }
  });

  it('skips the free attempt for a close the node chose, and restarts short after online', () => {
    let now = 0;
    const schedule = new RetrySchedule({}, () => now);
    assert.ok(schedule.next(false) >= 250, 'a node close waits');
    schedule.reset();
    assert.equal(schedule.next(), 0, 'a network close does not');
    now = 60_000;
    assert.ok(schedule.next() >= 250);
    schedule.restart();
    now = 60_100;
    assert.equal(schedule.attempt, 1);
    assert.ok(schedule.next() <= 10_000);
    schedule.reset();
    assert.equal(schedule.outageMs, 0);
  });
});

describe('the connection state machine', () => {
  let net: FakeNetwork;
  let changes: StateChange[];
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    FakeSocket.all = [];
    FakeSocket.nodeUp = true;
    net = new FakeNetwork();
    changes = [];
  });
  afterEach(() => mock.timers.reset());

  const client = () => {
    const c = createClient({ url: 'http://node', token: 't', WebSocket: FakeSocket, network: net });
    c.on('state', (s) => changes.push(s));
    return c;
  };
  const tick = async (ms: number) => {
    // Small steps, with the promise jobs between them (the client awaits its token).
    for (let t = 0; t < ms; t += 10) {
      mock.timers.tick(10);
      await new Promise((r) => setImmediate(r));
    }
  };
  const states = () => changes.map((c) => c.to).filter((s, i, a) => s !== a[i - 1]);

  it('goes connecting -> connected, then reconnecting -> connected after a cut, retrying at once', async () => {
    const c = client();
    void c.connect();
    await tick(20);
    assert.equal(c.state, 'connected');
    FakeSocket.all.at(-1)!.drop();
    assert.equal(c.state, 'reconnecting');
    assert.equal(changes.at(-1)!.retryInMs, 0, 'the first retry waits nothing');
    assert.equal(changes.at(-1)!.reason.code, 'transport_closed');
    await tick(20);
    assert.equal(c.state, 'connected');
    assert.deepEqual(states(), ['connecting', 'connected', 'reconnecting', 'connected']);
    await c.close();
  });

  it('keeps trying every 250-750 ms through a young outage, so a 5 s cut ends within a second', async () => {
    const c = client();
    void c.connect();
    await tick(20);
    FakeSocket.nodeUp = false;
    FakeSocket.all.at(-1)!.drop();
    await tick(5000);
    const attempts = FakeSocket.all.length - 1;
    assert.ok(attempts >= 7 && attempts <= 21, `${attempts} attempts in 5 s`);
    assert.equal(c.state, 'reconnecting');
    FakeSocket.nodeUp = true;
    let waited = 0;
    while ((c.state as ConnectionState) !== 'connected' && waited < 5000) {
      await tick(10);
      waited += 10;
    }
    assert.equal(c.state, 'connected');
    assert.ok(waited <= 800, `back ${waited} ms after the network returned`);
    await c.close();
  });

  it('reconnects at once on online, whatever the schedule says, and shows offline meanwhile', async () => {
    const c = client();
    void c.connect();
    await tick(20);
    FakeSocket.nodeUp = false;
    net.fire('offline');
    assert.equal(c.state, 'connected', 'a socket that still works is kept');
    FakeSocket.all.at(-1)!.drop();
    assert.equal(c.state, 'offline');
    assert.equal(changes.at(-1)!.retryInMs, 10_000, 'offline: attempts slow down');
    await tick(3000);
    const before = FakeSocket.all.length;
    FakeSocket.nodeUp = true;
    net.fire('online');
    assert.equal(c.state, 'reconnecting');
    assert.equal(changes.at(-1)!.reason.code, 'network_online');
    await tick(20);
    assert.equal(c.state, 'connected');
    assert.equal(FakeSocket.all.length, before + 1, 'one attempt, at once');
    await c.close();
  });

  it('tries at once when the page is shown again', async () => {
    const c = client();
    void c.connect();
    await tick(20);
    FakeSocket.nodeUp = false;
    FakeSocket.all.at(-1)!.drop();
    await tick(30_000);
    assert.equal(c.state, 'reconnecting');
    FakeSocket.nodeUp = true;
    const before = FakeSocket.all.length;
    // Let any attempt in flight fail first: the page shown again does not abandon one.
    await tick(10);
    net.fire('visible');
    await tick(20);
    assert.equal(c.state, 'connected');
    assert.ok(FakeSocket.all.length <= before + 2);
    await c.close();
  });

  it('abandons an attempt that hangs (a black-holed network) and makes another', async () => {
    const c = client();
    void c.connect();
    await tick(20);
    FakeSocket.all.at(-1)!.drop();
    // The next attempt's socket never opens.
    const hang = FakeSocket.all.length;
    const open = FakeSocket.prototype.open;
    FakeSocket.prototype.open = function (this: FakeSocket) {
      if (FakeSocket.all.indexOf(this) !== hang) open.call(this);
    };
    try {
      await tick(6000);
    } finally {
      FakeSocket.prototype.open = open;
    }
    assert.equal(c.state, 'connected');
    assert.ok(
      changes.some((s) => s.reason.code === 'connect_timeout'),
      'the hung attempt was given up',
    );
    await c.close();
  });

  it('stops for good on close(): closed, and no more attempts', async () => {
    const c = client();
    void c.connect();
    await tick(20);
    await c.close();
    const n = FakeSocket.all.length;
    net.fire('online');
    await tick(2000);
    assert.equal(FakeSocket.all.length, n);
    assert.equal(c.state, 'closed');
  });
});
