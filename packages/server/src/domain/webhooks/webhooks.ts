import { Counter, Gauge, Histogram } from 'prom-client';
import type { Logger } from 'pino';
import { isValidTopicPattern, topicMatches } from '@inloop/protocol';
import type { Metrics } from '../../metrics.js';
import type { Broker } from '../../ports/broker.js';
import type { OutboxEntry, WebhookOutbox } from '../../ports/webhook-outbox.js';
import { PublicationEvents, type WebhookEvent, type WebhookEventType } from './events.js';
import { secretBytes, signatureHeader } from './signing.js';
import { deadline } from '../../util/deadline.js';

/** One receiving endpoint (config `webhooks`, file only). */
export interface WebhookEndpoint {
  /** A stable name: the outbox is kept per endpoint id. */
  id: string;
  url: string;
  /** `whsec_...` secrets; every one signs each delivery (rotation: add the new, later drop the old). */
  secrets: string[];
  events: WebhookEventType[];
  /** Only events on topics matching one of these patterns (`chat:*`). @default every topic */
  topics?: string[];
  /** @default the node's webhookTimeoutMs */
  timeoutMs?: number;
  /** Deliveries in flight at once to this endpoint. @default 4 */
  concurrency?: number;
}

export interface WebhooksOptions {
  endpoints: readonly WebhookEndpoint[];
  outbox: WebhookOutbox;
  /** Pause before each retry; after the last one the delivery is dropped. */
  retryScheduleMs: readonly number[];
  /** A delivery not answered in this long failed. */
  timeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}

/** Problems with the configured endpoints (duplicate ids, invalid topic patterns), for a config error. */
export function endpointProblems(endpoints: readonly WebhookEndpoint[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const e of endpoints) {
    if (ids.has(e.id))
      problems.push(`webhooks: the id ${JSON.stringify(e.id)} is used twice (each endpoint has its own outbox)`);
    ids.add(e.id);
    for (const pattern of e.topics ?? [])
      if (!isValidTopicPattern(pattern))
        problems.push(`webhooks: endpoint ${e.id}: ${JSON.stringify(pattern)} is not a valid topic pattern`);
  }
  return problems;
}

/** The webhook metrics, registered on the node's registry. */
class WebhookMetrics {
  readonly delivered: Counter<'endpoint'>;
  readonly failedAttempts: Counter<'endpoint' | 'reason'>;
  readonly dropped: Counter<'endpoint'>;
  readonly latency: Histogram<'endpoint'>;

  constructor(metrics: Metrics, pending: () => Map<string, number>) {
    const registers = [metrics.registry];
    this.delivered = new Counter({
      name: 'inloop_webhook_deliveries_total',
      help: 'Webhook deliveries answered 2xx, by endpoint',
      labelNames: ['endpoint'],
      registers,
    });
    this.failedAttempts = new Counter({
      name: 'inloop_webhook_failed_attempts_total',
      help: 'Webhook attempts that failed (status, timeout, network), by endpoint and reason; each is retried',
      labelNames: ['endpoint', 'reason'],
      registers,
    });
    this.dropped = new Counter({
      name: 'inloop_webhook_dropped_total',
      help: 'Webhook deliveries given up on after the whole retry schedule, by endpoint',
      labelNames: ['endpoint'],
      registers,
    });
    this.latency = new Histogram({
      name: 'inloop_webhook_latency_seconds',
      help: 'From the event to its 2xx answer, retries included, by endpoint',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300, 3600, 86_400],
      registers,
    });
    const gauge: Gauge<'endpoint'> = new Gauge({
      name: 'inloop_webhook_pending',
      help: 'Deliveries owed to each endpoint (in the outbox)',
      labelNames: ['endpoint'],
      registers,
      collect: () => {
        for (const [endpoint, n] of pending()) gauge.set({ endpoint }, n);
      },
    });
  }
}

/**
 * One endpoint's delivery loop: its own concurrency, timers and backlog, so an endpoint that
 * fails or hangs only ever delays itself.
 */
class EndpointLoop {
  readonly #inflight = new Set<string>();
  readonly #secrets: Buffer[];
  #timer: NodeJS.Timeout | undefined;
  #pumping: Promise<void> | null = null;
  #again = false;
  #closed = false;
  readonly #idle = new Set<() => void>();
  /** Aborts what is still in flight once the node stops waiting for it. */
  readonly #shutdown = new AbortController();

  constructor(
    readonly endpoint: WebhookEndpoint,
    private readonly o: WebhooksOptions,
    private readonly m: WebhookMetrics,
  ) {
    this.#secrets = endpoint.secrets.map(secretBytes);
  }

  wake(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.o.logger.error({ err, endpoint: this.endpoint.id }, 'webhook pump failed'))
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async #pump(): Promise<void> {
    const concurrency = this.endpoint.concurrency ?? 4;
    const free = concurrency - this.#inflight.size;
    if (free <= 0) return;
    const now = Date.now();
    // A shared outbox claims what it returns (entries in flight are not due again); the local one
    // returns those too, to be skipped.
    const limit = this.o.outbox.claims ? free : concurrency + this.#inflight.size;
    const due = await this.o.outbox.due(this.endpoint.id, now, limit);
    let started = 0;
    for (const entry of due) {
      if (started >= free || this.#closed) {
        // Claimed but not sent (the node is stopping): hand it back at once, not after the claim.
        if (this.o.outbox.claims) await this.o.outbox.reschedule(this.endpoint.id, entry.id, entry.attempts, now);
        continue;
      }
      if (this.#inflight.has(entry.id)) continue;
      started++;
      this.#inflight.add(entry.id);
      void this.#attempt(entry)
        .catch((err: unknown) =>
          this.o.logger.error({ err, endpoint: this.endpoint.id, id: entry.id }, 'webhook outcome not recorded'),
        )
        .finally(() => {
          this.#inflight.delete(entry.id);
          if (this.#inflight.size === 0) for (const done of this.#idle) done();
          this.wake();
        });
    }
    if (started === 0 && this.#inflight.size === 0) {
      const next = await this.o.outbox.nextDue(this.endpoint.id);
      clearTimeout(this.#timer);
      // Bounded: a far retry is re-checked at least hourly (setTimeout caps at ~24.8 days anyway);
      // with a shared outbox every second, for what other nodes add or leave behind.
      const poll = this.o.outbox.claims ? 1000 : 3_600_000;
      if (!this.#closed && (next !== null || this.o.outbox.claims)) {
        this.#timer = setTimeout(
          () => this.wake(),
          Math.min(next === null ? poll : Math.max(0, next - Date.now()) + 5, poll),
        );
        this.#timer.unref();
      }
    }
  }

  async #attempt(entry: OutboxEntry): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    let reason: string | null = null;
    const timeout = deadline(this.endpoint.timeoutMs ?? this.o.timeoutMs, this.#shutdown.signal);
    try {
      const res = await fetch(this.endpoint.url, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'inloop-webhooks',
          'webhook-id': entry.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(this.#secrets, entry.id, timestamp, entry.body),
        },
        body: entry.body,
        signal: timeout.signal,
      });
      // The body is not read: only the status counts, and the connection goes back to the pool.
      await res.body?.cancel().catch(() => {});
      if (res.status < 200 || res.status > 299) reason = `status_${Math.floor(res.status / 100)}xx`;
    } catch (err) {
      reason = this.#shutdown.signal.aborted
        ? 'shutdown'
        : (err as Error).name === 'TimeoutError'
          ? 'timeout'
          : 'network';
    } finally {
      timeout.clear();
    }
    // Recorded even while closing: a shared outbox would otherwise keep the entry claimed.
    const { id: endpoint } = this.endpoint;
    if (reason === null) {
      this.m.delivered.inc({ endpoint });
      this.m.latency.observe({ endpoint }, Math.max(0, Date.now() - entry.createdAt) / 1000);
      await this.o.outbox.delivered(endpoint, entry.id);
      return;
    }
    if (reason === 'shutdown') {
      // Cut short by the node stopping: not the endpoint's failure; due again at once.
      await this.o.outbox.reschedule(endpoint, entry.id, entry.attempts, Date.now());
      return;
    }
    this.m.failedAttempts.inc({ endpoint, reason });
    const attempts = entry.attempts + 1;
    const pause = this.o.retryScheduleMs[attempts - 1];
    if (pause === undefined) {
      this.m.dropped.inc({ endpoint });
      this.o.logger.warn({ endpoint, id: entry.id, type: entry.type, attempts }, 'webhook dropped after every retry');
      await this.o.outbox.drop(endpoint, entry.id);
      return;
    }
    // A little jitter, so a recovering endpoint is not hit by its whole backlog at one instant.
    const dueAt = Date.now() + Math.round(pause * (0.9 + Math.random() * 0.2));
    await this.o.outbox.reschedule(endpoint, entry.id, attempts, dueAt);
  }

  /** Stop starting attempts and wait (bounded) for those in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#pumping;
    if (this.#inflight.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.#idle.add(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.#inflight.size === 0) return;
    // Still waiting on a slow endpoint: abort, and let the outcomes be recorded before the outbox closes.
    await new Promise<void>((resolve) => {
      this.#idle.add(resolve);
      this.#shutdown.abort();
    });
  }
}

/**
 * Signed webhooks (Standard Webhooks): events are written to the durable outbox, then delivered
 * per endpoint with retries on a schedule of about a day. Delivery is at least once: a receiver
 * dedupes by `webhook-id`.
 */
export class Webhooks {
  readonly #loops: EndpointLoop[];
  readonly #events = new PublicationEvents();
  readonly #o: WebhooksOptions;

  constructor(options: WebhooksOptions) {
    this.#o = options;
    const m = new WebhookMetrics(
      options.metrics,
      () => new Map(options.endpoints.map((e) => [e.id, options.outbox.pending(e.id)])),
    );
    this.#loops = options.endpoints.map((e) => new EndpointLoop(e, options, m));
  }

  /** Deliver what the outbox held from before a restart. */
  start(): void {
    for (const loop of this.#loops) loop.wake();
  }

  /** Record `event` for every endpoint that wants it (durably), then deliver. */
  emit(event: WebhookEvent): void {
    const loops = this.#loops.filter(
      ({ endpoint: e }) =>
        e.events.includes(event.type) && (!e.topics || e.topics.some((p) => topicMatches(p, event.topic))),
    );
    if (loops.length === 0) return;
    const body = JSON.stringify({ type: event.type, timestamp: new Date(event.at).toISOString(), data: event.data });
    const now = Date.now();
    const entries = loops.map((l) => ({
      endpoint: l.endpoint.id,
      id: event.id,
      type: event.type,
      body,
      attempts: 0,
      dueAt: now,
      createdAt: event.at,
    }));
    this.#o.outbox.add(entries).then(
      () => {
        for (const l of loops) l.wake();
      },
      (err: unknown) => this.#o.logger.error({ err, type: event.type, id: event.id }, 'webhook event not recorded'),
    );
  }

  /**
   * The broker as the rest of the node uses it, with every publication made on this node seen on
   * its way out. Each publication is made on exactly one node, so a cluster emits it once.
   */
  tap(broker: Broker): Broker {
    if (this.#loops.length === 0) return broker;
    const seen = (p: Parameters<PublicationEvents['of']>[0]): void => {
      const event = this.#events.of(p);
      if (event) this.emit(event);
    };
    return new Proxy(broker, {
      get: (target, prop) => {
        if (prop === 'appendAndPublish')
          return async (...args: Parameters<Broker['appendAndPublish']>) => {
            const result = await target.appendAndPublish(...args);
            if (!result.duplicate) seen(result.publication);
            return result;
          };
        if (prop === 'publishEphemeral')
          return async (...args: Parameters<Broker['publishEphemeral']>) => {
            await target.publishEphemeral(...args);
            seen(args[0]);
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Whether an endpoint wants `job.stuck`: the flag is computed on the cadence's ticks. */
  get wantsStuckJobs(): boolean {
    return this.#loops.some((l) => l.endpoint.events.includes('job.stuck'));
  }

  /**
   * The hub as the job service sees it when `job.stuck` is wanted: every job topic counts as
   * watched, so the cadence ticks (and flags) a running job that no client watches. That costs a
   * tick per running job per `cadenceMs`, paid only with such an endpoint.
   */
  watchingJobs<H extends { subscriberCount(topic: string): number }>(hub: H): H {
    return new Proxy(hub, {
      get: (target, prop) => {
        if (prop === 'subscriberCount') return (topic: string) => Math.max(1, target.subscriberCount(topic));
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Presence of `topic` became occupied or vacant on this node (see Presence `onOccupancy`). */
  occupancy(topic: string, occupied: boolean, members: number): void {
    this.emit({
      id: eventId(),
      type: occupied ? 'presence.occupied' : 'presence.vacant',
      topic,
      at: Date.now(),
      data: { topic, members },
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#loops.map((l) => l.close()));
  }
}

function eventId(): string {
  return `evt_${crypto.randomUUID().replaceAll('-', '').slice(0, 22)}`;
}
