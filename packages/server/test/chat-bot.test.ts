import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { exited, startNode, waitFor } from './helpers.js';

const bot = fileURLToPath(new URL('../../../examples/chat-bot/main.ts', import.meta.url));

describe('the example chat bot', () => {
  it('reads a message, shows typing, streams an answer computed from it, and sends it', async () => {
    await using t = await startNode();
    const created = await t.api('/v1/conversations', { body: { id: 'therapy', members: ['ana', 'eliza'] } });
    assert.equal(created.status, 201);
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', bot, 'therapy'], {
      env: { ...process.env, INLOOP_URL: t.url, INLOOP_API_KEY: t.node.apiKey, BOT_MEMBER: 'eliza' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitFor(() => output.includes('listening'), 20_000, 'the bot to start');
      const client = t.client(
        await t.token('ana', [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['conv:*'] }]),
      );
      const chat = client.conversation('therapy');
      const presence = client.presence('conv:therapy');
      const typing: string[][] = [];
      const drafts: string[] = [];
      chat.typing.on('change', (who) => typing.push([...who]));
      chat.on('draft', (d, done) => !done && drafts.push(d.text));
      await chat.ready();
      await waitFor(() => presence.members.has('eliza'), 5000, 'the bot to be present');
      assert.deepEqual(presence.members.get('eliza')!.meta, { name: 'Eliza', bot: true });

      const question = await chat.send('I feel tired of waiting for my export');
      await waitFor(() => chat.messages.some((m) => m.from === 'eliza'), 20_000, 'the answer');
      const answer = chat.messages.find((m) => m.from === 'eliza')!;

      assert.equal(chat.statusOf(question).state, 'read', 'the bot marked it read');
      assert.ok(
        typing.some((who) => who.includes('eliza')),
        'the bot showed typing',
      );
      assert.ok(drafts.length >= 3, `the answer grew in ${drafts.length} steps`);
      assert.equal(drafts.at(-1), answer.text, 'the last draft is the final text');
      for (let i = 1; i < drafts.length; i++) assert.ok(drafts[i]!.startsWith(drafts[i - 1]!), 'drafts only grow');
      // Computed from the message: first person reflected into second.
      assert.match(answer.text!, /tired of waiting for your export/);
      await waitFor(() => chat.typing.typers.length === 0, 5000, 'typing to clear');
      assert.equal(chat.drafts.size, 0);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
  });
});
