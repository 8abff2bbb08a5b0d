import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobTopic } from '@inloop/protocol';
import { rawSession, readSse, startNode, type TestNode } from './helpers.js';

/** A running job of type `answer` under a remote worker's lease, and a way to post raw bodies. */
async function leased(t: TestNode) {
  const created = await t.api('/v1/jobs', { body: { type: 'answer' } });
  const id = created.body.id as string;
  const lease = await t.api('/v1/workers/lease', { body: { types: ['answer'], waitMs: 1000 } });
  assert.equal(lease.body.job.id, id);
  const leaseToken = lease.body.lease.token as string;
  return {
    id,
    token: created.body.token as string,
    lease: leaseToken,
    /** POST a body as given (a string is sent verbatim, so escapes and types are exactly the test's). */
    post: (name: string, body: string | Record<string, unknown>) =>
      t.api(`/v1/jobs/${id}/streams/${name}`, {
        body: typeof body === 'string' ? body : { lease: leaseToken, ...body },
      }),
    length: async (name: string) => {
      const read = await t.api(`/v1/jobs/${id}/streams/${name}?from=0`, { token: created.body.token });
      return read.status === 404 ? null : (read.body.length as number);
    },
  };
}

describe('stream edges', () => {
  describe('the largest append over HTTP', () => {
    it(
      'takes exactly maxStreamAppendChars characters of any kind, and refuses one more',
      { timeout: 30_000 },
      async () => {
        await using t = await startNode({ jobTypes: ['answer'] });
        const job = await leased(t);
        const max = t.node.config.maxStreamAppendChars;
        assert.equal(max, 65_536, 'the documented default');
        const cases: [string, string][] = [
          ['ascii', 'x'.repeat(max)],
          ['cjk', '字'.repeat(max)],
          ['emoji', '😀'.repeat(max / 2)],
        ];
        for (const [name, text] of cases) {
          assert.equal(text.length, max);
          const r = await job.post(name, { append: text });
          assert.deepEqual([name, r.status, r.body.from, r.body.to], [name, 200, 0, max], JSON.stringify(r.body));
          const over = await job.post(name, { append: text.slice(0, text.length - 2) + 'yz!' });
          assert.deepEqual([name, over.status, over.body.code], [name, 413, 'payload_too_large']);
          assert.equal(await job.length(name), max, `${name}: a refused append changes nothing`);
        }
        // The worst case of JSON: every character escaped as \uXXXX (6 bytes each).
        const escaped = `{"lease":"${job.lease}","append":"${'\\u5b57'.repeat(max)}"}`;
        const r = await job.post('escaped', escaped);
        assert.deepEqual([r.status, r.body.to], [200, max]);
        const read = await t.api(`/v1/jobs/${job.id}/streams/escaped?from=${max - 3}`, { token: job.token });
        assert.equal(read.body.text, '字字字');
        await t.api(`/v1/jobs/${job.id}/complete`, { body: { lease: job.lease } });
      },
    );
  });

  describe('what an append may carry', () => {
    it('refuses a lone surrogate anywhere and any non-string, changing nothing', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const job = await leased(t);
      assert.equal((await job.post('answer', { append: 'ok ' })).status, 200);
      const refusals: [string, string][] = [
        ['lone low surrogate in the middle', `{"lease":"${job.lease}","append":"a\\udc00b"}`],
        ['lone high surrogate in the middle', `{"lease":"${job.lease}","append":"a\\ud83db"}`],
        ['reversed pair', `{"lease":"${job.lease}","append":"a\\ude00\\ud83db"}`],
        ['a number', `{"lease":"${job.lease}","append":123}`],
        ['a boolean', `{"lease":"${job.lease}","append":true}`],
        ['an array of one string', `{"lease":"${job.lease}","append":["x"]}`],
        ['a numeric end', `{"lease":"${job.lease}","end":1}`],
      ];
      for (const [what, body] of refusals) {
        const r = await job.post('answer', body);
        assert.deepEqual([what, r.status, r.body.code], [what, 400, 'bad_request']);
      }
      assert.equal(await job.length('answer'), 3, 'no refused append landed');
      // Whole pairs anywhere are fine.
      const pair = await job.post('answer', `{"lease":"${job.lease}","append":"a\\ud83d\\ude00b"}`);
      assert.deepEqual([pair.status, pair.body.to], [200, 7]);
      await t.api(`/v1/jobs/${job.id}/complete`, { body: { lease: job.lease } });
    });

    it('refuses over WebSocket a stream reference that names both a job and a conversation', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const job = await leased(t);
      await job.post('answer', { append: 'text' });
      const viewer = await t.token('viewer', [{ ops: ['job:read'], topics: [jobTopic(job.id)] }]);
      const ws = await rawSession(t.url, viewer);
      try {
        const mixed = [
          { job: job.id, name: 'answer', conversation: 'c1', message: 'm1' },
          { job: job.id, name: 'answer', message: 'm1' },
          { conversation: 'c1', message: 'm1', name: 'answer' },
        ];
        let id = 1;
        for (const stream of mixed) {
          const r = await ws.request({ type: 'stream.subscribe', id: id++, stream });
          assert.deepEqual([r.type, r.code], ['error', 'invalid_stream'], JSON.stringify(stream));
        }
        const ok = await ws.request({ type: 'stream.subscribe', id: id++, stream: { job: job.id, name: 'answer' } });
        assert.deepEqual([ok.type, ok.text], ['stream.text', 'text']);
      } finally {
        ws.ws.close();
      }
      await t.api(`/v1/jobs/${job.id}/complete`, { body: { lease: job.lease } });
    });
  });

  describe('a bad position', () => {
    it('is invalid_position over HTTP reads, SSE and WebSocket alike', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const job = await leased(t);
      await job.post('answer', { append: 'text' });
      for (const from of ['-1', '1.5', 'x', '1e3', '']) {
        for (const path of [`/v1/jobs/${job.id}/streams/answer`, `/v1/jobs/${job.id}/streams/answer/events`]) {
          const r = await t.api(`${path}?from=${from}`, { token: job.token });
          assert.deepEqual([path, from, r.status, r.body.code], [path, from, 400, 'invalid_position']);
        }
      }
      const conv = await t.api(`/v1/conversations/c1/streams/m1?from=-1`);
      assert.deepEqual([conv.status, conv.body.code], [400, 'invalid_position']);
      const ws = await rawSession(t.url, job.token);
      try {
        const r = await ws.request({
          type: 'stream.subscribe',
          id: 1,
          stream: { job: job.id, name: 'answer' },
          from: -1,
        });
        assert.deepEqual([r.type, r.code], ['error', 'invalid_position']);
      } finally {
        ws.ws.close();
      }
      await t.api(`/v1/jobs/${job.id}/complete`, { body: { lease: job.lease } });
    });
  });

  describe('an SSE watcher that has all the text of an ended stream', () => {
    it('still gets the end and its reason, and a watcher that had the end gets 204', async () => {
      await using t = await startNode({ jobTypes: ['answer'] });
      const job = await leased(t);
      await job.post('answer', { append: 'Once upon a time' });
      const stop = await t.api(`/v1/jobs/${job.id}/streams/answer/stop`, { method: 'POST', token: job.token });
      assert.deepEqual([stop.status, stop.body.end, stop.body.length], [200, 'stopped', 16]);
      const events = (lastEventId?: string, from?: number) =>
        fetch(
          `${t.url}/v1/jobs/${job.id}/streams/answer/events?token=${job.token}${from === undefined ? '' : `&from=${from}`}`,
          lastEventId === undefined ? {} : { headers: { 'last-event-id': lastEventId } },
        );

      // A watcher that had the text when the page went away: the end, with its own id.
      const resumed = await events('16');
      assert.equal(resumed.status, 200);
      const got = await readSse(resumed);
      const end = got.at(-1)!;
      assert.deepEqual([end.event, end.id, end.data.reason, end.data.length], ['stream.end', '16:end', 'stopped', 16]);
      assert.equal(got.map((e) => (e.event === 'stream.end' ? '' : e.data.text)).join(''), '', 'no text twice');

      // From the start: the text, then the end.
      const whole = await readSse(await events(undefined, 0));
      assert.deepEqual(
        whole.map((e) => [e.event, e.id]),
        [
          ['stream.text', '16'],
          ['stream.end', '16:end'],
        ],
      );
      // Had the end: EventSource is told to stop.
      assert.equal((await events('16:end')).status, 204);
      assert.deepEqual([(await events('16:x')).status], [400]);
      await t.api(`/v1/jobs/${job.id}/fail`, { body: { lease: job.lease, error: 'stopped' } });
    });
  });
});
