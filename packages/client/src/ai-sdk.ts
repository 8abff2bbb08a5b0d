import type { Json } from '@inloop/protocol';
import type { InloopClient } from './client.js';
import { InloopError } from './errors.js';
import type { StreamWatch } from './streams.js';
import type { JobWatch } from './jobs.js';

/**
 * An Inloop job as the resumable transport of the Vercel AI SDK's chat UI (`useChat` from
 * `@ai-sdk/react`, `Chat` from `ai`): each request starts a job, the answer is the job's text
 * stream, a reload resumes it through `reconnectToStream`, and the chat's `stop()` stops the
 * generation (the job is cancelled), while closing the tab does not.
 *
 * This module does not import `ai`: it speaks the transport's shape (`sendMessages`,
 * `reconnectToStream`, `resumeStreamIsReplay`) and the few `UIMessageChunk`s it needs, which `ai`
 * 5, 6 and 7 share. So the SDK needs no dependency on `ai` (whose version 7 asks for Node 22),
 * and an app brings whichever `ai` it uses.
 *
 * ```ts
 * const transport = inloopChatTransport({ client, jobType: 'chat.answer' });
 * const { messages, sendMessage, stop } = useChat({ id: chatId, transport, resume: true });
 * ```
 *
 * The job's handler gets `{ chatId, trigger, messageId, messages }` as input (or what `input`
 * makes of the request) and writes its answer to the stream `answer`:
 *
 * ```ts
 * node.jobs.handle('chat.answer', async (job, ctx) => {
 *   for await (const token of model.generate(job.input.messages, { signal: ctx.signal })) ctx.stream('answer').append(token);
 * });
 * ```
 */

/** The `UIMessageChunk`s this transport sends (a subset every `ai` version since 5 accepts). */
export type ChatChunk =
  | { type: 'start'; messageId?: string }
  | { type: 'text-start'; id: string }
  | { type: 'text-delta'; id: string; delta: string }
  | { type: 'text-end'; id: string }
  | { type: 'finish'; finishReason?: 'stop' }
  | { type: 'abort'; reason?: string }
  | { type: 'error'; errorText: string };

/** What `useChat` passes to `sendMessages` (the fields this transport reads). */
export interface ChatSendRequest {
  trigger: 'submit-message' | 'regenerate-message';
  chatId: string;
  messageId: string | undefined;
  messages: unknown[];
  abortSignal: AbortSignal | undefined;
  body?: object;
}

/** Where the running job of each chat is remembered between a request and a reload. */
export interface ChatJobStore {
  get(chatId: string): { job: string; token: string } | null;
  set(chatId: string, value: { job: string; token: string }): void;
  delete(chatId: string): void;
}

export interface InloopChatTransportOptions {
  client: InloopClient;
  /** The job type that answers (the client's token needs `job:create` for it). */
  jobType: string;
  /** The job's stream that holds the answer. @default 'answer' */
  stream?: string;
  /** The job's input, from the request. @default { chatId, trigger, messageId, messages, body } */
  input?: (request: ChatSendRequest) => Json;
  /**
   * Remembers each chat's running job so a reload can resume it. @default `sessionStorage` where
   * there is one (the job's read token stays in the tab), else memory
   */
  store?: ChatJobStore;
}

/** The transport: pass it to `useChat({ transport })` or `new Chat({ transport })`. */
export interface InloopChatTransport {
  /** Resuming replays the answer from its start, so the chat resets the message first (ai 7). */
  readonly resumeStreamIsReplay: true;
  sendMessages(request: ChatSendRequest): Promise<ReadableStream<ChatChunk>>;
  reconnectToStream(request: { chatId: string; abortSignal?: AbortSignal }): Promise<ReadableStream<ChatChunk> | null>;
}

function defaultStore(): ChatJobStore {
  const session = (globalThis as { sessionStorage?: Storage }).sessionStorage;
  if (session) {
    const key = (chatId: string) => `inloop-chat-job:${chatId}`;
    return {
      get: (chatId) => {
        const raw = session.getItem(key(chatId));
        return raw ? (JSON.parse(raw) as { job: string; token: string }) : null;
      },
      set: (chatId, value) => session.setItem(key(chatId), JSON.stringify(value)),
      delete: (chatId) => session.removeItem(key(chatId)),
    };
  }
  const memory = new Map<string, { job: string; token: string }>();
  return {
    get: (chatId) => memory.get(chatId) ?? null,
    set: (chatId, value) => void memory.set(chatId, value),
    delete: (chatId) => void memory.delete(chatId),
  };
}

/** Make the transport. See the module's comment for the handler's side. */
export function inloopChatTransport(options: InloopChatTransportOptions): InloopChatTransport {
  const { client, jobType } = options;
  const name = options.stream ?? 'answer';
  const store = options.store ?? defaultStore();
  const input =
    options.input ??
    ((r: ChatSendRequest): Json =>
      ({
        chatId: r.chatId,
        trigger: r.trigger,
        messageId: r.messageId ?? null,
        messages: r.messages,
        body: r.body ?? null,
      }) as unknown as Json);

  /** The answer as chunks: the text so far in one delta, then the rest, then how it ended. */
  async function chunks(chatId: string, job: string, token: string, signal?: AbortSignal) {
    const watch: JobWatch = await client.watchJob(job, { token });
    const stream: StreamWatch = watch.stream(name);
    const steps = stream[Symbol.asyncIterator]();
    const id = `${job}-${name}`;
    // The chat's stop() aborts the request: that is an explicit stop, for every tab. A page that
    // goes away never aborts, so the answer carries on and a reload picks it up.
    const onAbort = () => void stream.stop().catch(() => {});
    // Aborted while the job was being started or watched: stop it now.
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      signal?.removeEventListener('abort', onAbort);
      watch.close();
    };
    return new ReadableStream<ChatChunk>({
      start(controller) {
        controller.enqueue({ type: 'start', messageId: id });
        controller.enqueue({ type: 'text-start', id });
      },
      async pull(controller) {
        let step: IteratorResult<{ delta: string; reset?: true }>;
        try {
          step = await steps.next();
        } catch (err) {
          finish();
          controller.enqueue({ type: 'error', errorText: (err as Error).message || String(err) });
          controller.close();
          return;
        }
        if (!step.done && step.value.reset) {
          // The node lost the end of the text (a crash): chunks cannot take text back.
          finish();
          controller.enqueue({ type: 'error', errorText: 'the answer was cut short by the server; ask again' });
          controller.close();
          return;
        }
        if (!step.done) {
          if (step.value.delta) controller.enqueue({ type: 'text-delta', id, delta: step.value.delta });
          return;
        }
        controller.enqueue({ type: 'text-end', id });
        const end = stream.end;
        if (end === 'finished') controller.enqueue({ type: 'finish', finishReason: 'stop' });
        else if (end === 'stopped') controller.enqueue({ type: 'abort', reason: 'stopped' });
        else controller.enqueue({ type: 'error', errorText: end === 'failed' ? 'the answer failed' : 'watch ended' });
        store.delete(chatId);
        finish();
        controller.close();
      },
      cancel() {
        // The reader went away (the chat was disposed): stop watching, not the generation.
        finish();
      },
    });
  }

  return {
    resumeStreamIsReplay: true,
    async sendMessages(request) {
      const started = await client.startJob(jobType, input(request));
      store.set(request.chatId, { job: started.id, token: started.token });
      return chunks(request.chatId, started.id, started.token, request.abortSignal);
    },
    async reconnectToStream({ chatId, abortSignal }) {
      const running = store.get(chatId);
      if (!running) return null;
      try {
        return await chunks(chatId, running.job, running.token, abortSignal);
      } catch (err) {
        // The job is gone (removed by retention, or the token expired): nothing to resume.
        if (err instanceof InloopError && (err.code === 'not_found' || err.code === 'unauthorized')) {
          store.delete(chatId);
          return null;
        }
        throw err;
      }
    },
  };
}
