import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inloopChatTransport, type ChatChunk, type ChatJobStore } from '@inloop/client/ai-sdk';
import type { Scope } from '@inloop/protocol';
import { startNode, testClient, waitFor, type TestNode } from '@inloop/testing';

/**
 * The AI SDK chat transport against a real node: `sendMessages` starts a job and streams its
 * answer as `UIMessageChunk`s; a second client (a reloaded page) resumes it with
 * `reconnectToStream`; aborting the request (the chat's `stop()`) stops the generation.
 * The chunks are what `useChat` reads (`ai` itself is not installed: version 7 asks for Node 22).
 */
const scopes: Scope[] = [{ ops: ['job:create'], topics: ['chat.answer'] }];

let t: TestNode;
/** Per job: let the handler write its next word. */
const gates = new Map<string, () => void>();
const aborted = new Map<string, boolean>();

/** The answer: the last user message's words, back, one word per gate. */
const answerTo = (text: string) => `You said: ${text}. Tell me more.`;

before(async () => {
  t = await startNode();
  t.node.jobs.handle('chat.answer', async (job, ctx) => {
    const { messages } = job.input as { messages: { role: string; parts: { type: string; text: string }[] }[] };
    const last = messages.at(-1)!.parts.find((p) => p.type === 'text')!.text;
    const answer = ctx.stream('answer');
    const words = answerTo(last).match(/\s*\S+/g)!;
    for (const word of words) {
      await new Promise<void>((resolve) => {
        gates.set(job.id, resolve);
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      if (ctx.signal.aborted) break;
      await answer.append(word);
    }
    aborted.set(job.id, ctx.signal.aborted);
    return ctx.signal.aborted ? null : { words: words.length };
  });
});

after(async () => {
  await t?.[Symbol.asyncDispose]();
});

function memoryStore(): ChatJobStore & { map: Map<string, { job: string; token: string }> } {
  const map = new Map<string, { job: string; token: string }>();
  return {
    map,
    get: (id) => map.get(id) ?? null,
    set: (id, v) => void map.set(id, v),
    delete: (id) => void map.delete(id),
  };
}

const ask = (text: string) => [{ id: 'u1', role: 'user', parts: [{ type: 'text', text }] }];

/** Read chunks until `until` says stop (or the stream ends); the reader is released. */
async function read(stream: ReadableStream<ChatChunk>, until: (c: ChatChunk[]) => boolean = () => false) {
  const reader = stream.getReader();
  const out: ChatChunk[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out.push(value);
    if (until(out)) break;
  }
  reader.releaseLock();
  return out;
}

const text = (chunks: ChatChunk[]) => chunks.map((c) => (c.type === 'text-delta' ? c.delta : '')).join('');

/** Let the handler write `n` more words. */
async function release(job: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await waitFor(() => gates.has(job), 10_000, 'the handler to wait');
    const go = gates.get(job)!;
    gates.delete(job);
    go();
  }
}

describe('the AI SDK chat transport', () => {
  it('streams an answer, and a reloaded page resumes it with the whole text', async () => {
    const store = memoryStore();
    const first = testClient(t.url, await t.token('ana', scopes));
    const transport = inloopChatTransport({ client: first, jobType: 'chat.answer', store });
    const stream = await transport.sendMessages({
      trigger: 'submit-message',
      chatId: 'chat-1',
      messageId: undefined,
      messages: ask('I lost my glasses'),
      abortSignal: new AbortController().signal,
    });
    const job = store.map.get('chat-1')!.job;
    await release(job, 3);
    const before = await read(stream, (c) => text(c) === 'You said: I');
    assert.deepEqual(
      before.slice(0, 2).map((c) => c.type),
      ['start', 'text-start'],
    );
    // The page goes away (no abort): the answer carries on.
    await first.close();
    await release(job, 2);

    const second = testClient(t.url, await t.token('ana', scopes));
    const again = inloopChatTransport({ client: second, jobType: 'chat.answer', store });
    assert.equal(again.resumeStreamIsReplay, true);
    const resumed = await again.reconnectToStream({ chatId: 'chat-1' });
    assert.ok(resumed);
    const words = answerTo('I lost my glasses').match(/\s*\S+/g)!.length;
    void release(job, words - 5);
    const chunks = await read(resumed);
    assert.deepEqual(
      chunks.map((c) => c.type).filter((type) => type !== 'text-delta'),
      ['start', 'text-start', 'text-end', 'finish'],
    );
    assert.equal(text(chunks), answerTo('I lost my glasses'), 'a replay from the start, each character once');
    assert.equal(store.map.has('chat-1'), false, 'nothing left to resume');
    assert.equal(await again.reconnectToStream({ chatId: 'chat-1' }), null);
    await second.close();
  });

  it("stops the generation when the chat's request is aborted, and says `abort`", async () => {
    const store = memoryStore();
    await using client = testClient(t.url, await t.token('bob', scopes));
    const transport = inloopChatTransport({ client, jobType: 'chat.answer', store });
    const controller = new AbortController();
    const stream = await transport.sendMessages({
      trigger: 'submit-message',
      chatId: 'chat-2',
      messageId: undefined,
      messages: ask('Hello'),
      abortSignal: controller.signal,
    });
    const job = store.map.get('chat-2')!.job;
    await release(job, 2);
    const reader = stream.getReader();
    let seen = '';
    while (seen !== 'You said:') {
      const { value } = await reader.read();
      if (value?.type === 'text-delta') seen += value.delta;
    }
    controller.abort();
    const rest: ChatChunk[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    assert.deepEqual(rest.at(-1), { type: 'abort', reason: 'stopped' });
    await waitFor(() => aborted.get(job) === true, 10_000, 'the handler to hear the stop');
    await waitFor(async () => (await t.api(`/v1/jobs/${job}`)).body.status === 'cancelled', 10_000, 'cancelled');
  });
});
