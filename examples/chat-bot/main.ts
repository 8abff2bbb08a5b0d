/**
 * Run the ELIZA bot in one or more conversations. It needs the node's API key only to mint its
 * own short-lived member token (a real deployment would get the token from its backend).
 *
 *   INLOOP_URL=http://127.0.0.1:8080 INLOOP_API_KEY=$(cat .inloop/api-key) \
 *     npm start -w examples/chat-bot -- support-1 support-2
 *
 * BOT_MEMBER sets its member id (default `eliza`); it must be a member of each conversation.
 */
import WebSocket from 'ws';
import { startBot } from './bot.js';

const url = process.env.INLOOP_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.INLOOP_API_KEY;
const member = process.env.BOT_MEMBER ?? 'eliza';
const conversations = process.argv.slice(2);
if (!apiKey) throw new Error('set INLOOP_API_KEY (the node prints it on first start; it is in .inloop/api-key)');
if (conversations.length === 0) throw new Error('name at least one conversation id');

async function token(): Promise<string> {
  const res = await fetch(`${url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      subject: member,
      ttlSeconds: 900,
      scopes: [{ ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['conv:*'] }],
    }),
  });
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

const bot = await startBot({ url, token, conversations, WebSocket });
process.stdout.write(`${member}: listening in ${conversations.join(', ')}\n`);
const stop = () => void bot.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
