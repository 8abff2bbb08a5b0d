import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InloopClient, StreamWatch } from '@inloop/client';
import type { Scope } from '@inloop/protocol';
import { sleep, startNode, tcpProxy, testClient, waitFor, type TestNode } from '@inloop/testing';
import WebSocket from 'ws';

/**
 * Streams through the client SDK against a real node (SQLite in a temp dir): a job's handler
 * appends, watchers join late, lose their connection (a TCP proxy cuts it) and resume from the
 * offset they hold, and a second client stops the generation.
 */
const everything: Scope[] = [
  { ops: ['subscribe', 'publish', 'history', 'presence'], topics: ['conv:*'] },
  { ops: ['job:create'], topics: ['*'] },
];

/** The text the `tokens` handler writes: 2,000 appends, some with characters outside the BMP. */
const TOKENS = Array.from({ length: 2000 }, (_, i) => (i % 97 === 0 ? `🦉${i} ` : `w${i} `));
const FULL = TOKENS.join('');

let t: TestNode;
/** Released by the test to let the `gated` job go on. */
const gates = new Map<string, () => void>();
const stopped = new Map<string, boolean>();

before(async () => {
  t = await startNode();
  t.node.jobs.handle('tokens', async (_job, ctx) => {
    const answer = ctx.stream('answer');
    for (let i = 0; i < TOKENS.length; i++) {
      answer.append(TOKENS[i]!).catch(() => {});
      // A pause every 20 appends: watchers join and reconnect while it is written.
      if (i % 20 === 19) await sleep(2);
    }
    return { appended: TOKENS.length };
  });
  t.node.jobs.handle('gated', async (job, ctx) => {
    const answer = ctx.stream('answer');
    await answer.append('Once upon a time');
    await new Promise<void>((resolve) => {
      gates.set(job.id, resolve);
      ctx.signal.addEventListener('abort', () => resolve());
    });
    stopped.set(job.id, ctx.signal.aborted);
    if (ctx.signal.aborted) return null;
    await answer.append(', the end.');
    return { ok: true };
  });
});

after(async () => {
  await t?.[Symbol.asyncDispose]();
});

async function startJob(type: string): Promise<{ id: string; token: string }> {
  const created = await t.api('/v1/jobs', { body: { type, input: null } });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  return { id: created.body.id, token: created.body.token };
}

/** Everything an iterator yields, joined, and the final text. */
async function drain(stream: StreamWatch): Promise<{ deltas: string; text: string; steps: number }> {
  let deltas = '';
  let text = '';
  let steps = 0;
  for await (const chunk of stream) {
    assert.ok(!chunk.reset, 'no reset expected');
    deltas += chunk.delta;
    text = chunk.text;
    assert.equal(deltas, text, 'the deltas add up to the text at every step');
    steps++;
  }
  return { deltas, text, steps };
}

describe('client streams', () => {
  it('gives late joiners and reconnecting watchers the exact text of a 2,000-append stream', async () => {
    const proxy = await tcpProxy(Number(new URL(t.url).port));
    const clients: InloopClient[] = [];
    try {
      const job = await startJob('tokens');
      const watches: Promise<{ deltas: string; text: string }>[] = [];
      // Joins at several points of the text (the first before anything is written).
      for (const at of [0, 500, 4000, 9000]) {
        if (at > 0) {
          const probe = await t.api(`/v1/jobs/${job.id}/streams/answer?from=0`);
          if (probe.status === 200 && probe.body.end) break;
          await waitFor(
            async () => {
              const r = await t.api(`/v1/jobs/${job.id}/streams/answer?from=0`);
              return r.status === 200 && (r.body.length >= at || r.body.end !== null);
            },
            20_000,
            `the stream to reach ${at}`,
          );
        }
        const client = testClient(proxy.url, await t.token(`w${at}`, everything));
        clients.push(client);
        const watch = await client.watchJob(job.id, { token: job.token });
        watches.push(drain(watch.stream('answer')));
      }
      // Cut every connection a few times while the text is written; each watcher resumes from
      // the offset it holds.
      let dropped = 0;
      for (let cut = 0; cut < 5; cut++) {
        await sleep(5 + Math.floor(Math.random() * 40));
        dropped += proxy.dropAll();
      }
      assert.ok(dropped > 0, 'connections were cut');
      const results = await Promise.all(watches);
      for (const r of results) {
        assert.equal(r.text.length, FULL.length);
        assert.equal(r.text, FULL);
        assert.equal(r.deltas, FULL);
      }
    } finally {
      for (const c of clients) await c.close();
      await proxy.close();
    }
  });

  it('joins an ended stream: the whole text in one step, and `finished`', async () => {
    const job = await startJob('gated');
    await waitFor(() => gates.has(job.id), 10_000, 'the gated job to start');
    gates.get(job.id)!();
    await waitFor(async () => (await t.api(`/v1/jobs/${job.id}`)).body.status === 'succeeded', 10_000, 'the job');
    await using client = testClient(t.url, await t.token('late', everything));
    const watch = await client.watchJob(job.id, { token: job.token });
    const stream = watch.stream('answer');
    const { text, steps } = await drain(stream);
    assert.equal(text, 'Once upon a time, the end.');
    assert.equal(steps, 1);
    assert.equal(stream.end, 'finished');
    assert.deepEqual(await stream.done, { text, reason: 'finished' });
  });

  it('keeps generating when every watcher has gone', async () => {
    const job = await startJob('gated');
    {
      await using client = testClient(t.url, await t.token('gone', everything));
      const watch = await client.watchJob(job.id, { token: job.token });
      const stream = watch.stream('answer');
      await waitFor(() => stream.text === 'Once upon a time', 10_000, 'the first text');
      stream.close();
      watch.close();
    }
    await waitFor(() => gates.has(job.id), 10_000, 'the gate');
    gates.get(job.id)!();
    await waitFor(async () => (await t.api(`/v1/jobs/${job.id}`)).body.status === 'succeeded', 10_000, 'the job');
    assert.equal(stopped.get(job.id), false);
    const read = await t.api(`/v1/jobs/${job.id}/streams/answer?from=0`);
    assert.equal(read.body.text, 'Once upon a time, the end.');
    assert.equal(read.body.end, 'finished');
  });

  it('stops from a second client after the first went away: the stream ends `stopped` and the handler hears it', async () => {
    const job = await startJob('gated');
    // The first tab watches, then is closed (a reload).
    {
      await using first = testClient(t.url, await t.token('tab1', everything));
      const stream = (await first.watchJob(job.id, { token: job.token })).stream('answer');
      await waitFor(() => stream.text.length > 0, 10_000, 'text in the first tab');
    }
    // After the reload, a watcher; a second tab stops it.
    await using reloaded = testClient(t.url, await t.token('tab1', everything));
    const stream = (await reloaded.watchJob(job.id, { token: job.token })).stream('answer');
    await waitFor(() => stream.text === 'Once upon a time', 10_000, 'the text after the reload');
    await using second = testClient(t.url, await t.token('tab2', everything));
    const other = (await second.watchJob(job.id, { token: job.token })).stream('answer');
    await other.stop();
    assert.deepEqual(await stream.done, { text: 'Once upon a time', reason: 'stopped' });
    await waitFor(() => stopped.get(job.id) === true, 10_000, 'the handler to see the stop');
    await waitFor(async () => (await t.api(`/v1/jobs/${job.id}`)).body.status === 'cancelled', 10_000, 'cancelled');
  });

  it('shares one node watch per stream, asks from just before what a page kept, and closes a watch left by `break`', async () => {
    const job = await startJob('gated');
    const sent: { type: string; from?: number }[] = [];
    /** A WebSocket that records the client's frames. */
    class Recording extends WebSocket {
      override send(data: any, ...rest: any[]): void {
        sent.push(JSON.parse(String(data)));
        (super.send as (...a: any[]) => void)(data, ...rest);
      }
    }
    await using client = testClient(t.url, await t.token('pat', everything), { WebSocket: Recording as never });
    const ref = { job: job.id, name: 'answer' };
    const one = client.watchStream(ref, { token: job.token });
    const two = client.watchStream(ref, { token: job.token });
    await waitFor(() => one.text === 'Once upon a time' && two.text === one.text, 10_000, 'the text in both');
    assert.equal(sent.filter((f) => f.type === 'stream.subscribe').length, 1, 'one watch on the node');

    // Another page kept 'Once upon' across a reload: it asks from up to 64 characters before the
    // end of what it kept (to check they are still the node's) and shows the whole text.
    await using other = testClient(t.url, await t.token('pat', everything), { WebSocket: Recording as never });
    const kept = other.watchStream(ref, { token: job.token, text: 'Once upon' });
    let resets = 0;
    kept.on('reset', () => resets++);
    await waitFor(() => kept.text === 'Once upon a time', 10_000, 'the rest after what the page had');
    assert.equal(resets, 0, 'what the page kept matched');

    // A page whose text is no longer the node's where they overlap (the node lost the end of it in
    // a crash, and the writer went on from the shorter text): it reads the stream again, whole.
    await using third = testClient(t.url, await t.token('pat', everything), { WebSocket: Recording as never });
    const stale = third.watchStream(ref, { token: job.token, text: 'Once upon a tame, lost' });
    let replaced = 0;
    stale.on('reset', () => replaced++);
    await waitFor(() => stale.text === 'Once upon a time', 10_000, "the node's text instead of the stale one");
    assert.equal(replaced, 1, 'told once that its text was replaced');
    assert.deepEqual(
      sent.filter((f) => f.type === 'stream.subscribe').map((f) => f.from),
      [0, 0, 0, 0],
      'every watch asked from 64 characters before what it held (here, the start), the stale one twice',
    );

    // Leaving the loop closes that watch; the other watch of the stream stays.
    for await (const step of one) {
      assert.equal(step.text, 'Once upon a time');
      break;
    }
    await assert.rejects(one.done, { code: 'unavailable' });
    await waitFor(() => gates.has(job.id), 10_000, 'the gate');
    gates.get(job.id)!();
    assert.deepEqual(await two.done, { text: 'Once upon a time, the end.', reason: 'finished' });
    assert.equal(
      sent.filter((f) => f.type === 'stream.unsubscribe').length,
      1,
      'the shared watch was kept (the one unsubscribe is the stale page reading again)',
    );
  });

  it('watches a conversation message as it is drafted, and ends it `finished` when it is sent', async () => {
    const created = await t.api('/v1/conversations', { body: { id: 'streams-1', members: ['ann', 'bot'] } });
    assert.ok(created.status < 300, JSON.stringify(created.body));
    await using bot = testClient(t.url, await t.token('bot', everything));
    await using ann = testClient(t.url, await t.token('ann', everything));
    const chat = bot.conversation('streams-1');
    await chat.ready();
    const reply = chat.stream('reply-1');
    await reply.append('Hello');
    const watch = ann.watchStream({ conversation: 'streams-1', message: 'reply-1' });
    await waitFor(() => watch.text === 'Hello', 10_000, 'the draft so far');
    await reply.append(', Ann');
    await reply.end();
    assert.deepEqual(await watch.done, { text: 'Hello, Ann', reason: 'finished' });
  });
});
