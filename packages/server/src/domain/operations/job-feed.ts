import { JOB_TOPIC_PREFIX, type JobChange, type JobEvent, type Json } from '@inloop/protocol';
import type { Logger } from 'pino';
import type { Broker, StoredPublication } from '../../ports/broker.js';
import type { JobRecord } from '../../ports/job-store.js';
import type { Hub } from '../hub.js';
import { jobRow } from './job-views.js';

/**
 * The node-internal topics of the feed (the `stream:` prefix is reserved: no client publishes or
 * subscribes there): the changes of every job, and the word that some node wants them.
 */
export const JOB_FEED_TOPIC = 'stream:console:jobs';
export const JOB_FEED_WANTED_TOPIC = 'stream:console:jobs:wanted';

/** How often a node with a feed open says so to the others, and how long each word holds. */
const ANNOUNCE_MS = 10_000;
const WANTED_FOR_MS = 3 * ANNOUNCE_MS;

/**
 * Every job's changes, live, for whoever watches them all (`GET /v1/jobs/stream`, the console's
 * Jobs page). A tap on the broker sees each stored event of the jobs this node changes and, while
 * a feed is open anywhere, publishes the job's row as an ephemeral publication on
 * {@link JOB_FEED_TOPIC}; the feed's streams are subscribers of that topic, so on a cluster the
 * rows of every node reach them through the backend like any publication. A node with no feed
 * open publishes nothing: a node whose streams watch says so on {@link JOB_FEED_WANTED_TOPIC}
 * (followed by every node of a cluster) when the first opens and every 10 s after, and the
 * others send their rows for 30 s after each word.
 */
export class JobFeed {
  #hub: Hub | undefined;
  #wantedUntil = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { shared: boolean; logger?: Pick<Logger, 'warn'> }) {}

  /**
   * A broker that sends the row of each job event appended through it to the feed, while wanted.
   * Other topics' appends pass through as they are, and the broker's other methods are bound once.
   */
  tap(broker: Broker): Broker {
    const appendAndPublish: Broker['appendAndPublish'] = (topic, input) => {
      const appended = broker.appendAndPublish(topic, input);
      if (!topic.startsWith(JOB_TOPIC_PREFIX)) return appended;
      return appended.then((result) => {
        if (!result.duplicate && this.#wanted()) this.#send(broker, result.publication, input.job);
        return result;
      });
    };
    const bound = new Map<PropertyKey, unknown>();
    return new Proxy(broker, {
      get: (target, prop) => {
        if (prop === 'appendAndPublish') return appendAndPublish;
        if (bound.has(prop)) return bound.get(prop);
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== 'function') return value;
        const method = (value as (...a: unknown[]) => unknown).bind(target);
        bound.set(prop, method);
        return method;
      },
    });
  }

  /** Listen for the other nodes' word (on a cluster) and repeat this node's while its feed is open. */
  start(hub: Hub): void {
    this.#hub = hub;
    if (!this.o.shared) return;
    hub.onSignal((s) => {
      if (s.topic === JOB_FEED_WANTED_TOPIC && s.kind === 'console.jobs')
        this.#wantedUntil = Date.now() + WANTED_FOR_MS;
    });
    hub.follow(JOB_FEED_WANTED_TOPIC);
    this.#timer = setInterval(() => {
      if (hub.subscriberCount(JOB_FEED_TOPIC) > 0) void this.#announce();
    }, ANNOUNCE_MS).unref();
  }

  /**
   * A feed stream was just subscribed here: tell the other nodes at once (resolves once the word
   * is with the backend, which hands it on to every node as it comes).
   */
  async opened(): Promise<void> {
    if (this.o.shared) await this.#announce();
  }

  close(): void {
    clearInterval(this.#timer);
    if (this.o.shared) this.#hub?.unfollow(JOB_FEED_WANTED_TOPIC);
  }

  #wanted(): boolean {
    return (this.#hub?.subscriberCount(JOB_FEED_TOPIC) ?? 0) > 0 || Date.now() < this.#wantedUntil;
  }

  async #announce(): Promise<void> {
    await this.#hub
      ?.publish(JOB_FEED_WANTED_TOPIC, { data: {}, from: 'inloop', ephemeral: true, kind: 'console.jobs' })
      .catch((err: unknown) => this.o.logger?.warn({ err }, 'the job feed could not be announced'));
  }

  /** The job's row after `p` (its topic's event), on the feed; `record` is the job as saved with it, when known. */
  #send(broker: Broker, p: StoredPublication, record: JobRecord | undefined): void {
    const event = p.data as unknown as JobEvent | null;
    if (typeof event !== 'object' || event === null || typeof event.job !== 'object' || event.job === null) return;
    const estimate = record?.estimate ?? event.job.eta;
    const change: JobChange = {
      event: event.type,
      job: {
        ...jobRow(event.job, p.offset),
        promised: estimate ? { p50Ms: estimate.p50Ms, p90Ms: estimate.p90Ms } : null,
      },
    };
    broker
      .publishEphemeral({ topic: JOB_FEED_TOPIC, data: change as unknown as Json, from: 'inloop', ts: p.ts })
      .catch((err: unknown) => this.o.logger?.warn({ err, topic: p.topic }, 'a job change could not be sent'));
  }
}
