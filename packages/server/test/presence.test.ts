import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { PresenceMember } from '@inloop/protocol';
import type { PresenceStore } from '../src/ports/presence-store.js';
import { Presence, type PresenceWatcher } from '../src/domain/presence.js';
import { wsCodec } from '../src/session/codecs.js';
import { rawSession, startNode, tcpProxy, waitFor } from './helpers.js';

const scopes = [{ ops: ['subscribe', 'publish', 'presence', 'history'] as const, topics: ['room:*'] }].map((s) => ({
  ...s,
  ops: [...s.ops],
}));

function memoryStore(): PresenceStore & { seen: Map<string, number> } {
  const seen = new Map<string, number>();
  return {
    seen,
    left: (topic, member, _meta, at) => void seen.set(`${topic}/${member}`, at),
    lastSeen: () => Promise.resolve([]),
    sweep: () => Promise.resolve(false),
    close: () => Promise.resolve(),
  };
}

/** A watcher that decodes what it is sent. */
function recorder(): PresenceWatcher & { messages: any[] } {
  const messages: any[] = [];
  return {
    messages,
    closed: false,
    subject: null,
    codec: wsCodec,
    push: (chunk) => void messages.push(JSON.parse(chunk.toString())),
    presenceEnded: (topic, code) => void messages.push({ type: 'presence.ended', topic, code }),
  };
}

describe('presence', () => {
  it('two users with three connections: join, multi-tab, update, clean leave, crash gone within the TTL, last seen', async () => {
    await using t = await startNode({ presenceTtlMs: 1500, pingIntervalMs: 1000, presenceFlushMs: 20 });
    const proxy = await tcpProxy(t.node.port);
    const ana = await t.token('ana', scopes);
    const bob = await t.token('bob', scopes);
    const anaTab1 = t.client(ana);
    const anaPhone = t.client(ana, { url: proxy.url });
    const bobTab = t.client(bob);

    const bobView = bobTab.presence('room:1', { meta: { name: 'Bob' } });
    const joins: string[] = [];
    const leaves: [string, number][] = [];
    bobView.on('join', (m) => joins.push(m.id));
    bobView.on('leave', (m, lastSeen) => leaves.push([m.id, lastSeen]));
    await waitFor(() => bobView.members.has('bob'), 5000, 'bob to see himself');

    anaTab1.presence('room:1', { meta: { name: 'Ana', status: 'online' }, device: 'web' });
    await waitFor(() => bobView.members.get('ana')?.connections === 1, 5000, 'ana to join');
    const anaOnPhone = anaPhone.presence('room:1', { device: 'phone' });
    await waitFor(() => bobView.members.get('ana')?.connections === 2, 5000, 'ana on a second device');
    const anaSeen = bobView.members.get('ana')!;
    assert.deepEqual([...anaSeen.devices].sort(), ['phone', 'web']);
    assert.deepEqual(anaSeen.meta, { name: 'Ana', status: 'online' }, 'a second tab keeps the metadata');
    assert.deepEqual(bobView.occupancy, { members: 2, connections: 3 });
    assert.equal(joins.filter((j) => j === 'ana').length, 1, 'two tabs are one member: one join');

    await anaOnPhone.update({ name: 'Ana', status: 'away' });
    await waitFor(() => (bobView.members.get('ana')?.meta as { status?: string }).status === 'away', 5000, 'update');

    // A clean close of one tab: still present through the other.
    await anaTab1.close();
    await waitFor(() => bobView.members.get('ana')?.connections === 1, 5000, 'tab closed');
    assert.equal(leaves.length, 0, 'one tab closing is not a leave');

    // The phone goes silent without a close: gone once the TTL passes, not before the ping catches it.
    assert.equal(proxy.freezeAll(), 1);
    const frozenAt = Date.now();
    await waitFor(() => !bobView.members.has('ana'), 1500 + 2000, 'the silent member to be swept');
    assert.equal(leaves.length, 1);
    assert.equal(leaves[0]![0], 'ana');
    assert.ok(leaves[0]![1] >= frozenAt, 'last seen is when the TTL ran out');
    assert.deepEqual(bobView.occupancy, { members: 1, connections: 1 });

    const http = await t.api('/v1/topics/room:1/presence');
    assert.equal(http.status, 200);
    assert.deepEqual(
      http.body.members.map((m: PresenceMember) => m.id),
      ['bob'],
    );
    assert.deepEqual(http.body.occupancy, { members: 1, connections: 1 });
    const recent = http.body.recent.find((r: { id: string }) => r.id === 'ana');
    assert.ok(recent, 'ana is listed as recently seen');
    assert.deepEqual(recent.meta, { name: 'Ana', status: 'away' });
    await proxy.close();
  });

  it('rejoins after a reconnect and reports exactly the joins and leaves missed meanwhile', async () => {
    await using t = await startNode({ presenceFlushMs: 0 });
    const proxy = await tcpProxy(t.node.port);
    const bob = t.client(await t.token('bob', scopes), { url: proxy.url });
    const view = bob.presence('room:9');
    const events: string[] = [];
    view.on('join', (m) => events.push(`join ${m.id}`));
    view.on('leave', (m) => events.push(`leave ${m.id}`));
    const ana = t.client(await t.token('ana', scopes));
    const anaHere = ana.presence('room:9');
    await waitFor(() => view.members.has('ana') && view.members.has('bob'), 5000, 'both present');

    // Bob's network goes down; the node sees the close and bob leaves. Meanwhile ana leaves and
    // cid joins. (Down, not just dropped: the client retries at once, through a proxy that would
    // let it straight back in.)
    proxy.cut();
    await waitFor(() => !anaHere.members.has('bob'), 5000, 'bob gone for ana');
    await anaHere.leave();
    const cid = t.client(await t.token('cid', scopes));
    cid.presence('room:9');
    await waitFor(() => cid.presence('room:9').members.has('cid'), 5000, 'cid present');
    proxy.restore();
    await waitFor(() => view.members.has('cid') && view.members.has('bob'), 5000, 'bob back, seeing cid');
    assert.ok(!view.members.has('ana'));
    assert.deepEqual(events.slice(-2).sort(), ['join cid', 'leave ana']);
    await proxy.close();
  });

  it('keeps last-seen times across a restart', async () => {
    let dataDir: string;
    {
      await using t = await startNode({ presenceFlushMs: 0 });
      dataDir = t.dataDir;
      const carol = t.client(await t.token('carol', scopes));
      const view = carol.presence('room:2', { meta: { name: 'Carol' } });
      await waitFor(() => view.members.has('carol'));
      await carol.close();
      await waitFor(async () => (await t.api('/v1/topics/room:2/presence')).body.recent.length === 1);
      await t.node.close();
      await using again = await startNode({ dataDir, presenceFlushMs: 0 });
      const after = await again.api('/v1/topics/room:2/presence');
      assert.deepEqual(
        after.body.recent.map((r: { id: string; meta: unknown }) => [r.id, r.meta]),
        [['carol', { name: 'Carol' }]],
      );
      assert.equal(after.body.members.length, 0);
    }
  });

  it('lets bots be present over HTTP with their own TTL, and only as themselves', async () => {
    await using t = await startNode({ presenceFlushMs: 0 });
    const put = await t.api('/v1/topics/room:3/presence/bot:eliza', {
      method: 'PUT',
      body: { meta: { name: 'Eliza', bot: true }, ttlMs: 60_000 },
    });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body.occupancy, { members: 1, connections: 1 });
    const ana = await t.token('ana', scopes);
    const forged = await t.api('/v1/topics/room:3/presence/bob', { method: 'PUT', body: {}, token: ana });
    assert.equal(forged.status, 403);
    assert.equal(forged.body.code, 'member_mismatch');
    const big = await t.api('/v1/topics/room:3/presence/ana', {
      method: 'PUT',
      body: { meta: { bio: 'x'.repeat(2000) } },
      token: ana,
    });
    assert.equal(big.status, 413);
    assert.equal(big.body.code, 'meta_too_large');
    const noScope = await t.token('dan', [{ ops: ['subscribe'], topics: ['room:*'] }]);
    assert.equal((await t.api('/v1/topics/room:3/presence', { token: noScope })).body.code, 'forbidden');
    assert.equal((await t.api('/v1/topics/room:3/presence/bot:eliza', { method: 'DELETE' })).status, 204);
    assert.equal((await t.api('/v1/topics/room:3/presence')).body.occupancy.members, 0);
  });

  it('refuses bad presence input over WebSocket with clear codes and keeps the connection', async () => {
    await using t = await startNode();
    const s = await rawSession(t.url, await t.token('ana', scopes));
    const big = await s.request({ type: 'presence.join', id: 1, topic: 'room:1', meta: { x: 'y'.repeat(1100) } });
    assert.equal(big.code, 'meta_too_large');
    const other = await s.request({ type: 'presence.join', id: 2, topic: 'lobby' });
    assert.equal(other.code, 'forbidden');
    const notJoined = await s.request({ type: 'presence.update', id: 3, topic: 'room:1', meta: {} });
    assert.equal(notJoined.code, 'not_found');
    // There is no member field to forge: extra fields are ignored and the subject is used.
    const joined = await s.request({ type: 'presence.join', id: 4, topic: 'room:1', member: 'bob' });
    assert.equal(joined.type, 'presence.state');
    assert.deepEqual(
      joined.members.map((m: PresenceMember) => m.id),
      ['ana'],
    );
  });

  it('coalesces a thousand joins: messages grow like N, not N squared', async () => {
    await using t = await startNode({ presenceFlushMs: 100 });
    // Many connections of distinct members: one token per member.
    const n = 200;
    const sessions = await Promise.all(
      Array.from({ length: n }, async (_, i) => rawSession(t.url, await t.token(`m${i}`, scopes))),
    );
    await Promise.all(
      sessions.map((s, i) => s.request({ type: 'presence.join', id: 1, topic: 'room:big', meta: { i } })),
    );
    const last = sessions[0]!;
    await waitFor(
      () => last.frames.filter((f) => f.type === 'presence.diff').at(-1)?.occupancy.members === n,
      10_000,
      'everyone to be seen',
    );
    const diffs = sessions.reduce((sum, s) => sum + s.frames.filter((f) => f.type === 'presence.diff').length, 0);
    assert.ok(diffs < (n * n) / 4, `${diffs} diff messages for ${n} joins (naive: ${(n * (n - 1)) / 2})`);
    for (const s of sessions) s.ws.close();
  });

  describe('domain, with fake timers', () => {
    it('sweeps a silent connection after the TTL, keeps a touched one, and records when it was last seen', () => {
      mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 });
      try {
        const store = memoryStore();
        const presence = new Presence({ store, ttlMs: 30_000, flushMs: 100 });
        const watcher = recorder();
        presence.watch('room', watcher);
        presence.join('room', 'ana', 'c1', { meta: { name: 'Ana' } });
        presence.join('room', 'bob', 'c2');
        mock.timers.tick(20_000);
        presence.touch('c1');
        mock.timers.tick(15_000);
        assert.deepEqual(
          presence.state('room').members.map((m) => m.id),
          ['ana'],
          'bob was silent for 35 s; ana was touched 15 s ago',
        );
        const bobSeen = store.seen.get('room/bob')!;
        assert.ok(bobSeen > 1_030_000 && bobSeen <= 1_035_000, `last seen ${bobSeen}: after the TTL ran out`);
        mock.timers.tick(31_000);
        assert.equal(presence.state('room').members.length, 0);
        const leaves = watcher.messages.flatMap((m) => m.leaves.map((l: { id: string }) => l.id));
        assert.deepEqual(leaves, ['bob', 'ana']);
        presence.close();
      } finally {
        mock.timers.reset();
      }
    });

    it('sends one diff per flush interval however many join, and reports a join-then-leave as a leave', () => {
      mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 5_000_000 });
      try {
        const presence = new Presence({ store: memoryStore(), ttlMs: 30_000, flushMs: 100 });
        const watcher = recorder();
        presence.watch('room', watcher);
        for (let i = 0; i < 1000; i++) {
          presence.join('room', `m${i}`, `c${i}`);
          mock.timers.tick(1);
        }
        mock.timers.tick(200);
        assert.ok(watcher.messages.length <= 12, `${watcher.messages.length} diffs for 1000 joins over 1 s`);
        const joined = new Set(watcher.messages.flatMap((m) => m.joins.map((j: PresenceMember) => j.id)));
        assert.equal(joined.size, 1000, 'every join is reported');
        assert.equal(watcher.messages.at(-1).occupancy.members, 1000);

        const before = watcher.messages.length;
        presence.join('room', 'flash', 'cx');
        presence.leave('room', 'cx');
        mock.timers.tick(200);
        const last = watcher.messages.slice(before);
        assert.deepEqual(
          last.flatMap((m) => m.leaves.map((l: { id: string }) => l.id)),
          ['flash'],
        );
        assert.deepEqual(
          last.flatMap((m) => m.joins),
          [],
        );
        presence.close();
      } finally {
        mock.timers.reset();
      }
    });
  });
});
