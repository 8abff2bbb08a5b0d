import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { createWorker } from '@inloop/worker';
import { jobTopic, type StreamRef } from '@inloop/protocol';
import { createNode } from '@inloop/server';
import { readSse, sleep, startNode, tempDir, waitFor, type TestNode } from './helpers.js';

/** Token i of the test generator: words, with a surrogate pair now and then (offsets are UTF-16). */
const token = (i: number) => (i % 7 === 0 ? '🙂 ' : `w${i} `);
const textOf = (n: number) => Array.from({ length: n }, (_, i) => token(i)).join('');

/** A WebSocket watcher that applies the protocol's rule and checks the node never overlaps or skips. */
class Watcher {
  text = '';
  have = 0;
  end: { reason: string; length: number } | null = null;
  problems: string[] = [];
  readonly ws: WebSocket;
  readonly #opened: Promise<void>;
  #ended!: () => void;
  readonly ended = new Promise<void>((r) => (this.#ended = r));
  replies: Record<string, any>[] = [];

  constructor(url: string, token: string) {
    this.ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws');
    this.#opened = new Promise((resolve, reject) => {
      this.ws.once('error', reject);
      this.ws.on('message', (data) => {
        for (const line of data.toString().split('\n')) {
          const m = JSON.parse(line) as Record<string, any>;
          if (m.type === 'connected') resolve();
          else this.#on(m);
        }
      });
      this.ws.once('open', () => this.ws.send(JSON.stringify({ type: 'connect', token })));
    });
  }

  /** Start from what we have (a reconnect sends `have`; a late joiner 0). */
  async watch(stream: StreamRef, from = this.have, prefix = this.text.slice(0, from)): Promise<void> {
    await this.#opened;
    this.text = prefix;
    this.have = from;
    this.ws.send(JSON.stringify({ type: 'stream.subscribe', id: 1, stream, from }));
  }

  request(message: Record<string, unknown>): Promise<Record<string, any>> {
    return new Promise((resolve) => {
      const check = () => {
        const r = this.replies.find((m) => m.id === message.id);
        if (r) resolve(r);
        else setTimeout(check, 5);
      };
      this.ws.send(JSON.stringify(message));
      check();
    });
  }

  #on(m: Record<string, any>): void {
    if (m.type === 'stream.text' || m.type === 'stream.delta') {
      if (m.type === 'stream.text') this.replies.push(m);
      if (m.from !== this.have) this.problems.push(`${m.type} at ${m.from}, have ${this.have}`);
      if (m.to - m.from !== m.text.length) this.problems.push(`range ${m.from}-${m.to} for ${m.text.length} chars`);
      if (m.from <= this.have && this.have < m.to) {
        this.text += m.text.slice(this.have - m.from);
        this.have = m.to;
      }
    } else if (m.type === 'stream.end') {
      this.end = { reason: m.reason, length: m.length };
      this.#ended();
    } else if (m.id !== undefined) this.replies.push(m);
  }

  close(): void {
    this.ws.terminate();
  }
}

async function jobToken(t: TestNode, id: string): Promise<string> {
  return t.token('viewer', [{ ops: ['job:read', 'job:cancel'], topics: [jobTopic(id)] }]);
}

const lengthOf = async (t: TestNode, ref: { job: string; name: string }) => (await t.node.streams.read(ref, 0)).length;

describe('streams', () => {
  describe('a 2,000-append stream', () => {
    it(
      'gives late joiners and reconnects at random offsets exactly the worker’s text',
      { timeout: 60_000 },
      async () => {
        await using t = await startNode();
        const N = 2000;
        t.node.jobs.handle('story', async (_job, ctx) => {
          const answer = ctx.stream('answer');
          for (let i = 0; i < N; i++) {
            void answer.append(token(i));
            // A generator's pace: a turn of the event loop now and then lets watchers in between.
            if (i % 20 === 19) await sleep(2);
          }
          return { tokens: N };
        });
        const created = await t.api('/v1/jobs', { body: { type: 'story' } });
        const ref = { job: created.body.id as string, name: 'answer' };
        const viewer = await jobToken(t, ref.job);
        const watchers: Watcher[] = [];
        let seed = 7;
        const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
        // Late joiners at several points, and reconnects from a random offset of what was read so far.
        for (const point of [0, 1000, 3000, 6000, 9000]) {
          await waitFor(async () => (await lengthOf(t, ref)) >= point, 20_000, `the stream to reach ${point}`);
          const late = new Watcher(t.url, viewer);
          await late.watch(ref, 0);
          watchers.push(late);
          const sofar = await t.api(`/v1/jobs/${ref.job}/streams/answer?from=0`, { token: viewer });
          const at = Math.floor(random() * sofar.body.to);
          // Never resume inside a surrogate pair: a real watcher holds whole characters.
          const offset = at > 0 && /[\uDC00-\uDFFF]/.test(sofar.body.text[at] ?? '') ? at - 1 : at;
          const back = new Watcher(t.url, viewer);
          await back.watch(ref, offset, sofar.body.text.slice(0, offset));
          watchers.push(back);
        }
        await Promise.all(watchers.map((w) => w.ended));
        const expected = textOf(N);
        for (const w of watchers) {
          assert.deepEqual(w.problems, []);
          assert.equal(w.text.length, expected.length);
          assert.equal(w.text, expected);
          assert.deepEqual(w.end, { reason: 'finished', length: expected.length });
          w.close();
        }
        const whole = await t.api(`/v1/jobs/${ref.job}/streams/answer?from=0`, { token: viewer });
        assert.equal(whole.body.text, expected);
        assert.equal(whole.body.end, 'finished');
      },
    );
  });

  describe('stop and disconnect', () => {
    it(
      'keeps generating when every watcher closes, and a stop from a reloaded tab ends the work with what it had',
      { timeout: 60_000 },
      async () => {
        await using t = await startNode({ jobTypes: ['answer'] });
        let aborted = false;
        let appended = '';
        const worker = createWorker({
          url: t.url,
          apiKey: t.node.apiKey,
          types: ['answer'],
          waitMs: 500,
          handler: async (_job, ctx) => {
            const answer = ctx.stream('answer');
            for (let i = 0; i < 100_000 && !ctx.signal.aborted; i++) {
              try {
                await answer.append(token(i));
                appended += token(i);
              } catch {
                break;
              }
              await sleep(5);
            }
            aborted = ctx.signal.aborted;
            return null;
          },
        });
        worker.start();
        try {
          const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
          const ref = { job: created.body.id as string, name: 'answer' };
          const viewer = await jobToken(t, ref.job);
          const first = new Watcher(t.url, viewer);
          await first.watch(ref, 0);
          await waitFor(() => first.have > 50, 20_000, 'the first tab to see text');
          first.close();
          // Every watcher is gone: the work goes on.
          const atClose = await lengthOf(t, ref);
          await waitFor(async () => (await lengthOf(t, ref)) > atClose + 100, 20_000, 'the stream to keep growing');
          assert.equal((await t.api(`/v1/jobs/${ref.job}`)).body.status, 'running');

          // A reload: a new tab resumes from what the first had, and stops.
          const reloaded = new Watcher(t.url, viewer);
          await reloaded.watch(ref, first.have, first.text);
          await waitFor(() => reloaded.have > atClose, 20_000, 'the reloaded tab to catch up');
          const stopped = await reloaded.request({ type: 'stream.stop', id: 2, stream: ref });
          assert.equal(stopped.type, 'ack');
          await reloaded.ended;
          assert.equal(reloaded.end!.reason, 'stopped');
          await waitFor(
            async () => (await t.api(`/v1/jobs/${ref.job}`)).body.status === 'cancelled',
            20_000,
            'the job to end',
          );
          assert.equal(aborted, true, 'the worker saw ctx.signal abort');
          const final = await t.api(`/v1/jobs/${ref.job}/streams/answer`, { token: viewer });
          assert.equal(final.body.end, 'stopped');
          assert.equal(reloaded.text, final.body.text);
          assert.equal(final.body.length, reloaded.end!.length);
          // What the worker had appended before the stop is all there, and nothing after it.
          assert.ok(appended.startsWith(final.body.text));
          const late = await t.api(`/v1/jobs/${ref.job}/streams/answer`, {
            body: { lease: 'x', append: 'more' },
          });
          assert.equal(late.status, 409);
          reloaded.close();
        } finally {
          await worker.stop();
        }
      },
    );

    it('a stop while the job is still queued cancels it at once and ends its stream stopped', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      // No worker: the job stays queued until the stop.
      const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
      const ref = { job: created.body.id as string, name: 'answer' };
      const queued = await t.api(`/v1/jobs/${ref.job}`, { token: created.body.token });
      assert.equal(queued.body.status, 'queued');
      const w = new Watcher(t.url, created.body.token);
      await w.watch(ref, 0);
      const stopped = await w.request({ type: 'stream.stop', id: 2, stream: ref });
      assert.equal(stopped.type, 'ack');
      await w.ended;
      assert.equal(w.end!.reason, 'stopped');
      const job = await t.api(`/v1/jobs/${ref.job}`, { token: created.body.token });
      assert.equal(job.body.status, 'cancelled');
      const text = await t.api(`/v1/jobs/${ref.job}/streams/answer`, { token: created.body.token });
      assert.equal(text.body.end, 'stopped');
      // The same over HTTP for a second queued job.
      const other = await t.api('/v1/jobs', { body: { type: 'answer' } });
      const stop = await t.api(`/v1/jobs/${other.body.id}/streams/answer/stop`, {
        method: 'POST',
        token: other.body.token,
      });
      assert.deepEqual([stop.status, stop.body.end], [200, 'stopped']);
      assert.equal((await t.api(`/v1/jobs/${other.body.id}`, { token: other.body.token })).body.status, 'cancelled');
      w.close();
    });

    it('refuses a stop without job:cancel, and a watch without job:read', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
      const ref = { job: created.body.id as string, name: 'answer' };
      const readOnly = await t.token('v', [{ ops: ['job:read'], topics: [jobTopic(ref.job)] }]);
      const stop = await t.api(`/v1/jobs/${ref.job}/streams/answer/stop`, { method: 'POST', token: readOnly });
      assert.equal(stop.status, 403);
      const other = await t.token('v', [{ ops: ['job:read'], topics: ['job:other'] }]);
      const read = await t.api(`/v1/jobs/${ref.job}/streams/answer`, { token: other });
      assert.equal(read.status, 403);
      const w = new Watcher(t.url, other);
      await w.watch(ref, 0);
      await waitFor(() => w.replies.length > 0, 5000, 'the refusal');
      assert.equal(w.replies[0]!.code, 'forbidden');
      w.close();
    });
  });

  describe('over HTTP and SSE', () => {
    it(
      'reads from an offset, resumes an EventSource by Last-Event-ID, and caches an ended stream',
      { timeout: 30_000 },
      async () => {
        await using t = await startNode({ jobTypes: ['answer'] });
        const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
        const id = created.body.id as string;
        const lease = await t.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 1000 } });
        const leaseToken = lease.body.lease.token as string;
        const append = (body: Record<string, unknown>) =>
          t.api(`/v1/jobs/${id}/streams/answer`, { body: { lease: leaseToken, ...body } });
        const a = await append({ append: 'Once upon ' });
        assert.deepEqual([a.status, a.body.from, a.body.to, a.body.cancelRequested], [200, 0, 10, false]);
        assert.equal((await append({ append: 'a \uD83D' })).status, 400, 'a lone surrogate is refused');
        await append({ append: 'a time' });

        const open = await t.api(`/v1/jobs/${id}/streams/answer?from=5`, { token: created.body.token });
        assert.deepEqual(open.body, {
          stream: `job:${id}/answer`,
          from: 5,
          to: 16,
          text: 'upon a time',
          length: 16,
          end: null,
        });
        assert.equal(open.headers.get('cache-control'), 'no-store');

        const sse = await fetch(`${t.url}/v1/jobs/${id}/streams/answer/events?from=5&token=${created.body.token}`);
        const first = await readSse(sse, (events) => events.length >= 1);
        assert.deepEqual([first[0]!.event, first[0]!.id, first[0]!.data.text], ['stream.text', '16', 'upon a time']);

        const resumed = fetch(`${t.url}/v1/jobs/${id}/streams/answer/events?token=${created.body.token}`, {
          headers: { 'last-event-id': '16' },
        }).then((res) => readSse(res));
        await sleep(50);
        await append({ append: ', a fox', end: 'finished' });
        const events = await resumed;
        assert.deepEqual(
          events.map((e) => [e.event, e.id]),
          [
            ['stream.text', '16'],
            ['stream.delta', '23'],
            ['stream.end', '23:end'],
          ],
        );
        assert.equal(events[1]!.data.text, ', a fox');
        const after = await fetch(`${t.url}/v1/jobs/${id}/streams/answer/events?token=${created.body.token}`, {
          headers: { 'last-event-id': '23:end' },
        });
        assert.equal(after.status, 204, 'an EventSource that had the end is told to stop');

        const ended = await t.api(`/v1/jobs/${id}/streams/answer`, { token: created.body.token });
        assert.equal(ended.body.text, 'Once upon a time, a fox');
        assert.match(ended.headers.get('cache-control')!, /immutable/);
        const etag = ended.headers.get('etag')!;
        const again = await t.api(`/v1/jobs/${id}/streams/answer`, {
          token: created.body.token,
          headers: { 'if-none-match': etag },
        });
        assert.equal(again.status, 304);
        assert.equal((await append({ append: '!' })).status, 409);
        await t.api(`/v1/jobs/${id}/complete`, { body: { lease: leaseToken } });
        // Stopping an ended stream changes nothing.
        const stop = await t.api(`/v1/jobs/${id}/streams/answer/stop`, { method: 'POST', token: created.body.token });
        assert.deepEqual([stop.status, stop.body.end, stop.body.length], [200, 'finished', 23]);
      },
    );

    it('refuses an append past maxStreamChars and changes nothing', async () => {
      await using t = await startNode({ jobTypes: ['answer'], maxStreamChars: 10 });
      const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
      const lease = await t.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 1000 } });
      const body = (append: string) => ({ body: { lease: lease.body.lease.token, append } });
      assert.equal((await t.api(`/v1/jobs/${created.body.id}/streams/answer`, body('12345678'))).status, 200);
      const refused = await t.api(`/v1/jobs/${created.body.id}/streams/answer`, body('abc'));
      assert.deepEqual([refused.status, refused.body.code], [413, 'stream_too_long']);
      const read = await t.api(`/v1/jobs/${created.body.id}/streams/answer`);
      assert.equal(read.body.text, '12345678');
    });
  });

  describe('retention', () => {
    it('removes a job’s streams with the job', async () => {
      await using t = await startNode({ jobRetentionMs: 1000 });
      t.node.jobs.handle('quick', async (_job, ctx) => {
        await ctx.stream('answer').append('short-lived');
        return null;
      });
      const created = await t.api('/v1/jobs', { body: { type: 'quick' } });
      const path = `/v1/jobs/${created.body.id}/streams/answer`;
      await waitFor(async () => (await t.api(path)).body.end === 'finished', 5000, 'the stream to end');
      await sleep(1200);
      await t.node.retention.round();
      assert.equal((await t.api(`/v1/jobs/${created.body.id}`)).status, 404);
      assert.equal((await t.api(path)).status, 404);
    });
  });

  describe('when the node restarts mid-stream', () => {
    it(
      'keeps the text appended so far in the SQLite file, and the stream carries on',
      { timeout: 30_000 },
      async () => {
        const dir = tempDir();
        try {
          const options = {
            port: 0,
            host: '127.0.0.1',
            processMetrics: false,
            dataDir: dir.path,
            jobTypes: ['answer'],
          };
          let node = await createNode(options);
          let url = await node.listen();
          const api = (path: string, body?: unknown) =>
            fetch(url + path, {
              method: body === undefined ? 'GET' : 'POST',
              headers: { authorization: `Bearer ${node.apiKey}`, 'content-type': 'application/json' },
              ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
          const created = await api('/v1/jobs', { type: 'answer' });
          const lease = await api('/v1/workers/lease', { types: ['answer'], waitMs: 1000, leaseMs: 60_000 });
          let sent = '';
          for (let i = 0; i < 300; i++) {
            const r = await api(`/v1/jobs/${created.body.id}/streams/answer`, {
              lease: lease.body.lease.token,
              append: token(i),
            });
            assert.equal(r.status, 200);
            sent += token(i);
          }
          await node.close();
          node = await createNode(options);
          url = await node.listen();
          const read = await api(`/v1/jobs/${created.body.id}/streams/answer`);
          assert.deepEqual([read.body.text, read.body.end], [sent, null]);
          const more = await api(`/v1/jobs/${created.body.id}/streams/answer`, {
            lease: lease.body.lease.token,
            append: 'The end.',
          });
          assert.deepEqual([more.status, more.body.from], [200, sent.length]);
          await node.close();
        } finally {
          dir.remove();
        }
      },
    );
  });

  describe('a data directory made before streams had writers', () => {
    it('gets the column on start, keeps its streams and records writers from then on', async () => {
      const dir = tempDir();
      try {
        const Database = (await import('better-sqlite3')).default;
        const old = new Database(join(dir.path, 'inloop.db'));
        old.exec(`
          CREATE TABLE streams (key TEXT PRIMARY KEY, owner TEXT NOT NULL, length INTEGER NOT NULL, end_reason TEXT,
            updated_at INTEGER NOT NULL, is_job INTEGER NOT NULL) WITHOUT ROWID;
          CREATE TABLE stream_chunks (key TEXT NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL, text TEXT NOT NULL,
            PRIMARY KEY (key, start)) WITHOUT ROWID;
          INSERT INTO streams VALUES ('conv:c1/old', 'conv:c1', 5, 'finished', ${Date.now()}, 0);
          INSERT INTO stream_chunks VALUES ('conv:c1/old', 0, 5, 'Hello');
        `);
        old.close();
        const node = await createNode({ port: 0, host: '127.0.0.1', processMetrics: false, dataDir: dir.path });
        try {
          assert.equal((await node.streams.read({ conversation: 'c1', message: 'old' }, 0)).text, 'Hello');
          await node.streams.append({ conversation: 'c1', message: 'new' }, 'Hi', 'bot');
          await assert.rejects(node.streams.append({ conversation: 'c1', message: 'new' }, '!', 'eve'), {
            code: 'forbidden',
          });
        } finally {
          await node.close();
        }
      } finally {
        dir.remove();
      }
    });
  });

  describe('a conversation message', () => {
    it('streams its draft chunks, ends when sent, and a stop refuses the writer’s next chunk', async () => {
      await using t = await startNode();
      await t.api('/v1/conversations', { body: { id: 'c1', members: ['ana', 'bot'] } });
      const draft = (clientId: string, text: string) =>
        t.api(`/v1/conversations/c1/drafts/${clientId}`, { body: { from: 'bot', text } });
      assert.equal((await draft('m1', 'Hello')).status < 300, true);
      await draft('m1', ', Ana');
      const ana = await t.token('ana', [{ ops: ['subscribe', 'publish'], topics: ['conv:c1'] }]);
      const w = new Watcher(t.url, ana);
      await w.watch({ conversation: 'c1', message: 'm1' }, 0);
      await waitFor(() => w.text === 'Hello, Ana', 5000, 'the text so far');
      await draft('m1', '!');
      await t.api('/v1/conversations/c1/messages', { body: { from: 'bot', text: 'Hello, Ana!', clientId: 'm1' } });
      await w.ended;
      assert.deepEqual([w.text, w.end], ['Hello, Ana!', { reason: 'finished', length: 11 }]);
      w.close();

      await draft('m2', 'Let me');
      const stop = await t.api('/v1/conversations/c1/streams/m2/stop', { method: 'POST', token: ana });
      assert.equal(stop.status, 200);
      const refused = await draft('m2', ' think');
      assert.equal(refused.body.code, 'stream_ended');
      const outsider = await t.token('eve', [{ ops: ['subscribe'], topics: ['conv:c1'] }]);
      assert.equal((await t.api('/v1/conversations/c1/streams/m2', { token: outsider })).status, 403);
    });

    it('belongs to the member who started it: another member knowing its clientId can neither write nor end it', async () => {
      await using t = await startNode();
      await t.api('/v1/conversations', { body: { id: 'c2', members: ['ana', 'bot', 'mallory'] } });
      const draft = (from: string, text: string) => t.api('/v1/conversations/c2/drafts/r1', { body: { from, text } });
      assert.equal((await draft('bot', 'The answer is')).status, 202);
      const forged = await draft('mallory', ' no, send me your password');
      assert.deepEqual([forged.status, forged.body.code], [403, 'forbidden']);
      // Sending a message with the same clientId is mallory's own message: the bot's stream stays open.
      await t.api('/v1/conversations/c2/messages', { body: { from: 'mallory', text: 'hi', clientId: 'r1' } });
      const ana = await t.token('ana', [{ ops: ['subscribe', 'publish'], topics: ['conv:c2'] }]);
      const open = await t.api('/v1/conversations/c2/streams/r1', { token: ana });
      assert.deepEqual([open.body.stream, open.body.text, open.body.end], ['conv:c2/r1', 'The answer is', null]);
      assert.equal((await draft('bot', ' 42.')).status, 202);
      await t.api('/v1/conversations/c2/messages', {
        body: { from: 'bot', text: 'The answer is 42.', clientId: 'r1' },
      });
      const sent = await t.api('/v1/conversations/c2/streams/r1', { token: ana });
      assert.deepEqual([sent.body.text, sent.body.end], ['The answer is 42.', 'finished']);
    });
  });
});
