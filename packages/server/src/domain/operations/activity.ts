import { loadavg } from 'node:os';
import {
  STREAM_TOPIC_PREFIX,
  type ConsoleActivityPoint,
  type Histo,
  type PresenceActivity,
  type TopicActivity,
} from '@inloop/protocol';
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics.js';
import type { Broker } from '../../ports/broker.js';
import type { NodeBoard } from '../../ports/node-board.js';
import type { Hub } from '../hub.js';
import type { JobService } from '../jobs/service.js';
import type { Presence } from '../presence.js';

/**
 * What happened on a node during one sampling interval (counts are deltas over it): a point of
 * the console's activity series (its `at` is the interval's end, rounded down to a multiple of the
 * interval, so nodes' points align), and its jobs.
 */
export interface ActivityPoint extends ConsoleActivityPoint {
  /** Per job type: created, succeeded, failed, cancelled in the interval; queued and running at its end. */
  jobs: Record<
    string,
    { created: number; succeeded: number; failed: number; cancelled: number; queued: number; running: number }
  >;
}

/** What one node posts about itself (and answers for itself when alone). */
export interface NodeReport {
  node: string;
  startedAt: number;
  at: number;
  ready: boolean;
  connections: Record<string, number>;
  subscriptions: number;
  rssBytes: number;
  loadAverage: number;
  cadenceMs: number;
  series: ActivityPoint[];
  /** The busiest topics of the last minutes, by publications made on this node, with local subscribers. */
  topics: TopicActivity[];
  presence: PresenceActivity[];
  budget: { longestSilence: Histo; gaps: Histo; firstEvent: Histo };
}

/** What the activity reads once the node is built (see {@link Activity.start}). */
export interface ActivitySources {
  hub: Hub;
  presence: Presence;
  jobs: JobService;
  ready: () => Promise<boolean>;
}

export interface ActivityOptions {
  nodeId: string;
  metrics: Metrics;
  cadenceMs: number;
  board?: NodeBoard | undefined;
  logger?: Logger;
  /** @default 5000 */
  sampleMs?: number;
  /** Points kept (at 5 s, ten minutes). @default 120 */
  keep?: number;
}

/** Topics counted per interval at most: past it, new topics of that interval are not counted. */
const MAX_TOPICS_PER_INTERVAL = 20_000;
/** The busiest topics reported, and the intervals their counts are summed over. */
const TOP_TOPICS = 20;
const TOPIC_INTERVALS = 12;

/**
 * Small rolling series an operator's console charts (connections, publications, slow-consumer
 * cut-offs, rate-limit refusals, jobs per type), sampled from the node's own metrics every
 * `sampleMs`, and the busiest topics, counted by a tap on the broker. In a cluster each node
 * posts its report to the backend's {@link NodeBoard}, so any node answers for all.
 */
export class Activity {
  readonly #o: ActivityOptions;
  readonly #startedAt = Date.now();
  readonly #series: ActivityPoint[] = [];
  #topicCounts = new Map<string, number>();
  readonly #topicWindows: [string, number][][] = [];
  #last = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> | undefined;
  #sources: ActivitySources | undefined;

  get #s(): ActivitySources {
    if (!this.#sources) throw new Error('Activity.start() first');
    return this.#sources;
  }

  constructor(options: ActivityOptions) {
    this.#o = options;
  }

  get sampleMs(): number {
    return this.#o.sampleMs ?? 5000;
  }

  /**
   * A broker that counts the publications made through it, per topic. A stream's appends travel
   * as signals on its owner's node-internal topic (`stream:job:<id>`): no one subscribes to those,
   * and a stream's cost is its text, so they are not topics the console lists.
   */
  tap(broker: Broker): Broker {
    const count = (topic: string): void => {
      if (topic.startsWith(STREAM_TOPIC_PREFIX)) return;
      const n = this.#topicCounts.get(topic);
      if (n !== undefined) this.#topicCounts.set(topic, n + 1);
      else if (this.#topicCounts.size < MAX_TOPICS_PER_INTERVAL) this.#topicCounts.set(topic, 1);
    };
    const appendAndPublish: Broker['appendAndPublish'] = async (topic, input) => {
      const result = await broker.appendAndPublish(topic, input);
      if (!result.duplicate) count(topic);
      return result;
    };
    const publishEphemeral: Broker['publishEphemeral'] = async (p) => {
      await broker.publishEphemeral(p);
      count(p.topic);
    };
    return new Proxy(broker, {
      get: (target, prop) => {
        if (prop === 'appendAndPublish') return appendAndPublish;
        if (prop === 'publishEphemeral') return publishEphemeral;
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Start sampling what `sources` show. */
  start(sources: ActivitySources): void {
    this.#sources = sources;
    this.#timer = setInterval(() => void this.sample(), this.sampleMs).unref();
    void this.sample();
  }

  /** Take a point now (and post the report when there is a board). */
  sample(): Promise<void> {
    this.#sampling ??= this.#sample()
      .catch((err: unknown) => this.#o.logger?.warn({ err }, 'console sample failed'))
      .finally(() => (this.#sampling = undefined));
    return this.#sampling;
  }

  async #sample(): Promise<void> {
    const m = this.#o.metrics;
    const values = async (metric: {
      get(): Promise<{ values: { value: number; labels: Record<string, string | number | undefined> }[] }>;
    }) => (await metric.get()).values;
    const delta = (key: string, total: number): number => {
      // A label first seen now counted from 0: the node's counters start at 0 with it.
      const before = this.#last.get(key) ?? 0;
      this.#last.set(key, total);
      return Math.max(0, total - before);
    };
    const connections: Record<string, number> = {};
    for (const v of await values(m.connections)) connections[String(v.labels.transport)] = v.value;
    const sum = (vs: { value: number }[]) => vs.reduce((a, v) => a + v.value, 0);
    const jobs: ActivityPoint['jobs'] = {};
    const entry = (type: string) =>
      (jobs[type] ??= { created: 0, succeeded: 0, failed: 0, cancelled: 0, queued: 0, running: 0 });
    for (const type of this.#s.jobs.typeNames()) {
      const line = this.#s.jobs.line.counts(type);
      Object.assign(entry(type), { queued: line.queued, running: line.running });
    }
    for (const v of await values(m.jobsCreated))
      entry(String(v.labels.type)).created = delta(`created ${v.labels.type}`, v.value);
    for (const v of await values(m.jobsFinished)) {
      const status = String(v.labels.status) as 'succeeded' | 'failed' | 'cancelled';
      const e = entry(String(v.labels.type));
      if (status in e) e[status] = delta(`finished ${v.labels.type} ${status}`, v.value);
    }
    const drops = (await values(m.drops)).filter((v) => v.labels.reason === 'slow_consumer');
    const limited = (await values(m.errors)).filter((v) => v.labels.code === 'rate_limited');
    const now = Date.now();
    this.#series.push({
      at: now - (now % this.sampleMs),
      connections,
      subscriptions: sum(await values(m.subscriptions)),
      publications: delta('publications', sum(await values(m.publications))),
      slowConsumerDrops: delta('drops', sum(drops)),
      rateLimited: delta('limited', sum(limited)),
      jobs,
    });
    if (this.#series.length > (this.#o.keep ?? 120)) this.#series.shift();
    // The interval's busiest topics join the window; the counting starts over.
    const top = [...this.#topicCounts].sort((a, b) => b[1] - a[1]).slice(0, TOP_TOPICS);
    this.#topicCounts = new Map();
    this.#topicWindows.push(top);
    if (this.#topicWindows.length > TOPIC_INTERVALS) this.#topicWindows.shift();
    if (this.#o.board) await this.#o.board.post(this.#o.nodeId, JSON.stringify(await this.report()));
  }

  /** This node's report now. */
  async report(): Promise<NodeReport> {
    const m = this.#o.metrics;
    const totals = new Map<string, number>();
    // The closed intervals' busiest, and the current interval's counts so far.
    for (const w of [...this.#topicWindows, this.#topicCounts])
      for (const [t, n] of w) totals.set(t, (totals.get(t) ?? 0) + n);
    const topics = [...totals]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP_TOPICS)
      .map(([topic, publications]) => ({ topic, publications, subscribers: this.#s.hub.subscriberCount(topic) }));
    // Topics with many subscribers and few publications are busy too: add the most watched.
    // (Node-internal topics, a stream's or the console's own job feed, are not the app's.)
    const watched = [...this.#s.hub.subscriberCounts()]
      .filter(([topic]) => !topic.startsWith(STREAM_TOPIC_PREFIX))
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP_TOPICS);
    for (const [topic, subscribers] of watched)
      if (!totals.has(topic)) topics.push({ topic, publications: 0, subscribers });
    const presence = [...this.#s.presence.occupancies()].sort((a, b) => b.members - a.members).slice(0, TOP_TOPICS);
    const connections: Record<string, number> = {};
    for (const v of (await m.connections.get()).values) connections[String(v.labels.transport)] = v.value;
    return {
      node: this.#o.nodeId,
      startedAt: this.#startedAt,
      at: Date.now(),
      ready: await this.#s.ready().catch(() => false),
      connections,
      subscriptions: (await m.subscriptions.get()).values.reduce((a, v) => a + v.value, 0),
      rssBytes: process.memoryUsage.rss(),
      loadAverage: loadavg()[0]!,
      cadenceMs: this.#o.cadenceMs,
      series: [...this.#series],
      topics,
      presence,
      budget: {
        longestSilence: await histo(m.jobWatchLongestSilenceSeconds),
        gaps: await histo(m.jobWatchGapSeconds),
        firstEvent: await histo(m.jobFirstEventSeconds),
      },
    };
  }

  /** Every node's report: from the board in a cluster (this node's own fresh), else this node's. */
  async reports(): Promise<NodeReport[]> {
    const own = await this.report();
    if (!this.#o.board) return [own];
    const posted = await this.#o.board.all(this.sampleMs * 4);
    const others = posted.filter((p) => p.node !== own.node).map((p) => JSON.parse(p.entry) as NodeReport);
    return [own, ...others];
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sampling;
    await this.#o.board?.remove(this.#o.nodeId).catch(() => {});
  }
}

/** A prom-client histogram as per-bucket counts. */
async function histo(h: {
  get(): Promise<{
    values: { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[];
  }>;
}): Promise<Histo> {
  const values = (await h.get()).values;
  const le: number[] = [];
  const cumulative: number[] = [];
  let count = 0;
  let sum = 0;
  for (const v of values) {
    if (v.metricName?.endsWith('_bucket')) {
      if (v.labels.le === '+Inf') continue;
      le.push(Number(v.labels.le));
      cumulative.push(v.value);
    } else if (v.metricName?.endsWith('_count')) count = v.value;
    else if (v.metricName?.endsWith('_sum')) sum = v.value;
  }
  const counts = cumulative.map((c, i) => c - (cumulative[i - 1] ?? 0));
  counts.push(count - (cumulative.at(-1) ?? 0));
  return { le, counts, count, sum };
}
