import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutboxEntry, WebhookOutbox } from '@inloop/server/ports';

const entry = (endpoint: string, id: string, dueAt: number, extra: Partial<OutboxEntry> = {}): OutboxEntry => ({
  endpoint,
  id,
  type: 'topic.publication',
  body: JSON.stringify({ id }),
  attempts: 0,
  dueAt,
  createdAt: dueAt,
  ...extra,
});

/**
 * The guarantees of the WebhookOutbox port (see ports/webhook-outbox.ts), run against every
 * implementation. A claiming outbox (`claims`) hides what `due` returned until it is rescheduled
 * or delivered; a local one returns it again.
 */
export function describeWebhookOutboxConformance(
  name: string,
  factory: () => Promise<{ outbox: WebhookOutbox; dispose: () => Promise<void> }>,
): void {
  describe(`${name} webhook outbox`, () => {
    it('returns what is due per endpoint, earliest first, within the limit', async () => {
      const { outbox, dispose } = await factory();
      const t = Date.now();
      await outbox.add([entry('a', 'e2', t - 10), entry('a', 'e1', t - 20), entry('a', 'later', t + 60_000)]);
      await outbox.add([entry('b', 'e1', t - 30)]);
      const due = await outbox.due('a', t, 10);
      assert.deepEqual(
        due.map((e) => e.id),
        ['e1', 'e2'],
      );
      assert.equal(due[0]!.body, JSON.stringify({ id: 'e1' }));
      assert.equal(due[0]!.type, 'topic.publication');
      assert.equal(due[0]!.createdAt, t - 20);
      assert.deepEqual(
        (await outbox.due('b', t, 10)).map((e) => e.id),
        ['e1'],
        "another endpoint's entries are its own",
      );
      assert.equal((await outbox.due('a', t + 300_000, 1)).length, 1, 'the limit holds');
      await dispose();
    });

    it('keeps the first entry of an id: adding it again changes nothing', async () => {
      const { outbox, dispose } = await factory();
      const t = Date.now();
      await outbox.add([entry('a', 'e1', t - 10, { body: 'first' })]);
      await outbox.add([entry('a', 'e1', t - 10, { body: 'second' })]);
      const due = await outbox.due('a', t, 10);
      assert.deepEqual(
        due.map((e) => e.body),
        ['first'],
      );
      await dispose();
    });

    it('records attempts and the next due time, and forgets what was delivered or dropped', async () => {
      const { outbox, dispose } = await factory();
      const t = Date.now();
      await outbox.add([entry('a', 'e1', t - 10), entry('a', 'e2', t - 10), entry('a', 'e3', t - 10)]);
      await outbox.due('a', t, 10);
      await outbox.reschedule('a', 'e1', 2, t + 5000);
      await outbox.delivered('a', 'e2');
      await outbox.drop('a', 'e3');
      assert.equal(await outbox.nextDue('a'), t + 5000);
      assert.deepEqual(await outbox.due('a', t + 1000, 10), []);
      const again = await outbox.due('a', t + 5000, 10);
      assert.deepEqual(
        again.map((e) => [e.id, e.attempts]),
        [['e1', 2]],
      );
      await outbox.delivered('a', 'e1');
      assert.equal(await outbox.nextDue('a'), null);
      assert.equal(await outbox.nextDue('nobody'), null);
      await dispose();
    });
  });
}
