/**
 * The demo: an Inloop node on its embedded default (SQLite under .inloop/), serving the demo pages
 * at `/`, with the story-book and opaque-work job types and the ELIZA bot in the lobby chat.
 * `npm start` at the repository root builds everything and runs this.
 */
import WebSocket from 'ws';
import { startBot, type Bot } from '@inloop/example-chat-bot';
import { run } from '@inloop/server';
import { BOT, LOBBY, setupDemo } from './demo.js';

let bot: Bot | undefined;
await run({
  extend: setupDemo,
  async started(node) {
    bot = await startBot({
      url: node.url,
      token: async () =>
        (
          await node.mintToken(
            BOT,
            [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['conv:*'] }],
            3600,
          )
        ).token,
      conversations: [LOBBY],
      WebSocket,
      // Slower words let the browser tests reload and stop mid-answer.
      ...(Number(process.env.DEMO_BOT_WORD_MS) > 0 ? { wordDelayMs: Number(process.env.DEMO_BOT_WORD_MS) } : {}),
    });
    process.stdout.write(`Demo: open ${node.url.replace('127.0.0.1', 'localhost')}/ in a browser\n`);
  },
  stopping: () => bot?.close(),
});
