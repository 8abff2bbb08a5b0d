import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { jobTopic, type Scope } from '@inloop/protocol';
import { rawSession, readSse, startNode, startRedis, waitFor, type TestNode, type TestRedis } from '@inloop/testing';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis[Symbol.asyncDispose]();
});

const token = (i: number) => (i % 5 === 0 ? 'é🙂 ' : `t${i} `);

/** A raw WebSocket watcher applying the protocol's rule (keep `text.slice(have - from)`). */
async function watch(url: string, jwt: string, stream: Record<string, string>, from = 0) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws');
  const state = { text: '', have: from, end: null as null | { reason: string; length: number }, overlaps: 0 };
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'connect', token: jwt })));
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        const m = JSON.parse(line) as Record<string, any>;
        if (m.type === 'connected') {
          ws.send(JSON.stringify({ type: 'stream.subscribe', id: 1, stream, from }));
          resolve();
        } else if (m.type === 'stream.text' || m.type === 'stream.delta') {
          if (m.from !== state.have) state.overlaps++;
          if (m.from <= state.have && state.have < m.to) {
            state.text += m.text.slice(state.have - m.from);
            state.have = m.to;
          }
        } else if (m.type === 'stream.end') state.end = { reason: m.reason, length: m.length };
      }
    });
  });
  return { state, close: () => ws.terminate() };
}

async function cluster(n: number): Promise<TestNode[] & AsyncDisposable> {
  const prefix = `s${randomBytes(4).toString('hex')}`;
  const nodes: TestNode[] = [];
  for (let i = 0; i < n; i++)
    nodes.push(await startNode({ redis: redis.url, redisPrefix: prefix, jobTypes: ['answer'] }));
  return Object.assign(nodes, {
    async [Symbol.asyncDispose]() {
      for (const t of nodes) await t[Symbol.asyncDispose]();
    },
  });
}

describe('streams on two nodes sharing Redis', () => {
  it('give a watcher on the other node, early or late, the same text as the worker appended on either', async () => {
    await using nodes = await cluster(2);
    const a = nodes[0]!;
    const b = nodes[1]!;
    const created = await a.api('/v1/jobs', { body: { type: 'answer' } });
    const id = created.body.id as string;
    const stream = { job: id, name: 'answer' };
    const viewer = await a.token('viewer', [{ ops: ['job:read', 'job:cancel'], topics: [jobTopic(id)] }]);
    const early = await watch(b.url, viewer, stream);
    const lease = await a.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 2000, leaseMs: 60_000 } });
    let sent = '';
    let late: Awaited<ReturnType<typeof watch>> | null = null;
    for (let i = 0; i < 400; i++) {
      // A load balancer sends the worker's requests to either node.
      const node = i % 3 === 0 ? b : a;
      const r = await node.api(`/v1/jobs/${id}/streams/answer`, {
        body: { lease: lease.body.lease.token, append: token(i) },
      });
      assert.equal(r.status, 200);
      assert.equal(r.body.from, sent.length);
      sent += token(i);
      if (i === 200) late = await watch(a.url, viewer, stream);
    }
    await b.api(`/v1/jobs/${id}/complete`, { body: { lease: lease.body.lease.token, result: null } });
    await waitFor(() => early.state.end !== null && late!.state.end !== null, 10_000, 'both watchers to see the end');
    for (const w of [early, late!]) {
      assert.equal(w.state.text, sent);
      assert.deepEqual(w.state.end, { reason: 'finished', length: sent.length });
      assert.equal(w.state.overlaps, 0);
      w.close();
    }
    const sse = await fetch(`${b.url}/v1/jobs/${id}/streams/answer/events?from=0&token=${viewer}`);
    const events = await readSse(sse);
    assert.equal(events[0]!.data.text, sent);
    assert.equal(events.at(-1)!.event, 'stream.end');
  });

  it('end with their job when it ends through a node that never wrote to them', async () => {
    await using nodes = await cluster(2);
    const a = nodes[0]!;
    const b = nodes[1]!;
    for (const [end, reason] of [
      ['complete', 'finished'],
      ['fail', 'failed'],
    ] as const) {
      const created = await a.api('/v1/jobs', { body: { type: 'answer' } });
      const id = created.body.id as string;
      const lease = await a.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 2000, leaseMs: 60_000 } });
      assert.equal(lease.body.job.id, id);
      const held = lease.body.lease.token as string;
      // Every append goes through A; the job ends through B, which never saw its stream.
      const r = await a.api(`/v1/jobs/${id}/streams/answer`, { body: { lease: held, append: 'half an answer' } });
      assert.equal(r.status, 200);
      const body =
        end === 'complete'
          ? { lease: held, result: null }
          : { lease: held, error: { message: 'gave up' }, retryable: false };
      const done = await b.api(`/v1/jobs/${id}/${end}`, { body });
      assert.ok(done.status < 300, JSON.stringify(done.body));
      const read = await waitFor(
        async () => {
          const res = await b.api(`/v1/jobs/${id}/streams/answer`);
          return res.body.end ? res.body : null;
        },
        5000,
        `the stream to end ${reason}`,
      );
      assert.deepEqual([read.text, read.end], ['half an answer', reason]);
    }
  });

  it('lets a watcher on one node stop a worker whose lease was taken on the other', async () => {
    await using nodes = await cluster(2);
    const a = nodes[0]!;
    const b = nodes[1]!;
    const created = await a.api('/v1/jobs', { body: { type: 'answer' } });
    const id = created.body.id as string;
    const lease = await a.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 2000, leaseMs: 60_000 } });
    const append = (text: string) =>
      a.api(`/v1/jobs/${id}/streams/answer`, { body: { lease: lease.body.lease.token, append: text } });
    await append('So far ');
    const stop = await b.api(`/v1/jobs/${id}/streams/answer/stop`, { method: 'POST', token: created.body.token });
    assert.deepEqual([stop.status, stop.body.end, stop.body.length], [200, 'stopped', 7]);
    const refused = await append('and more');
    assert.equal(refused.body.code, 'stream_ended');
    const beat = await a.api(`/v1/jobs/${id}/heartbeat`, { body: { lease: lease.body.lease.token } });
    assert.equal(beat.body.cancelRequested, true);
    const read = await a.api(`/v1/jobs/${id}/streams/answer`);
    assert.deepEqual([read.body.text, read.body.end], ['So far ', 'stopped']);
  });

  it('keep a message stream its starter’s on both nodes: another member’s draft is refused', async () => {
    await using nodes = await cluster(2);
    const [a, b] = [nodes[0]!, nodes[1]!];
    await a.api('/v1/conversations', { body: { id: 'c1', members: ['ana', 'bot', 'mallory'] } });
    const draft = (t: TestNode, from: string, text: string) =>
      t.api('/v1/conversations/c1/drafts/r1', { body: { from, text } });
    assert.equal((await draft(a, 'bot', 'Hello')).status, 202);
    const forged = await draft(b, 'mallory', ' forged');
    assert.deepEqual([forged.status, forged.body.code], [403, 'forbidden']);
    assert.equal((await draft(b, 'bot', ', Ana')).status, 202);
    await b.api('/v1/conversations/c1/messages', { body: { from: 'mallory', text: 'hi', clientId: 'r1' } });
    const ana = await a.token('ana', [{ ops: ['subscribe'], topics: ['conv:c1'] }]);
    const read = await a.api('/v1/conversations/c1/streams/r1', { token: ana });
    assert.deepEqual([read.body.text, read.body.end], ['Hello, Ana', null]);
    await a.api('/v1/conversations/c1/messages', { body: { from: 'bot', text: 'Hello, Ana', clientId: 'r1' } });
    const sent = await b.api('/v1/conversations/c1/streams/r1', { token: ana });
    assert.deepEqual([sent.body.text, sent.body.end], ['Hello, Ana', 'finished']);
  });

  it('end a removed member’s watch of a message stream on the other node', async () => {
    await using nodes = await cluster(2);
    const [a, b] = [nodes[0]!, nodes[1]!];
    await a.api('/v1/conversations', { body: { id: 'c2', members: ['ana', 'bob', 'bot'] } });
    assert.equal((await a.api('/v1/conversations/c2/drafts/r1', { body: { from: 'bot', text: 'Hi' } })).status, 202);
    const scopes: Scope[] = [{ ops: ['subscribe'], topics: ['conv:c2'] }];
    const bob = await rawSession(b.url, await b.token('bob', scopes));
    const watched = await bob.request({
      type: 'stream.subscribe',
      id: 1,
      stream: { conversation: 'c2', message: 'r1' },
    });
    assert.equal(watched.text, 'Hi');
    assert.equal((await a.api('/v1/conversations/c2/members/bob', { method: 'DELETE' })).status, 204);
    const ended = await waitFor(
      () => bob.frames.find((f) => f.type === 'stream.unsubscribed'),
      5000,
      'the watch to end',
    );
    assert.deepEqual(ended, { type: 'stream.unsubscribed', stream: 'conv:c2/r1', code: 'forbidden' });
    bob.ws.terminate();
  });
});
