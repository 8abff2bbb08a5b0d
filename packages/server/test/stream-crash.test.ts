import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exited, rawSession, spawnNode, tempDir, waitFor } from './helpers.js';

type Raw = Awaited<ReturnType<typeof rawSession>>;

/**
 * A raw WebSocket watcher of one stream applying the protocol's rule (keep
 * `text.slice(have - from)` when `from <= have < to`), noting any piece that does not start
 * exactly where it is: the node must never overlap or skip on one watch.
 */
class Watcher {
  text: string;
  have: number;
  /** The `stream.text` reply to the subscribe. */
  reply: Record<string, any> | null = null;
  end: { reason: string; length: number } | null = null;
  problems: string[] = [];
  #seen = 0;

  constructor(
    readonly session: Raw,
    readonly key: string,
    prefix: string,
  ) {
    this.text = prefix;
    this.have = prefix.length;
  }

  static async watch(url: string, token: string, ref: object, key: string, prefix = ''): Promise<Watcher> {
    const w = new Watcher(await rawSession(url, token), key, prefix);
    assert.ok(w.session.connected);
    w.reply = await w.session.request({ type: 'stream.subscribe', id: 1, stream: ref, from: w.have });
    assert.equal(w.reply.type, 'stream.text', JSON.stringify(w.reply));
    return w;
  }

  /** Apply the frames received since the last call. */
  update(): void {
    for (; this.#seen < this.session.frames.length; this.#seen++) {
      const m = this.session.frames[this.#seen]!;
      if (m.stream !== this.key) continue;
      if (m.type === 'stream.text' && m.length < this.have) {
        // The node lost the stream's last moments: what we have up to its length is what it has.
        this.text = this.text.slice(0, m.length);
        this.have = m.length;
      }
      if (m.type === 'stream.text' || m.type === 'stream.delta') {
        if (m.from !== this.have) this.problems.push(`${m.type} at ${m.from}, have ${this.have}`);
        if (m.from <= this.have && this.have < m.to) {
          this.text += m.text.slice(this.have - m.from);
          this.have = m.to;
        }
      } else if (m.type === 'stream.end') this.end = { reason: m.reason, length: m.length };
    }
  }

  close(): void {
    this.session.ws.terminate();
  }
}

describe('a stream on SQLite when the node is killed with SIGKILL mid-stream', () => {
  it(
    'keeps a prefix of what was appended, and watchers resuming get exactly it and what follows, once',
    { timeout: 90_000 },
    async (t) => {
      const dir = tempDir();
      // A long flush interval, so the kill most likely lands with acknowledged appends unwritten.
      const env = {
        PORT: '0',
        INLOOP_HOST: '127.0.0.1',
        INLOOP_DATA_DIR: dir.path,
        INLOOP_JOB_TYPES: 'answer',
        INLOOP_STREAM_FLUSH_MS: '1000',
      };
      let node = await spawnNode(env);
      const apiKey = readFileSync(join(dir.path, 'api-key'), 'utf8').trim();
      const api = async (path: string, body?: unknown) => {
        const res = await fetch(node.url + path, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: res.status, body: (await res.json()) as any };
      };
      const watchers: Watcher[] = [];
      try {
        const created = await api('/v1/jobs', { type: 'answer' });
        const id = created.body.id as string;
        const ref = { job: id, name: 'answer' };
        const key = `job:${id}/answer`;
        // The lease is kept in the SQLite file: the same worker goes on after the restart.
        const lease = await api('/v1/workers/lease', { types: ['answer'], waitMs: 1000, leaseMs: 120_000 });
        const token = (
          await api('/v1/tokens', { subject: 'viewer', scopes: [{ ops: ['job:read'], topics: [`job:${id}`] }] })
        ).body.token as string;
        const live = await Watcher.watch(node.url, token, ref, key);
        watchers.push(live);

        // The worker appends one piece at a time; `sent` is everything it sent (the last piece
        // may be on its way at the kill), `acked` what the node acknowledged.
        const piece = (i: number) => (i % 11 === 0 ? `é🙂${i} ` : `w${i} `);
        let sent = '';
        let acked = '';
        let killed = false;
        const appending = (async () => {
          for (let i = 0; i < 100_000 && !killed; i++) {
            sent += piece(i);
            try {
              const r = await api(`/v1/jobs/${id}/streams/answer`, { lease: lease.body.lease.token, append: piece(i) });
              if (r.status !== 200) return;
              acked += piece(i);
            } catch {
              return; // the node is gone: never acknowledged
            }
          }
        })();
        await waitFor(() => acked.length >= 3000, 30_000, '3,000 characters acknowledged');
        await waitFor(
          () => {
            live.update();
            return live.have >= 1000;
          },
          10_000,
          'the live watcher to have some text',
        );
        node.child.kill('SIGKILL');
        killed = true;
        await appending;
        await exited(node.child);
        live.update();
        live.close();
        assert.deepEqual(live.problems, []);
        assert.ok(sent.startsWith(live.text), 'what the live watcher saw is a prefix of what was sent');

        node = await spawnNode(env);
        // What survived: read page by page over HTTP.
        let survived = '';
        for (let page = 0; page < 100; page++) {
          const r = await api(`/v1/jobs/${id}/streams/answer?from=${survived.length}`);
          assert.equal(r.status, 200);
          assert.equal(r.body.end, null, 'the stream is still open: its job is running');
          survived += r.body.text;
          if (r.body.to >= r.body.length) break;
        }
        assert.ok(sent.startsWith(survived), 'the text that survived is a prefix of what was appended');
        // How much of the acknowledged text was lost is up to streamFlushMs of appends; not asserted.
        t.diagnostic(
          `acknowledged ${acked.length}, survived ${survived.length}, the live watcher had ${live.have} characters`,
        );

        // A late joiner from 0, and watchers resuming from what they had (within what survived).
        const offsets = [0, Math.floor(survived.length / 3), Math.floor((2 * survived.length) / 3), survived.length];
        for (const at of offsets) watchers.push(await Watcher.watch(node.url, token, ref, key, survived.slice(0, at)));
        // A watcher that had more than survived (the live one, most likely) is told the
        // stream's length, shorter than its offset: it cuts its text there and goes on.
        watchers.push(await Watcher.watch(node.url, token, ref, key, live.text));
        assert.equal(watchers.at(-1)!.reply!.length, survived.length);

        // The same worker goes on under its lease: its next append lands right after what survived.
        let after = '';
        for (let i = 0; i < 200; i++) {
          const text = piece(100_000 + i);
          const r = await api(`/v1/jobs/${id}/streams/answer`, { lease: lease.body.lease.token, append: text });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          if (i === 0) assert.equal(r.body.from, survived.length);
          after += text;
        }
        assert.equal((await api(`/v1/jobs/${id}/complete`, { lease: lease.body.lease.token, result: {} })).status, 200);
        const whole = survived + after;
        const resumed = watchers.slice(1);
        await waitFor(
          () => {
            for (const w of resumed) w.update();
            return resumed.every((w) => w.end !== null);
          },
          10_000,
          'every resumed watcher to get the end',
        );
        for (const w of resumed) {
          assert.deepEqual(w.problems, []);
          assert.equal(w.text, whole);
          assert.deepEqual(w.end, { reason: 'finished', length: whole.length });
        }
        assert.equal((await api(`/v1/jobs/${id}/streams/answer?from=${survived.length}`)).body.text, after);
      } finally {
        for (const w of watchers) w.close();
        node.child.kill('SIGTERM');
        await exited(node.child);
        dir.remove();
      }
    },
  );
});
