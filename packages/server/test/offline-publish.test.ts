import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Scope } from '@inloop/protocol';
import { sleep, startNode, tcpProxy, waitFor } from './helpers.js';

const writer: Scope[] = [{ ops: ['subscribe', 'publish', 'history'], topics: ['*'] }];

describe('a publish made while the client is offline', () => {
  it('stays pending for as long as the network is down, then lands once (its timeout counts connected time only)', async () => {
    await using t = await startNode();
    const proxy = await tcpProxy(t.node.port);
    const token = await t.token('writer', writer);
    const client = t.client(token, { url: proxy.url, publishTimeoutMs: 400, backoff: { minMs: 20, maxMs: 100 } });
    await client.publish('notes', { n: 0 });

    proxy.cut();
    await waitFor(() => client.state !== 'connected', 5000, 'the client notices the cut');
    let settled: string | null = null;
    const sent = client.publish('notes', { n: 1 }).then(
      (r) => void (settled = `acked at ${r.offset}`),
      (e: Error) => void (settled = `failed: ${e.message}`),
    );
    // Down for three times the publish timeout: still pending, not failed.
    await sleep(1200);
    assert.equal(settled, null);
    proxy.restore();
    await sent;
    assert.equal(settled, 'acked at 2');
    const history = await t.api('/v1/topics/notes/messages?limit=10');
    assert.deepEqual(
      history.body.messages.map((m: { data: unknown }) => m.data),
      [{ n: 0 }, { n: 1 }],
    );
    client.close();
    await proxy.close();
  });

  it('fails with unavailable when a connected node does not answer within the timeout', async () => {
    await using t = await startNode();
    const proxy = await tcpProxy(t.node.port);
    const token = await t.token('writer', writer);
    const client = t.client(token, { url: proxy.url, publishTimeoutMs: 400 });
    await client.publish('notes', { n: 0 });
    // The connection stays up but nothing flows (a stalled network path).
    proxy.freezeAll();
    await assert.rejects(client.publish('notes', { n: 1 }), { code: 'unavailable' });
    client.close();
    await proxy.close();
  });
});
