import {
  createClient,
  InloopError,
  type Conversation,
  type InloopClient,
  type StreamWatch,
  type TokenSource,
} from '@inloop/client';
import type { ConversationMessage } from '@inloop/protocol';
import { Eliza } from './eliza.js';

export interface BotOptions {
  /** The node, `http://host:port`. */
  url: string;
  /** The bot's member token (subject = its member id, scoped to `conv:*`). */
  token: TokenSource;
  /** Conversations to take part in (the bot must be a member). */
  conversations: string[];
  /** A WebSocket implementation on Node 20 (the `ws` package). */
  WebSocket?: unknown;
  /** Delay between streamed words, so people can read along. @default 90 */
  wordDelayMs?: number;
  /** Presence metadata. @default { name: 'Eliza', bot: true } */
  meta?: Record<string, string | boolean>;
}

export interface Bot {
  readonly client: InloopClient;
  /** Replies sent so far. */
  readonly replies: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Take part in conversations as an ELIZA-style therapist. For each message from someone else it
 * marks the message read, shows typing while it composes, streams the answer word by word as a
 * draft, and sends the final message under the draft's client id, which replaces the draft.
 * Messages are answered one at a time, in order, per conversation.
 */
export async function startBot(options: BotOptions): Promise<Bot> {
  const client = createClient({
    url: options.url,
    token: options.token,
    ...(options.WebSocket ? { WebSocket: options.WebSocket as never } : {}),
  });
  await client.connect();
  let replies = 0;
  const open: Conversation[] = [];
  for (const id of options.conversations) {
    const chat = client.conversation(id, { history: 0 });
    open.push(chat);
    client.presence(chat.topic, { meta: options.meta ?? { name: 'Eliza', bot: true }, device: 'bot' });
    const eliza = new Eliza();
    let queue = Promise.resolve();
    let live = false;
    chat.on('ready', () => (live = true));
    chat.on('message', (m) => {
      if (!live || m.from === client.subject || m.text === undefined) return;
      queue = queue.then(() => answer(chat, eliza, m)).catch(() => {});
    });
    await chat.ready();
  }

  async function answer(chat: Conversation, eliza: Eliza, m: ConversationMessage): Promise<void> {
    await chat.markRead(m.offset);
    chat.typing.keystroke();
    const reply = eliza.respond(m.text ?? '');
    // The draft chunks are the message's stream (`conv:<id>/<clientId>`): members who reload
    // mid-answer get the text so far from it, and any member can stop it. The bot watches its
    // own stream to hear a stop, and then sends what it had written.
    const clientId = `eliza-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const stream = chat.stream(clientId);
    let stopped = false;
    let own: StreamWatch | undefined;
    const words = reply.split(' ');
    let written = '';
    try {
      for (let i = 0; i < words.length && !stopped; i++) {
        const word = i === 0 ? words[i]! : ` ${words[i]}`;
        await stream.append(word);
        written += word;
        if (!own) {
          // Watched once it exists (a message's stream is made by its first chunk).
          own = client.watchStream({ conversation: chat.id, message: clientId });
          own.on('end', (reason) => (stopped ||= reason === 'stopped'));
        }
        await sleep(options.wordDelayMs ?? 90);
      }
    } catch (err) {
      // A stopped stream refuses further chunks.
      if (!(err instanceof InloopError && err.code === 'stream_ended')) throw err;
      stopped = true;
    } finally {
      own?.close();
    }
    await stream.end(stopped && own?.text ? own.text : written);
    replies++;
  }

  return {
    client,
    get replies() {
      return replies;
    },
    async close() {
      for (const chat of open) chat.close();
      await client.close();
    },
  };
}
