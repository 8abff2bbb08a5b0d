/// <reference lib="esnext.disposable" preserve="true" />
// The client is `AsyncDisposable`: its declarations carry the lib that types it, so apps need no `lib` setting.
import {
  closeAction,
  decodeServerFrame,
  isErrorCode,
  type ClientMessage,
  type JobSnapshot,
  type Json,
  type Position,
  type ServerMessage,
  type StreamRef,
  type StreamServerMessage,
} from '@inloop/protocol';
import { RetrySchedule, type BackoffOptions } from './backoff.js';
import { Conversation, type ConversationOptions } from './conversation.js';
import { JobWatch, jobTopic, type StartedJob, type StartJobOptions } from './jobs.js';
import type { ClientLink, Request } from './link.js';
import { browserNetwork, type NetworkEvent, type NetworkSignals } from './network.js';
import { PresenceChannel, type PresenceOptions } from './presence.js';
import { StreamTable, type StreamWatch, type WatchStreamOptions } from './streams.js';
import { TypingChannel, type TypingOptions } from './typing.js';
import { Emitter } from './emitter.js';
import { InloopError } from './errors.js';
import type { ConnectionState, StateChange, StateReason } from './state.js';
import { SubscriptionTable, type HistoryPage, type SubscriptionWire } from './shared-subscriptions.js';
import type { Subscription } from './subscription.js';
import { refreshDelay, tokenExpiry, type TokenSource } from './token.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket-like.js';

export interface ClientOptions {
  /** The node's base URL, `http(s)://host:port`; the WebSocket endpoint is derived from it. */
  url: string;
  /** A client token, or a function returning one (called on every connect and before expiry). */
  token: TokenSource;
  /** WebSocket implementation. @default globalThis.WebSocket (pass `ws` on Node 20) */
  WebSocket?: WebSocketConstructor;
  /** Reconnect delays (see `backoffDelay`). */
  backoff?: BackoffOptions;
  /**
   * What the runtime says about the network: `online` and a page shown again start an attempt at
   * once, `offline` slows attempts down. @default the browser's `window`/`document` events; none on Node.
   * Pass `false` to ignore them.
   */
  network?: NetworkSignals | false;
  /**
   * How long a publish waits for its acknowledgement while connected. Time spent disconnected
   * does not count: a stored publish made offline stays pending until the client is back, is
   * sent again then (with its idempotency key, so it lands once), and fails only if the node
   * does not acknowledge it within this long of being connected. @default 15_000
   */
  publishTimeoutMs?: number;
  /**
   * How long an attempt may take to reach `connected` (socket open and the node's reply). While
   * an outage is young (`backoff.youngOutageMs`), an attempt gets at most 4 s, so one lost in a
   * network that drops packets silently does not hold up the next. @default 10_000
   */
  connectTimeoutMs?: number;
  /** fetch implementation, for the HTTP calls (jobs). @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * How long a presence stays after its last holder left before the node is told: a rejoin within
   * it (a remount, a quick route change) is not seen by anyone. @default 1000
   */
  presenceLeaveGraceMs?: number;
}

export interface PublishOptions {
  /** Deliver live only; never stored, no offset. Fails at once while disconnected. */
  ephemeral?: boolean;
  /** Defaults to a random key per call, so the SDK's own resends after a reconnect are never duplicated. */
  idempotencyKey?: string;
}

export interface PublishResult {
  epoch?: string;
  offset?: number;
  duplicate: boolean;
}

export interface SubscribeOptions {
  /** Resume after this position (e.g. saved from an earlier session). */
  since?: Position;
  /** A token for this subscription alone, when the connection's token does not cover the topic. */
  token?: string;
}

export type ClientEvents = {
  state: (change: StateChange) => void;
  /** A connection-level error from the node (no request to attach it to). */
  error: (error: InloopError) => void;
};

interface Pending {
  frame: ClientMessage;
  resolve: (message: ServerMessage) => void;
  reject: (error: InloopError) => void;
  /** Sent again after a reconnect (stored publishes); otherwise failed on disconnect. */
  resend: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Of its timeout, what is left, and since when the timer runs (it runs while connected). */
  leftMs: number;
  armedAt: number;
}

function randomKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * The Inloop client: one WebSocket, many topic subscriptions, publishes with acknowledgements.
 * It reconnects with jittered backoff, resubscribes from each subscription's last position,
 * resends unacknowledged publishes under their idempotency keys, and refreshes its token in band.
 *
 * ```ts
 * const client = createClient({ url: 'http://localhost:8080', token: () => fetchToken() });
 * const sub = client.subscribe('room:42');
 * sub.on('publication', (p) => render(p.data));
 * await client.publish('room:42', { text: 'hi' });
 * ```
 */
export class InloopClient extends Emitter<ClientEvents> implements AsyncDisposable {
  #state: ConnectionState = 'idle';
  #ws: WebSocketLike | null = null;
  readonly #schedule: RetrySchedule;
  /** Bumped by every attempt, so a token fetched for an abandoned one is not used. */
  #run = 0;
  #everConnected = false;
  readonly #network: NetworkSignals | undefined;
  #unlistenNetwork: (() => void) | undefined;
  #nextId = 1;
  #token: string | undefined;
  readonly #presences = new Map<string, PresenceChannel>();
  readonly #connectHooks = new Set<() => void>();
  readonly #disconnectHooks = new Set<() => void>();
  #subject: string | undefined;
  readonly #helpers = new Set<{ close(): void }>();
  readonly #pending = new Map<number, Pending>();
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #readyWaiters: { resolve: () => void; reject: (e: InloopError) => void }[] = [];
  #error: InloopError | undefined;
  readonly #WebSocket: WebSocketConstructor;
  readonly #wsUrl: string;

  constructor(private readonly options: ClientOptions) {
    super();
    const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!ctor) throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. the ws package)');
    this.#WebSocket = ctor;
    this.#wsUrl = options.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/ws';
    this.#schedule = new RetrySchedule(options.backoff);
    this.#network = options.network === false ? undefined : (options.network ?? browserNetwork());
  }

  /**
   * Where the connection stands: `idle`, `connecting`, `connected`, `reconnecting`, `offline` or
   * `closed` (see `ConnectionState`). Every change is a `state` event with a typed reason.
   */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Who this connection speaks for (the token's subject), once connected. */
  get subject(): string | undefined {
    return this.#subject;
  }

  /** Why the client stopped for good (a refused token, say), once `closed`. */
  get error(): InloopError | undefined {
    return this.#error;
  }

  /** Start connecting (idempotent). Resolves once connected; rejects if the client stops for good. */
  connect(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new InloopError('unavailable', 'client is closed'));
    const ready =
      this.#state === 'connected'
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
    if (this.#state === 'idle') void this.#open({ code: 'connect_requested', message: 'connect() called' });
    return ready;
  }

  /**
   * Subscribe to a topic; resubscribed from its last position after every reconnect. Every call
   * returns its own `Subscription`, and all of them share one subscription on the node, counted:
   * `unsubscribe()` ends this one alone, and the node is told once the last one is gone. A late
   * subscriber with `since` gets what it missed from the publications the topic already delivered
   * (the last 64), else from stored history over HTTP (its token needs `history`) before anything
   * live, in order; if history cannot fill the range (trimmed, refused), a `reset`.
   */
  subscribe(topic: string, options: SubscribeOptions = {}): Subscription {
    if (this.#state === 'idle') void this.connect().catch(() => {});
    if (this.#state === 'closed') {
      const sub = this.#table.acquire(topic, options);
      queueMicrotask(() => sub.handleEnd(this.#error ?? new InloopError('unavailable', 'client is closed')));
      return sub;
    }
    return this.#table.acquire(topic, options);
  }

  /** How the shared subscriptions reach the node. */
  readonly #wire: SubscriptionWire = {
    ready: () => this.#state === 'connected' && this.#ws?.readyState === OPEN,
    subscribe: (topic, since, token, failed) => {
      const id = this.#nextId++;
      const frame: ClientMessage = {
        type: 'subscribe',
        id,
        topic,
        ...(since ? { since } : {}),
        ...(token === undefined ? {} : { token }),
      };
      this.#request(frame, false, 30_000).catch(failed);
      return id;
    },
    unsubscribe: (topic, done) => {
      this.#request({ type: 'unsubscribe', id: this.#nextId++, topic }, false, 15_000).then(done, done);
    },
    history: (topic, after, token) =>
      this.#http<HistoryPage>(
        'GET',
        `/v1/topics/${encodeURIComponent(topic)}/messages?after=${after}&limit=1000`,
        undefined,
        token,
      ),
  };

  readonly #table = new SubscriptionTable(this.#wire);

  /** Publish; resolves with the stored position once the node has it on disk (or at once for ephemeral). */
  publish(topic: string, data: Json, options: PublishOptions = {}): Promise<PublishResult> {
    const id = this.#nextId++;
    const frame: ClientMessage = options.ephemeral
      ? { type: 'publish', id, topic, data, ephemeral: true }
      : { type: 'publish', id, topic, data, idempotencyKey: options.idempotencyKey ?? randomKey() };
    if (options.ephemeral && this.#state !== 'connected') {
      return Promise.reject(new InloopError('unavailable', 'not connected; ephemeral publications are not queued'));
    }
    if (this.#state === 'idle') void this.connect().catch(() => {});
    return this.#request(frame, !options.ephemeral, this.options.publishTimeoutMs ?? 15_000).then((m) => {
      const ack = m as Extract<ServerMessage, { type: 'ack' }>;
      return {
        duplicate: ack.duplicate === true,
        ...(ack.epoch === undefined ? {} : { epoch: ack.epoch }),
        ...(ack.offset === undefined ? {} : { offset: ack.offset }),
      };
    });
  }

  // -- presence, typing, conversations --------------------------------------------------------

  /** What the presence, typing and conversation helpers use of this client. */
  readonly #link: ClientLink = {
    request: <T extends ServerMessage>(frame: Request, o: { resend?: boolean; timeoutMs?: number } = {}) => {
      if (this.#state === 'closed') return Promise.reject(new InloopError('unavailable', 'client is closed'));
      if (this.#state === 'idle') void this.connect().catch(() => {});
      const full = { ...frame, id: this.#nextId++ } as ClientMessage & { id: number };
      return this.#request(full, o.resend ?? false, o.timeoutMs ?? 15_000) as Promise<T>;
    },
    subject: () => this.#subject,
    share: (topic, since) => this.subscribe(topic, since ? { since } : {}),
    release: (sub) => sub.unsubscribe(),
    onConnected: (fn) => {
      this.#connectHooks.add(fn);
      if (this.#state === 'connected') fn();
      else if (this.#state === 'idle') void this.connect().catch(() => {});
      return () => this.#connectHooks.delete(fn);
    },
    onDisconnected: (fn) => {
      this.#disconnectHooks.add(fn);
      return () => this.#disconnectHooks.delete(fn);
    },
    connected: () => this.#state === 'connected',
    http: (method, path, body) => this.#http(method, path, body),
  };

  /**
   * Presence on a topic: join as this token's subject (or only watch, with `join: false`) and
   * follow who is here. Rejoins after every reconnect. Calls for a topic already open share its
   * channel (the first call's options hold); each call is matched by one `leave()`.
   */
  presence(topic: string, options: PresenceOptions = {}): PresenceChannel {
    const open = this.#presences.get(topic);
    if (open) {
      open.retain();
      return open;
    }
    const grace = this.options.presenceLeaveGraceMs ?? 1000;
    const channel = new PresenceChannel(
      topic,
      this.#link,
      options,
      (c) => {
        if (this.#presences.get(topic) === c) this.#presences.delete(topic);
      },
      grace,
    );
    this.#presences.set(topic, channel);
    return channel;
  }

  /** Typing on a topic: `keystroke()` on key presses; `typers` is who else is typing. */
  typing(topic: string, options: TypingOptions = {}): TypingChannel {
    return this.#helper(new TypingChannel(topic, this.#link, options));
  }

  /** A conversation, live: messages, receipts, drafts, typing; `send()` and `markRead()`. */
  conversation(id: string, options: ConversationOptions = {}): Conversation {
    return this.#helper(new Conversation(id, this.#link, options));
  }

  readonly #streams = new StreamTable(this.#link);

  /**
   * Watch a stream of a job (`{ job, name }`) or of a conversation message
   * (`{ conversation, message: clientId }`): the text so far in one piece, then what is added,
   * resumed after every reconnect from the offset it holds (docs/streams.md). Watches of one
   * stream share one watch on the node.
   */
  watchStream(ref: StreamRef, options: WatchStreamOptions = {}): StreamWatch {
    if (this.#state === 'idle') void this.connect().catch(() => {});
    return this.#streams.watch(ref, options);
  }

  /** Helpers are closed with the client, so none of their timers outlive it. */
  #helper<T extends { close(): void }>(helper: T): T {
    this.#helpers.add(helper);
    return helper;
  }

  // -- jobs -----------------------------------------------------------------------------------

  async #http<T>(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const doFetch = this.options.fetch ?? globalThis.fetch;
    const res = await doFetch(this.options.url.replace(/\/$/, '') + path, {
      method,
      headers: {
        authorization: `Bearer ${token ?? (await this.#token_())}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const parsed: unknown = await res.json().catch(() => null);
    if (!res.ok) throw InloopError.fromProblem(res.status, parsed);
    return parsed as T;
  }

  /** Start a job (the client's token needs `job:create` for the type). Answers at once, with a read token for the job. */
  startJob(type: string, input: Json = null, options: StartJobOptions = {}): Promise<StartedJob> {
    return this.#http<StartedJob>(
      'POST',
      '/v1/jobs',
      { type, input, ...(options.size ? { size: options.size } : {}) },
      undefined,
      options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {},
    );
  }

  /** The job's current snapshot. */
  jobSnapshot(id: string, options: { token?: string } = {}): Promise<JobSnapshot> {
    return this.#http<JobSnapshot>('GET', `/v1/jobs/${encodeURIComponent(id)}`, undefined, options.token);
  }

  /**
   * Watch a job live over this connection: the snapshot first, then every event, through
   * reconnects. `token` is the job's read token (from `startJob`) unless the client's own covers it.
   */
  async watchJob(id: string, options: { token?: string } = {}): Promise<JobWatch> {
    const snapshot = await this.jobSnapshot(id, options);
    const sub = this.subscribe(jobTopic(id), {
      since: { epoch: snapshot.epoch, offset: snapshot.offset },
      ...(options.token === undefined ? {} : { token: options.token }),
    });
    return new JobWatch(
      snapshot,
      sub,
      () => this.jobSnapshot(id, options),
      (name) => this.watchStream({ job: id, name }, options.token === undefined ? {} : { token: options.token }),
    );
  }

  /** Cancel a job. */
  cancelJob(
    id: string,
    options: { token?: string } = {},
  ): Promise<{ id: string; status: string; cancelRequested: boolean }> {
    return this.#http('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, undefined, options.token);
  }

  /** Drop the connection cleanly and reconnect at once (subscriptions resume). */
  reconnect(): void {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    const ws = this.#ws;
    this.#detach(ws);
    ws?.close(1000, 'reconnect');
    void this.#open({ code: 'reconnect_requested', message: 'reconnect() called' });
  }

  /** Close for good: pending publishes fail, subscriptions end. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    for (const helper of this.#helpers) helper.close();
    this.#helpers.clear();
    const ws = this.#ws;
    this.#detach(ws);
    ws?.close(1000, 'client closed');
    this.#stop({ code: 'client_closed', message: 'close() called' }, new InloopError('unavailable', 'client closed'));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -- connection lifecycle -------------------------------------------------------------------

  /** Emitted on a change of state, and on every scheduled retry (with its `retryInMs`). */
  #setState(to: ConnectionState, reason: StateReason, retryInMs?: number): void {
    const from = this.#state;
    if (from === to && retryInMs === undefined) return;
    this.#state = to;
    if (from === 'connected') for (const hook of [...this.#disconnectHooks]) hook();
    this.emit('state', { from, to, reason, ...(retryInMs === undefined ? {} : { retryInMs }) });
  }

  async #token_(): Promise<string> {
    const source = this.options.token;
    if (typeof source === 'string') return source;
    if (this.#token !== undefined) return this.#token;
    return (this.#token = await source());
  }

  /** Not connected, waiting or trying: `offline` when the browser says so, else `reconnecting`. */
  #waiting(): ConnectionState {
    return this.#network && !this.#network.online() ? 'offline' : 'reconnecting';
  }

  async #open(reason: StateReason): Promise<void> {
    clearTimeout(this.#reconnectTimer);
    if (!this.#unlistenNetwork && this.#network) {
      this.#unlistenNetwork = this.#network.listen((event) => this.#onNetwork(event));
    }
    const first = !this.#everConnected && this.#schedule.attempt === 0;
    this.#setState(first ? 'connecting' : this.#waiting(), reason);
    const run = ++this.#run;
    let token: string;
    try {
      token = await this.#token_();
    } catch (err) {
      if (run !== this.#run || this.#state === 'closed') return;
      return this.#retry({ code: 'token_fetch_failed', message: (err as Error).message ?? 'token fetch failed' });
    }
    if (run !== this.#run || this.#state === 'closed' || this.#state === 'connected') return;
    const ws = new this.#WebSocket(this.#wsUrl);
    this.#ws = ws;
    const limit = this.options.connectTimeoutMs ?? 10_000;
    const young = this.#schedule.inOutage && this.#schedule.outageMs < (this.options.backoff?.youngOutageMs ?? 10_000);
    this.#connectTimer = setTimeout(() => this.#abandon(ws), young ? Math.min(limit, 4000) : limit);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connect', token }));
    ws.onmessage = (ev) => this.#onFrame(typeof ev.data === 'string' ? ev.data : String(ev.data));
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {};
  }

  #onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#detach(ws);
    if (this.#state === 'closed') return;
    const action = closeAction(code);
    const server = code >= 4000 && code <= 4999;
    const why: StateReason = server
      ? { code: 'server_closed', closeCode: code, message: reason || `closed by node (${code})` }
      : { code: 'transport_closed', closeCode: code, message: reason || `connection closed (${code})` };
    if (action === 'stop' || (action === 'refresh-and-reconnect' && typeof this.options.token === 'string')) {
      const error = new InloopError(
        code === 4403 ? 'origin_not_allowed' : code === 4100 ? 'token_expired' : 'unauthorized',
        why.message,
      );
      return this.#stop({ ...why, code: code >= 4400 ? 'unauthorized' : why.code }, error);
    }
    if (action === 'refresh-and-reconnect') this.#token = undefined;
    // A close the node chose (a shutdown, a slow consumer) skips the free first attempt: all of
    // its clients coming back in the same instant is the herd the jitter is there to spread.
    this.#retry(why, !server);
  }

  /** An attempt that did not reach `connected` in time: drop it and try again. */
  #abandon(ws: WebSocketLike): void {
    if (ws !== this.#ws || this.#state === 'connected' || this.#state === 'closed') return;
    this.#detach(ws);
    ws.close();
    this.#retry({ code: 'connect_timeout', message: 'no connected reply in time' });
  }

  /**
   * The browser's word on the network. `online` (and a page shown again) means an attempt now,
   * whatever the schedule says: the fast path back. `offline` only changes the state: the socket,
   * if still open, may well survive a short blip.
   */
  #onNetwork(event: NetworkEvent): void {
    const s = this.#state;
    if (s === 'closed' || s === 'idle' || s === 'connected') return;
    if (event === 'offline') {
      if (s === 'reconnecting')
        this.#setState('offline', { code: 'network_offline', message: 'the browser is offline' });
      return;
    }
    // A page shown again with an attempt under way lets it run; `online` replaces it, since an
    // attempt made while offline is likely stuck.
    if (this.#ws && event === 'visible') return;
    const ws = this.#ws;
    this.#detach(ws);
    ws?.close();
    this.#schedule.restart();
    void this.#open({
      code: 'network_online',
      message: event === 'online' ? 'the browser is online' : 'the page is shown again',
    });
  }

  /** Forget a socket: its handlers and timers no longer touch the client. */
  #detach(ws: WebSocketLike | null): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    if (!ws) return;
    if (this.#ws === ws) this.#ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    this.#table.disconnected();
    // Requests that cannot survive the connection fail now; stored publishes wait to be resent,
    // their timeouts paused until the client is connected again.
    for (const [id, p] of this.#pending) {
      if (p.resend) {
        if (p.timer !== undefined) p.leftMs = Math.max(0, p.leftMs - (Date.now() - p.armedAt));
        clearTimeout(p.timer);
        p.timer = undefined;
        continue;
      }
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new InloopError('unavailable', 'connection lost'));
    }
  }

  /** Schedule the next attempt. While the browser says it is offline, attempts come at `maxMs`. */
  #retry(reason: StateReason, immediate = true): void {
    clearTimeout(this.#reconnectTimer);
    const waiting = this.#waiting();
    const delay = waiting === 'offline' ? (this.options.backoff?.maxMs ?? 10_000) : this.#schedule.next(immediate);
    this.#setState(waiting, reason, delay);
    this.#reconnectTimer = setTimeout(() => void this.#open({ ...reason }), delay);
  }

  #stop(reason: StateReason, error: InloopError): void {
    clearTimeout(this.#reconnectTimer);
    this.#unlistenNetwork?.();
    this.#run++;
    if (reason.code !== 'client_closed') this.#error = error;
    this.#setState('closed', reason);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.#pending.clear();
    this.#table.closed(error);
    for (const w of this.#readyWaiters.splice(0)) w.reject(error);
  }

  #onConnected(expiresAt: number): void {
    clearTimeout(this.#connectTimer);
    this.#schedule.reset();
    this.#everConnected = true;
    this.#setState('connected', { code: 'connected', message: 'connected' });
    for (const w of this.#readyWaiters.splice(0)) w.resolve();
    this.#scheduleRefresh(expiresAt);
    this.#table.connected();
    for (const [id, p] of [...this.#pending]) {
      if (!p.resend) continue;
      this.#arm(id, p);
      this.#send(p.frame);
    }
    for (const hook of [...this.#connectHooks]) hook();
  }

  #scheduleRefresh(expiresAt: number): void {
    clearTimeout(this.#refreshTimer);
    if (typeof this.options.token === 'string' || !expiresAt) return;
    this.#refreshTimer = setTimeout(() => void this.#refresh(), refreshDelay(expiresAt));
  }

  async #refresh(): Promise<void> {
    const source = this.options.token;
    if (typeof source === 'string') return;
    try {
      const token = await source();
      this.#token = token;
      const reply = await this.#request({ type: 'refresh', id: this.#nextId++, token }, false, 10_000);
      this.#scheduleRefresh((reply as Extract<ServerMessage, { type: 'refreshed' }>).expiresAt);
    } catch (err) {
      // Not fatal: at expiry the node closes with 4100 and we reconnect with a fresh token.
      this.emit('error', err instanceof InloopError ? err : new InloopError('unavailable', (err as Error).message));
      const exp = this.#token ? tokenExpiry(this.#token) : undefined;
      if (exp && exp - Date.now() > 5_000) this.#refreshTimer = setTimeout(() => void this.#refresh(), 2_000);
    }
  }

  // -- frames ---------------------------------------------------------------------------------

  #send(frame: ClientMessage): void {
    if (this.#ws?.readyState === OPEN && this.#state === 'connected') this.#ws.send(JSON.stringify(frame));
  }

  #request(frame: ClientMessage & { id: number }, resend: boolean, timeoutMs: number): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const p: Pending = { frame, resolve, reject, resend, timer: undefined, leftMs: timeoutMs, armedAt: 0 };
      this.#pending.set(frame.id, p);
      // One that waits for a reconnect is timed from it (see publishTimeoutMs).
      if (!resend || this.#state === 'connected') this.#arm(frame.id, p);
      this.#send(frame);
    });
  }

  /** Start (or resume) a request's timeout. */
  #arm(id: number, p: Pending): void {
    clearTimeout(p.timer);
    p.armedAt = Date.now();
    p.timer = setTimeout(() => {
      this.#pending.delete(id);
      p.reject(new InloopError('unavailable', `no reply to ${p.frame.type} within its timeout while connected`));
    }, p.leftMs);
  }

  #onFrame(text: string): void {
    for (const message of decodeServerFrame(text).messages) this.#handle(message);
  }

  #settle(id: number | undefined, message: ServerMessage): void {
    if (id === undefined) return;
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (message.type === 'error')
      p.reject(new InloopError(isErrorCode(message.code) ? message.code : 'internal', message.message));
    else p.resolve(message);
  }

  /** Incoming messages by type (a table, not a switch). */
  readonly #handlers: { [T in ServerMessage['type']]: (m: Extract<ServerMessage, { type: T }>) => void } = {
    connected: (m) => {
      this.#subject = m.subject;
      this.#onConnected(m.expiresAt);
    },
    subscribed: (m) => {
      this.#settle(m.id, m);
      this.#table.handleSubscribed(m);
    },
    pub: (m) => {
      // A hole in the offsets makes the table resubscribe from the last delivered position.
      this.#table.handlePublication(m);
    },
    ack: (m) => this.#settle(m.id, m),
    'presence.state': (m) => this.#settle(m.id, m),
    'presence.diff': (m) => this.#presences.get(m.topic)?.handleDiff(m),
    'presence.ended': (m) =>
      this.#presences.get(m.topic)?.handleEnd(new InloopError(isErrorCode(m.code) ? m.code : 'forbidden')),
    'conversation.sent': (m) => this.#settle(m.id, m),
    'conversation.receipt': (m) => this.#settle(m.id, m),
    'conversation.state': (m) => this.#settle(m.id, m),
    refreshed: (m) => this.#settle(m.id, m),
    unsubscribed: (m) => {
      this.#settle(m.id, m);
      if (m.code === undefined) return;
      this.#table.handleEnded(m.topic, new InloopError(isErrorCode(m.code) ? m.code : 'forbidden'));
    },
    error: (m) => {
      if (m.id !== undefined && this.#pending.has(m.id)) return this.#settle(m.id, m);
      this.emit('error', new InloopError(isErrorCode(m.code) ? m.code : 'internal', m.message));
    },
  };

  #handle(message: ServerMessage): void {
    if (message.type.startsWith('stream.')) {
      // Handled as they arrive, a reply's text before the deltas behind it in the same frame.
      const m = message as unknown as StreamServerMessage;
      this.#streams.handle(m);
      if (m.type === 'stream.text' || m.type === 'stream.unsubscribed') this.#settle(m.id, message);
      return;
    }
    const handler = this.#handlers[message.type] as ((m: ServerMessage) => void) | undefined;
    handler?.(message);
  }
}

/** Create a client. It connects on `connect()` or on the first `subscribe()`. */
export function createClient(options: ClientOptions): InloopClient {
  return new InloopClient(options);
}
