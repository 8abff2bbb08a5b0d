import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subscribeSse, type Subscription, type SubscribedEvent } from '@inloop/client';
import type { Scope } from '@inloop/protocol';
import { sleep, startNode, tcpProxy, waitFor } from './helpers.js';

const reader: Scope[] = [{ ops: ['subscribe', 'publish', 'history'], topics: ['*'] }];

/** What the app saw on one subscription: offsets in delivery order. */
function record(sub: Subscription): { offsets: number[]; resets: SubscribedEvent[] } {
  const seen = { offsets: [] as number[], resets: [] as SubscribedEvent[] };
  sub.on('publication', (p) => seen.offsets.push(p.offset!));
  sub.on('reset', (e) => seen.resets.push(e));
  return seen;
}

describe('resume', () => {
  describe('when subscribers are cut off again and again during continuous publishing', () => {
    it(
      'delivers every publication exactly once and in order, over WebSocket and SSE',
      { timeout: 120_000 },
      async () => {
        await using t = await startNode({ historyMaxCount: 100_000 });
        const proxy = await tcpProxy(t.node.port);
        const token = await t.token('watcher', reader);
        const ws = Array.from({ length: 5 }, () => t.client(token, { url: proxy.url }));
        const wsSubs = ws.map((c) => c.subscribe('stream'));
        const sseSubs = Array.from({ length: 5 }, () =>
          subscribeSse({ url: proxy.url, topic: 'stream', token, backoff: { minMs: 20, maxMs: 200 } }),
        );
        const all = [...wsSubs, ...sseSubs];
        const seen = all.map(record);
        await waitFor(() => all.every((s) => s.position), 5000, 'initial subscriptions');

        let publishing = true;
        let acked = 0;
        const publisher = (async () => {
          while (publishing) {
            const res = await t.api('/v1/topics/stream/messages', { body: { data: { n: acked + 1 } } });
            assert.equal(res.status, 201);
            acked = res.body.offset;
          }
        })();

        // 500+ forced reconnects: torn TCP connections (WS and SSE at once) and clean client-side reconnects.
        let forced = 0;
        for (let round = 0; forced < 500 && round < 2000; round++) {
          const kind = round % 3;
          if (kind === 0) forced += proxy.dropAll();
          else if (kind === 1) {
            ws[round % ws.length]!.reconnect();
            forced++;
          } else {
            sseSubs[round % sseSubs.length]!.reconnect();
            forced++;
          }
          await sleep(10 + (round % 4) * 5);
        }
        publishing = false;
        await publisher;
        assert.ok(forced >= 500, `forced ${forced} reconnects`);
        assert.ok(acked > 200, `published ${acked}`);

        await waitFor(() => seen.every((s) => s.offsets.at(-1) === acked), 20_000, 'every subscriber to catch up');
        const expected = Array.from({ length: acked }, (_, i) => i + 1);
        for (const [i, s] of seen.entries()) {
          assert.deepEqual(s.resets, [], `subscriber ${i} was reset inside the history window`);
          assert.deepEqual(s.offsets, expected, `subscriber ${i}: lost, reordered or duplicated publications`);
        }
        const metrics = await t.api('/metrics');
        assert.match(metrics.body, /inloop_resumes_total\{outcome="recovered"\} \d+/);
        await Promise.all(sseSubs.map((s) => s.unsubscribe()));
        await proxy.close();
      },
    );
  });

  describe('when the gap is outside the history window', () => {
    it('tells a WebSocket subscriber recovered: false with the current position, then goes live', async () => {
      await using t = await startNode({ historyMaxCount: 10 });
      const token = await t.token('late', reader);
      for (let i = 0; i < 5; i++) await t.api('/v1/topics/news/messages', { body: { data: i } });
      const first = t.client(token);
      const sub = first.subscribe('news');
      await waitFor(() => sub.position, 2000, 'subscribed');
      const saved = { ...sub.position! };
      await first.close();
      for (let i = 0; i < 30; i++) await t.api('/v1/topics/news/messages', { body: { data: i } });

      const second = t.client(token);
      const resumed = second.subscribe('news', { since: saved });
      const seen = record(resumed);
      await waitFor(() => seen.resets.length === 1, 2000, 'a reset');
      assert.equal(seen.resets[0]!.recovered, false);
      assert.equal(seen.resets[0]!.offset, 35);
      assert.deepEqual(seen.offsets, [], 'no silent partial replay');
      await t.api('/v1/topics/news/messages', { body: { data: 'live' } });
      await waitFor(() => seen.offsets.length === 1, 2000, 'the live publication');
      assert.deepEqual(seen.offsets, [36]);
    });

    it('tells a subscriber from another epoch recovered: false', async () => {
      await using t = await startNode();
      await t.api('/v1/topics/e/messages', { body: { data: 1 } });
      const c = t.client(await t.token('u', reader));
      const seen = record(c.subscribe('e', { since: { epoch: 'someOtherEpoch', offset: 1 } }));
      await waitFor(() => seen.resets.length === 1, 2000, 'a reset');
      assert.equal(seen.resets[0]!.offset, 1);
    });

    it('sends an SSE subscriber event: reset with the current position', async () => {
      await using t = await startNode({ historyMaxCount: 3 });
      const r0 = await t.api('/v1/topics/s/messages', { body: { data: 0 } });
      for (let i = 1; i < 10; i++) await t.api('/v1/topics/s/messages', { body: { data: i } });
      const res = await fetch(`${t.url}/v1/topics/s/stream`, {
        headers: { authorization: `Bearer ${t.node.apiKey}`, 'last-event-id': `${r0.body.epoch}:1` },
      });
      const reader = res.body!.getReader();
      const { value } = await reader.read();
      const text = new TextDecoder().decode(value);
      assert.match(
        text,
        /event: reset\ndata: \{"topic":"s","epoch":"[^"]+","offset":10,"recovered":false,"replayed":0\}/,
      );
      await reader.cancel();
    });

    it('replays over SSE from Last-Event-ID when history still holds the gap', async () => {
      await using t = await startNode();
      const r1 = await t.api('/v1/topics/s/messages', { body: { data: 1 } });
      await t.api('/v1/topics/s/messages', { body: { data: 2 } });
      await t.api('/v1/topics/s/messages', { body: { data: 3 } });
      const res = await fetch(`${t.url}/v1/topics/s/stream?since=${r1.body.epoch}:1`, {
        headers: { authorization: `Bearer ${t.node.apiKey}` },
      });
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes(`id: ${r1.body.epoch}:3`)) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, /event: ready/);
      assert.ok(!text.includes(`id: ${r1.body.epoch}:1\n`), 'offset 1 was already seen');
      assert.ok(text.indexOf(':2\n') < text.indexOf(':3\n'));
      await reader.cancel();
    });
  });
});
