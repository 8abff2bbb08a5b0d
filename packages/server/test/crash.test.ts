import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient } from '@inloop/client';
import { exited, spawnNode, tempDir, waitFor } from './helpers.js';

describe('crash safety', () => {
  describe('when the node is killed with SIGKILL while publishers keep publishing', () => {
    it('keeps every acknowledged publication and replays it to resuming subscribers', { timeout: 60_000 }, async () => {
      const dir = tempDir();
      const env = { PORT: '0', INLOOP_HOST: '127.0.0.1', INLOOP_DATA_DIR: dir.path };
      const first = await spawnNode(env);
      const apiKey = readFileSync(join(dir.path, 'api-key'), 'utf8').trim();
      const acked = new Map<number, unknown>();
      let epoch = '';
      let stop = false;
      // Four concurrent publishers, so acknowledgements are in flight at the moment of the kill.
      const publishers = Array.from({ length: 4 }, (_, p) =>
        (async () => {
          for (let i = 0; !stop; i++) {
            const data = { p, i };
            try {
              const res = await fetch(`${first.url}/v1/topics/ledger/messages`, {
                method: 'POST',
                headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
                body: JSON.stringify({ data }),
              });
              if (res.status !== 201) continue;
              const body = (await res.json()) as { offset: number; epoch: string };
              acked.set(body.offset, data);
              epoch = body.epoch;
            } catch {
              return; // the node is gone: this publish was never acknowledged
            }
          }
        })(),
      );
      await waitFor(() => acked.size >= 300, 20_000, '300 acknowledged publications');
      first.child.kill('SIGKILL');
      stop = true;
      await Promise.all(publishers);
      await exited(first.child);

      const second = await spawnNode(env);
      try {
        const res = await fetch(`${second.url}/v1/topics/ledger/messages?after=0&limit=1000`, {
          headers: { authorization: `Bearer ${apiKey}` },
        });
        const history = (await res.json()) as { epoch: string; messages: { offset: number; data: unknown }[] };
        assert.equal(history.epoch, epoch, 'the epoch survives a restart, so resuming clients recover');
        const stored = new Map(history.messages.map((m) => [m.offset, m.data]));
        for (const [offset, data] of acked)
          assert.deepEqual(stored.get(offset), data, `acknowledged offset ${offset} lost`);

        // A subscriber that had seen nothing resumes from offset 0 and gets all of it, in order.
        const mint = await fetch(`${second.url}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ subject: 'auditor', scopes: [{ ops: ['subscribe'], topics: ['ledger'] }] }),
        });
        const { token } = (await mint.json()) as { token: string };
        const client = createClient({ url: second.url, token, WebSocket: WebSocket as never });
        const sub = client.subscribe('ledger', { since: { epoch, offset: 0 } });
        const offsets: number[] = [];
        sub.on('publication', (p) => offsets.push(p.offset!));
        const top = Math.max(...acked.keys());
        await waitFor(() => offsets.at(-1)! >= top, 5000, 'the replay');
        assert.deepEqual(
          offsets,
          history.messages.map((m) => m.offset),
        );
        assert.deepEqual(
          offsets.slice(0, top),
          Array.from({ length: top }, (_, i) => i + 1),
        );
        await client.close();
      } finally {
        second.child.kill('SIGTERM');
        await exited(second.child);
        dir.remove();
      }
    });
  });
});
