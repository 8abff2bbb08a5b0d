import {
  conversationTopic,
  deliveryState,
  type ConversationMessage,
  type ConversationReceiptReply,
  type ConversationSentMessage,
  type ConversationState,
  type ConversationStateMessage,
  type DeliveryState,
  type DraftSignal,
  type Json,
  type MessageBody,
  type MessageReceipts,
  type ReceiptWatermarks,
} from '@inloop/protocol';
import { Emitter } from './emitter.js';
import { InloopError } from './errors.js';
import type { ClientLink } from './link.js';
import type { Publication, Signal, Subscription } from './subscription.js';
import { TypingChannel, type TypingOptions } from './typing.js';

export interface ConversationOptions {
  /** Messages loaded from history when the conversation opens. @default 50 */
  history?: number;
  /** Send `delivered` receipts as messages reach this device. @default true */
  autoDeliver?: boolean;
  typing?: TypingOptions;
}

/** A reply being streamed by another member: the text so far. */
export interface Draft {
  clientId: string;
  from: string;
  text: string;
  seq: number;
}

/**
 * A message this client sent that the node has not acknowledged yet: shown as pending (a clock),
 * then replaced by the stored message ("sent"). `failed` once its send gave up (no
 * acknowledgement within 15 s, reconnects included); `retry()` sends it again under the same
 * client id.
 */
export interface PendingMessage {
  clientId: string;
  text?: string;
  data?: Json;
  /** When `send()` was called (ms since the epoch). */
  createdAt: number;
  state: 'pending' | 'failed';
  error?: InloopError;
}

/** Where a message stands: overall (the least advanced recipient) and per recipient. */
export interface MessageStatus {
  state: DeliveryState;
  recipients: { member: string; state: DeliveryState }[];
  counts: { recipients: number; delivered: number; read: number };
}

export type ConversationEvents = {
  /** The state was (re)loaded: after opening and after every reconnect. */
  ready: (state: ConversationState) => void;
  /** A message arrived (or was loaded from history), in offset order per batch. */
  message: (message: ConversationMessage) => void;
  /** A member's watermarks moved. */
  receipt: (watermarks: ReceiptWatermarks) => void;
  /** A member was added or removed (`members` changed): statuses count the members. */
  members: (members: readonly string[]) => void;
  /** The messages waiting for the node's acknowledgement changed (one was added, sent or failed). */
  pending: (pending: readonly PendingMessage[]) => void;
  /** A streamed reply grew, or ended (`done`: the final message is in `messages`). */
  draft: (draft: Draft, done: boolean) => void;
  error: (error: InloopError) => void;
};

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * One conversation, live: its messages in offset order, every member's receipts, drafts being
 * streamed, and who is typing (`typing`). Messages reaching this device are acknowledged as
 * `delivered` automatically; call `markRead()` when the user has seen them. Sends survive a
 * reconnect without duplicates (each carries a client id). After every reconnect the state is
 * reloaded, so receipts missed meanwhile are caught up.
 *
 * ```ts
 * const chat = client.conversation('support-42');
 * chat.on('message', (m) => render(m));
 * await chat.ready();
 * await chat.send('Hello!');
 * ```
 */
export class Conversation extends Emitter<ConversationEvents> {
  readonly topic: string;
  readonly typing: TypingChannel;
  /** Messages known to this client, by offset. */
  readonly messages: ConversationMessage[] = [];
  /** Every member's watermarks. */
  readonly receipts = new Map<string, ReceiptWatermarks>();
  /** Replies being streamed, by client id. */
  readonly drafts = new Map<string, Draft>();
  /** This client's sends not yet acknowledged, by client id, in the order sent. */
  readonly #outbox = new Map<string, PendingMessage>();
  members: string[] = [];
  latest = 0;
  state: ConversationState | undefined;
  #offsets = new Set<number>();
  #sub: Subscription;
  #offs: (() => void)[] = [];
  #ready: Promise<void>;
  #readyResolve!: () => void;
  #loadedOnce = false;
  #deliverTo = 0;
  #deliverTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    readonly id: string,
    private readonly link: ClientLink,
    private readonly options: ConversationOptions = {},
  ) {
    super();
    this.topic = conversationTopic(id);
    this.#ready = new Promise((r) => (this.#readyResolve = r));
    this.#sub = link.share(this.topic);
    this.typing = new TypingChannel(this.topic, link, options.typing);
    this.#offs.push(
      this.#sub.on('publication', (p) => this.#onPublication(p)),
      this.#sub.on('signal', (s) => this.#onSignal(s)),
      this.#sub.on('subscribed', () => void this.#load()),
      this.#sub.on('error', (e) => this.emit('error', e)),
    );
  }

  /** Resolves once the state and recent history are loaded. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** This client's member id. */
  get self(): string | undefined {
    return this.link.subject();
  }

  /** Messages after this member's read watermark. */
  get unread(): number {
    const self = this.self;
    const read = self === undefined ? 0 : (this.receipts.get(self)?.read ?? 0);
    return Math.max(0, this.latest - read);
  }

  /** Unread count of any member. */
  unreadOf(member: string): number {
    return Math.max(0, this.latest - (this.receipts.get(member)?.read ?? 0));
  }

  /**
   * Messages sent from this client and not yet acknowledged, oldest first: show them in the list
   * as pending. Each leaves the list when the node stores it (it is then in `messages`).
   */
  get pending(): readonly PendingMessage[] {
    return [...this.#outbox.values()];
  }

  /**
   * Send a message; resolves with it as stored ("sent"). Until then it is in `pending`, also
   * while the connection is down: it is sent once connected. The client id makes every resend
   * (after a reconnect, or `retry()`) the same message on the node, never a second one.
   */
  async send(
    content: string | { text?: string; data?: Json },
    options: { clientId?: string } = {},
  ): Promise<ConversationMessage> {
    const body = typeof content === 'string' ? { text: content } : content;
    const clientId = options.clientId ?? randomId();
    this.#outbox.set(clientId, { clientId, ...body, createdAt: Date.now(), state: 'pending' });
    this.emit('pending', this.pending);
    return this.#sendPending(clientId, body);
  }

  /** Send a failed pending message again, under its client id. */
  retry(clientId: string): Promise<ConversationMessage> {
    const p = this.#outbox.get(clientId);
    if (!p) return Promise.reject(new InloopError('not_found', 'no such pending message'));
    const body = {
      ...(p.text === undefined ? {} : { text: p.text }),
      ...(p.data === undefined ? {} : { data: p.data }),
    };
    this.#outbox.set(clientId, { clientId, ...body, createdAt: p.createdAt, state: 'pending' });
    this.emit('pending', this.pending);
    return this.#sendPending(clientId, body);
  }

  async #sendPending(clientId: string, body: { text?: string; data?: Json }): Promise<ConversationMessage> {
    let reply: ConversationSentMessage;
    try {
      reply = await this.link.request<ConversationSentMessage>(
        { type: 'conversation.send', conversation: this.id, ...body, clientId },
        { resend: true },
      );
    } catch (err) {
      const error = err instanceof InloopError ? err : new InloopError('unavailable', (err as Error).message);
      const p = this.#outbox.get(clientId);
      if (p) {
        this.#outbox.set(clientId, { ...p, state: 'failed', error });
        this.emit('pending', this.pending);
      }
      throw error;
    }
    this.typing.sent();
    this.#add([reply.message]);
    return reply.message;
  }

  /**
   * Stream a reply: `append` text as it is produced (members see it grow), then `end` sends the
   * final message under the same client id, replacing the draft everywhere.
   */
  stream(clientId: string = randomId()): {
    append(text: string): Promise<void>;
    end(text?: string): Promise<ConversationMessage>;
  } {
    let text = '';
    return {
      append: async (chunk: string) => {
        text += chunk;
        await this.link.request({ type: 'conversation.draft', conversation: this.id, clientId, text: chunk });
      },
      end: (final?: string) => this.send(final ?? text, { clientId }),
    };
  }

  /** Mark everything up to `offset` (default: the latest message) read. */
  async markRead(offset: number = this.latest): Promise<void> {
    if (offset <= 0) return;
    const self = this.self;
    if (self !== undefined && (this.receipts.get(self)?.read ?? 0) >= offset) return;
    const reply = await this.link.request<ConversationReceiptReply>(
      { type: 'conversation.receipt', conversation: this.id, read: offset },
      { resend: true },
    );
    this.#setReceipt(reply.receipt);
  }

  /** Where `message` stands with each recipient, from the watermarks this client holds. */
  statusOf(message: Pick<ConversationMessage, 'offset' | 'from'>): MessageStatus {
    const recipients = this.members
      .filter((m) => m !== message.from)
      .map((member) => {
        const w = this.receipts.get(member) ?? { delivered: 0, read: 0 };
        return { member, state: deliveryState(message.offset, w) };
      });
    const delivered = recipients.filter((r) => r.state !== 'sent').length;
    const read = recipients.filter((r) => r.state === 'read').length;
    const state: DeliveryState =
      recipients.length > 0 && read === recipients.length
        ? 'read'
        : recipients.length > 0 && delivered === recipients.length
          ? 'delivered'
          : 'sent';
    return { state, recipients, counts: { recipients: recipients.length, delivered, read } };
  }

  /** A message's state per recipient with exact times, from the node. */
  details(offset: number): Promise<MessageReceipts> {
    return this.link.http('GET', `/v1/conversations/${encodeURIComponent(this.id)}/messages/${offset}`);
  }

  /** Stop following the conversation. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#deliverTimer);
    for (const off of this.#offs) off();
    this.typing.close();
    this.link.release(this.#sub);
  }

  /** Load the state (receipts, latest) and, the first time, recent history. */
  async #load(): Promise<void> {
    try {
      const { conversation: state } = await this.link.request<ConversationStateMessage>({
        type: 'conversation.get',
        conversation: this.id,
      });
      if (this.#closed) return;
      this.state = state;
      this.members = state.members.map((m) => m.member);
      for (const m of state.members) this.#setReceipt(m, false);
      this.latest = Math.max(this.latest, state.latest);
      if (!this.#loadedOnce) {
        this.#loadedOnce = true;
        const limit = this.options.history ?? 50;
        // A page is bounded in bytes as well as count: follow its cursor up to the latest message.
        let after = Math.max(0, state.latest - limit);
        for (let pages = 0; limit > 0 && after < state.latest && pages < limit; pages++) {
          const page = await this.link.http<{ messages: ConversationMessage[]; more?: boolean; next?: number }>(
            'GET',
            `/v1/conversations/${encodeURIComponent(this.id)}/messages?after=${after}&limit=${limit}`,
          );
          this.#add(page.messages);
          if (!page.more || page.next === undefined || page.next <= after) break;
          after = page.next;
        }
      }
      this.emit('ready', state);
      this.#readyResolve();
    } catch (err) {
      this.emit('error', err instanceof InloopError ? err : new InloopError('unavailable', (err as Error).message));
    }
  }

  #onPublication(p: Publication): void {
    if (p.offset === undefined || p.epoch === undefined) return;
    const body = p.data as unknown as MessageBody;
    this.#add([{ ...body, conversation: this.id, epoch: p.epoch, offset: p.offset, from: p.from, ts: p.ts }]);
  }

  /** Insert messages in offset order, once each; acknowledge delivery of others' messages. */
  #add(messages: readonly ConversationMessage[]): void {
    let deliver = 0;
    for (const m of messages) {
      if (this.#offsets.has(m.offset)) continue;
      this.#offsets.add(m.offset);
      let i = this.messages.length;
      while (i > 0 && this.messages[i - 1]!.offset > m.offset) i--;
      this.messages.splice(i, 0, m);
      this.latest = Math.max(this.latest, m.offset);
      if (m.clientId !== undefined && this.#outbox.delete(m.clientId)) this.emit('pending', this.pending);
      if (m.clientId !== undefined) {
        const draft = this.drafts.get(m.clientId);
        if (draft) {
          this.drafts.delete(m.clientId);
          this.emit('draft', draft, true);
        }
      }
      this.typing.clear(m.from);
      if (m.from !== this.self) deliver = Math.max(deliver, m.offset);
      this.emit('message', m);
    }
    if (deliver > 0 && this.options.autoDeliver !== false) this.#deliver(deliver);
  }

  /** Coalesce delivered receipts: one request for everything that arrived in this turn. */
  #deliver(offset: number): void {
    const self = this.self;
    if (self !== undefined && (this.receipts.get(self)?.delivered ?? 0) >= offset) return;
    this.#deliverTo = Math.max(this.#deliverTo, offset);
    if (this.#deliverTimer !== undefined) return;
    this.#deliverTimer = setTimeout(() => {
      this.#deliverTimer = undefined;
      const to = this.#deliverTo;
      this.link
        .request<ConversationReceiptReply>(
          { type: 'conversation.receipt', conversation: this.id, delivered: to },
          { resend: true },
        )
        .then((r) => this.#setReceipt(r.receipt))
        .catch((err: unknown) => {
          if (err instanceof InloopError && err.code !== 'unavailable') this.emit('error', err);
        });
    }, 0);
  }

  #onSignal(s: Signal): void {
    if (s.kind === 'member.added' || s.kind === 'member.removed') {
      const had = this.members.includes(s.from);
      if (s.kind === 'member.added' && !had) this.members = [...this.members, s.from];
      else if (s.kind === 'member.removed' && had) {
        this.members = this.members.filter((m) => m !== s.from);
        this.receipts.delete(s.from);
      } else return;
      this.emit('members', this.members);
    } else if (s.kind === 'receipt.delivered' || s.kind === 'receipt.read') {
      this.#setReceipt(s.data as unknown as ReceiptWatermarks);
    } else if (s.kind === 'message.draft') {
      const d = s.data as unknown as DraftSignal;
      const old = this.drafts.get(d.clientId);
      if (old && old.seq >= d.seq) return;
      if (this.#hasClientId(d.clientId)) return;
      const draft = { clientId: d.clientId, from: s.from, text: d.text, seq: d.seq };
      this.drafts.set(d.clientId, draft);
      this.emit('draft', draft, false);
    }
  }

  #hasClientId(clientId: string): boolean {
    for (let i = this.messages.length - 1; i >= 0 && i >= this.messages.length - 20; i--) {
      if (this.messages[i]!.clientId === clientId) return true;
    }
    return false;
  }

  /** Keep the highest watermarks seen: receipts may arrive late or twice. */
  #setReceipt(w: ReceiptWatermarks, announce = true): void {
    const old = this.receipts.get(w.member);
    if (old && old.delivered >= w.delivered && old.read >= w.read) return;
    const next: ReceiptWatermarks = {
      member: w.member,
      delivered: Math.max(old?.delivered ?? 0, w.delivered),
      deliveredAt: (old?.delivered ?? 0) >= w.delivered ? (old?.deliveredAt ?? null) : w.deliveredAt,
      read: Math.max(old?.read ?? 0, w.read),
      readAt: (old?.read ?? 0) >= w.read ? (old?.readAt ?? null) : w.readAt,
    };
    this.receipts.set(w.member, next);
    if (announce) this.emit('receipt', next);
  }
}
