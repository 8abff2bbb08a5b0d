import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InloopClient, Signal } from '@inloop/client';
import type { Scope } from '@inloop/protocol';
import {
  freePort,
  rawSession,
  readSse,
  sleep,
  startNode,
  tcpProxy,
  tempDir,
  waitFor,
  type TestNode,
} from './helpers.js';

const member: Scope[] = [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['conv:*'] }];

async function group(t: TestNode, id: string, members: string[]): Promise<void> {
  const created = await t.api('/v1/conversations', { body: { id, members, title: 'Team' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

/** Every signal of `kind` a client hears on a topic. */
function signals(client: InloopClient, topic: string, kinds: string[]): Signal[] {
  const seen: Signal[] = [];
  const sub = client.subscribe(topic);
  sub.on('signal', (s) => kinds.includes(s.kind) && seen.push(s));
  return seen;
}

describe('conversations', () => {
  it('takes a message from sent to delivered to read for each member of a group, across a reconnect and a restart', async () => {
    const port = await freePort();
    const dir = tempDir();
    const dataDir = dir.path;
    let anaClient: InloopClient;
    {
      const t = await startNode({ port, dataDir });
      await group(t, 'team', ['ana', 'bob', 'cid']);
      anaClient = t.client(await t.token('ana', member));
      const proxy = await tcpProxy(port);
      const bobClient = t.client(await t.token('bob', member), { url: proxy.url });
      const cidClient = t.client(await t.token('cid', member));
      const ana = anaClient.conversation('team');
      const bob = bobClient.conversation('team');
      await Promise.all([ana.ready(), bob.ready()]);
      // Cid is offline when the message is sent.
      await cidClient.close();

      const sent = await ana.send('Lunch at noon?', { clientId: 'c-1' });
      assert.equal(sent.offset, 1);
      assert.equal(sent.from, 'ana');
      assert.equal(ana.statusOf(sent).state, 'sent');

      // Bob's device has it: delivered, automatically.
      await waitFor(() => ana.statusOf(sent).counts.delivered === 1, 5000, "bob's delivered receipt");
      assert.deepEqual(
        ana.statusOf(sent).recipients.map((r) => [r.member, r.state]),
        [
          ['bob', 'delivered'],
          ['cid', 'sent'],
        ],
      );
      assert.equal(bob.unread, 1);
      await bob.markRead();
      await waitFor(() => ana.statusOf(sent).counts.read === 1, 5000, "bob's read receipt");
      assert.equal(bob.unread, 0);

      // A resend with the same client id (after a reconnect, say) is the same message.
      const again = await ana.send('Lunch at noon?', { clientId: 'c-1' });
      assert.equal(again.offset, 1);
      assert.equal((await t.api('/v1/conversations/team/messages')).body.messages.length, 1);
      assert.equal(ana.messages.length, 1);

      // Bob's connection is torn; a message sent meanwhile still reaches him, and ana hears of it.
      proxy.dropAll();
      const second = await ana.send('Or at one?');
      await waitFor(() => bob.messages.length === 2, 5000, 'bob to resume');
      await waitFor(() => ana.statusOf(second).recipients[0]!.state === 'delivered', 5000, 'delivered after reconnect');
      await proxy.close();

      // Cid comes back: the messages reach it and its receipts reach ana.
      const cid2 = t.client(await t.token('cid', member)).conversation('team');
      await cid2.ready();
      await waitFor(() => cid2.messages.length === 2, 5000, 'cid to load the messages');
      await waitFor(() => ana.statusOf(sent).counts.delivered === 2, 5000, "cid's delivered receipt");
      assert.equal(ana.statusOf(sent).state, 'delivered', 'delivered to everyone, read by one');

      const state = (await t.api('/v1/conversations/team')).body;
      assert.deepEqual(
        state.members.map((m: { member: string; unread: number }) => [m.member, m.unread]),
        [
          ['ana', 0],
          ['bob', 1],
          ['cid', 2],
        ],
      );
      await t[Symbol.asyncDispose]();
    }

    // The node restarts on the same port and file; everything is still there.
    await using t = await startNode({ port, dataDir });
    const details = await t.api('/v1/conversations/team/messages/1');
    assert.equal(details.status, 200);
    assert.deepEqual(details.body.counts, { recipients: 2, delivered: 2, read: 1 });
    const bobReceipt = details.body.recipients.find((r: { member: string }) => r.member === 'bob');
    assert.equal(bobReceipt.state, 'read');
    assert.ok(bobReceipt.deliveredAt <= bobReceipt.readAt, 'delivered no later than read');

    const ana = t.client(await t.token('ana', member)).conversation('team');
    const cid = t.client(await t.token('cid', member)).conversation('team');
    await Promise.all([ana.ready(), cid.ready()]);
    assert.equal(ana.messages.length, 2, 'history loads after the restart');
    assert.equal(cid.unread, 2);
    await cid.markRead(1);
    await waitFor(() => ana.statusOf(ana.messages[0]!).state === 'read', 5000, 'the first read by everyone');
    await cid.markRead();
    await waitFor(() => ana.statusOf(ana.messages[1]!).counts.read === 1, 5000, 'the second read by cid');
    assert.equal(ana.statusOf(ana.messages[1]!).state, 'delivered', 'bob has not read the second yet');
    await t.api('/v1/conversations/team/receipts', { body: { from: 'bob', read: 2 } });
    await waitFor(() => ana.statusOf(ana.messages[1]!).state === 'read', 5000, 'read by everyone');
    assert.equal(cid.unread, 0);
    // A backwards receipt changes nothing.
    const back = await t.api('/v1/conversations/team/receipts', { body: { from: 'cid', read: 0, delivered: 0 } });
    assert.equal(back.status, 200);
    assert.equal(back.body.read, 2);
    assert.equal(back.body.delivered, 2);
    await t[Symbol.asyncDispose]();
    dir.remove();
  });

  it('shows typing: throttled on the client, expiring on its own, cleared on send, never stored', async () => {
    await using t = await startNode({ typingTtlMs: 1500 });
    await group(t, 'pair', ['ana', 'bob']);
    const anaClient = t.client(await t.token('ana', member));
    const bobClient = t.client(await t.token('bob', member));
    const heard = signals(bobClient, 'conv:pair', ['typing.start', 'typing.stop']);
    // The client never sends a stop by itself here (idle timer of a minute): only the node's TTL ends it.
    const ana = anaClient.conversation('pair', { typing: { idleMs: 60_000 } });
    const bob = bobClient.conversation('pair');
    await Promise.all([ana.ready(), bob.ready()]);

    // Ten keystrokes within half a second: one start on the wire.
    for (let i = 0; i < 10; i++) {
      ana.typing.keystroke();
      await sleep(50);
    }
    await waitFor(() => bob.typing.typers.includes('ana'), 5000, 'bob to see ana typing');
    assert.equal(heard.filter((s) => s.kind === 'typing.start').length, 1);

    // No more keystrokes: the indicator expires on its own.
    await waitFor(() => heard.some((s) => s.kind === 'typing.stop'), 5000, 'the indicator to expire');
    await waitFor(() => bob.typing.typers.length === 0, 5000);
    ana.typing.stop();

    // Typing, then sending: the indicator goes at once.
    const stopsBefore = heard.filter((s) => s.kind === 'typing.stop').length;
    ana.typing.keystroke();
    await waitFor(() => bob.typing.typers.includes('ana'));
    await ana.send('done');
    await waitFor(() => heard.filter((s) => s.kind === 'typing.stop').length > stopsBefore, 5000, 'stop on send');
    await waitFor(() => bob.typing.typers.length === 0);

    // Over SSE, signals arrive under their own event names.
    const sse = await fetch(`${t.url}/v1/topics/conv:pair/stream?token=${await t.token('bob', member)}`);
    const events = readSse(sse, (evs) => evs.some((e) => e.event === 'typing.start'));
    await sleep(100);
    ana.typing.keystroke();
    const got = await events;
    assert.deepEqual(got.at(-1)!.data.from, 'ana');
    ana.typing.stop();

    const history = await t.api('/v1/topics/conv:pair/messages?after=0');
    assert.deepEqual(
      history.body.messages.map((m: { data: { text?: string } }) => m.data.text),
      ['done'],
      'only the message is stored: no typing, receipts or drafts',
    );
  });

  it('lets a bot take part over HTTP: typing, a streamed reply ending in one message, read receipts', async () => {
    await using t = await startNode();
    await group(t, 'help', ['ana', 'bot']);
    const anaClient = t.client(await t.token('ana', member));
    const ana = anaClient.conversation('help');
    await ana.ready();
    const question = await ana.send('How long will my export take?');

    const read = await t.api('/v1/conversations/help/receipts', { body: { from: 'bot', read: question.offset } });
    assert.equal(read.body.read, question.offset);
    await waitFor(() => ana.statusOf(question).state === 'read', 5000, 'the bot read it');

    assert.equal((await t.api('/v1/conversations/help/typing', { body: { from: 'bot', typing: true } })).status, 204);
    await waitFor(() => ana.typing.typers.includes('bot'), 5000, 'the bot to be typing');

    const grew: string[] = [];
    ana.on('draft', (d, done) => !done && grew.push(d.text));
    for (const chunk of ['About ', 'two ', 'minutes.']) {
      const r = await t.api('/v1/conversations/help/drafts/r-1', { body: { from: 'bot', text: chunk } });
      assert.equal(r.status, 202);
    }
    await waitFor(() => grew.length === 3, 5000, 'the draft to grow');
    assert.deepEqual(grew, ['About ', 'About two ', 'About two minutes.']);

    const final = await t.api('/v1/conversations/help/messages', {
      body: { from: 'bot', text: 'About two minutes.', clientId: 'r-1' },
    });
    assert.equal(final.status, 201);
    await waitFor(() => ana.messages.length === 2 && ana.drafts.size === 0, 5000, 'the final message');
    assert.equal(ana.messages[1]!.text, 'About two minutes.');
    await waitFor(() => ana.typing.typers.length === 0, 5000, 'typing cleared by the send');
  });

  it('refuses bad input with clear codes', async () => {
    await using t = await startNode();
    await group(t, 'g', ['ana', 'bob']);
    const ana = await t.token('ana', member);
    const eve = await t.token('eve', member);

    const notMember = await t.api('/v1/conversations/g/messages', { body: { text: 'hi' }, token: eve });
    assert.equal(notMember.body.code, 'not_member');
    const forged = await t.api('/v1/conversations/g/messages', { body: { from: 'bob', text: 'hi' }, token: ana });
    assert.equal(forged.body.code, 'member_mismatch');
    const keyWithoutFrom = await t.api('/v1/conversations/g/messages', { body: { text: 'hi' } });
    assert.equal(keyWithoutFrom.body.code, 'bad_request');
    const missing = await t.api('/v1/conversations/nope/messages', { body: { text: 'hi' }, token: ana });
    assert.equal(missing.body.code, 'not_found');
    const exists = await t.api('/v1/conversations', { body: { id: 'g', members: ['x'] } });
    assert.equal(exists.body.code, 'conversation_exists');
    const byToken = await t.api('/v1/conversations', { body: { members: ['x'] }, token: ana });
    assert.equal(byToken.status, 403);

    const s = await rawSession(t.url, ana);
    const sent = await s.request({ type: 'conversation.send', id: 1, conversation: 'g', text: 'hello' });
    assert.equal(sent.type, 'conversation.sent');
    const ahead = await s.request({ type: 'conversation.receipt', id: 2, conversation: 'g', read: 5 });
    assert.equal(ahead.code, 'invalid_receipt');
    const negative = await s.request({ type: 'conversation.receipt', id: 3, conversation: 'g', delivered: -1 });
    assert.equal(negative.code, 'invalid_receipt');
    const direct = await s.request({ type: 'publish', id: 4, topic: 'conv:g', data: { text: 'sneaky' } });
    assert.equal(direct.code, 'reserved_topic');
    const eveSession = await rawSession(t.url, eve);
    const peek = await eveSession.request({ type: 'subscribe', id: 1, topic: 'conv:g' });
    assert.equal(peek.code, 'not_member');
    const eveSend = await eveSession.request({ type: 'conversation.send', id: 2, conversation: 'g', text: 'x' });
    assert.equal(eveSend.code, 'not_member');
    const conflict = await s.request({ type: 'conversation.send', id: 5, conversation: 'g', text: 'a', clientId: 'k' });
    assert.equal(conflict.type, 'conversation.sent');
    const changed = await s.request({ type: 'conversation.send', id: 6, conversation: 'g', text: 'b', clientId: 'k' });
    assert.equal(changed.code, 'idempotency_conflict');

    // A typing flood: rate limited, fanned out at most once per refresh interval, connection kept.
    const bob = await rawSession(t.url, await t.token('bob', member));
    await bob.request({ type: 'subscribe', id: 1, topic: 'conv:g' });
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => s.request({ type: 'typing.start', id: 100 + i, topic: 'conv:g' })),
    );
    assert.ok(
      replies.some((r) => r.code === 'rate_limited'),
      'the flood is rate limited',
    );
    await sleep(100);
    const starts = bob.frames.filter((f) => f.kind === 'typing.start').length;
    assert.ok(starts <= 2, `${starts} typing signals reached bob for 300 starts`);
    const stillUp = await s.request({ type: 'conversation.get', id: 999, conversation: 'g' });
    assert.equal(stillUp.type, 'conversation.state');

    // A removed member is refused from then on.
    assert.equal((await t.api('/v1/conversations/g/members/bob', { method: 'DELETE' })).status, 204);
    const gone = await bob.request({ type: 'conversation.send', id: 2, conversation: 'g', text: 'still here?' });
    assert.equal(gone.code, 'not_member');
    assert.equal((await t.api('/v1/conversations/g/members/bob', { method: 'PUT' })).status, 204);
    const back = await bob.request({ type: 'conversation.send', id: 3, conversation: 'g', text: 'back' });
    assert.equal(back.type, 'conversation.sent');
  });
});
