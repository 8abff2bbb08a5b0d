import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CONVERSATION_TOPIC_PREFIX, JOB_TOPIC_PREFIX, jobTopic, type Scope } from '@inloop/protocol';
import { Access } from './auth/access.js';
import { embeddedBackend } from './adapters/embedded-backend.js';
import type { Backend } from './ports/backend.js';
import { ConversationService } from './domain/conversations.js';
import { Presence } from './domain/presence.js';
import { Refusal } from './errors.js';
import { RateLimits } from './domain/rate-limits.js';
import { Retention } from './domain/retention.js';
import { StreamService } from './domain/streams/service.js';
import { streamRoutes } from './transports/http/streams.js';
import { Typing } from './domain/typing.js';
import { conversationRoutes } from './transports/http/conversations.js';
import { presenceRoutes } from './transports/http/presence.js';
import { createApp } from './app.js';
import { ApiKeys, type ApiKey } from './auth/api-keys.js';
import { Origins } from './auth/origins.js';
import { Tokens, unmintableSubject } from './auth/tokens.js';
import { Issuers } from './auth/issuers.js';
import { createSqliteWebhookOutbox } from './adapters/sqlite-webhook-outbox.js';
import { Webhooks, endpointProblems } from './domain/webhooks/webhooks.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { Hub } from './domain/hub.js';
import { Ticker } from './domain/ticker.js';
import { Connections, type ConnectionCore } from './session/connection.js';
import { silentLogger } from './logger.js';
import { Metrics } from './metrics.js';
import type { BrokerOptions } from './ports/broker.js';
import type { SessionContext } from './session/context.js';
import { InProcessRunner, type JobHandler } from './domain/jobs/runner.js';
import { JobService, type JobTypeOptions } from './domain/jobs/service.js';
import { jobRoutes } from './transports/http/jobs.js';
import { consoleRoutes } from './transports/http/console.js';
import { consolePages } from './transports/http/console-pages.js';
import { Activity } from './domain/operations/activity.js';
import { JobFeed } from './domain/operations/job-feed.js';
import { JobViews } from './domain/operations/job-views.js';
import { Authenticator } from './transports/http/authenticate.js';
import {
  hostUrl,
  isLoopback,
  listenMetrics,
  operationRoutes,
  type MetricsListener,
} from './transports/http/operations.js';
import { tokenRoutes } from './transports/http/tokens.js';
import { topicRoutes } from './transports/http/topics.js';
import { SseTransport } from './transports/sse.js';
import { ConnectionCap } from './transports/connection-cap.js';
import { derivedMaxConnections, raiseDescriptorLimit } from './util/descriptors.js';
import { WebSocketTransport } from './transports/websocket.js';

/** The listening socket's accept queue (see listen()). */
const LISTEN_BACKLOG = 4096;

/** Options of {@link createNode}: any config key, plus what only code can pass. */
export interface NodeOptions extends Partial<Config> {
  /** A pino logger; the node is silent without one. */
  logger?: Logger;
  /**
   * Where the node keeps what outlives it. By default from the config: Redis when `redis` is
   * set (the `@inloop/redis` package), else SQLite in the data directory (or memory).
   */
  backend?: Backend;
  /** Collect Node's default process metrics. @default true */
  processMetrics?: boolean;
  /**
   * Add routes, job handlers and the like before the node starts (the HTTP app is sealed right
   * after). An app embedding Inloop, such as the demo, serves its pages this way.
   */
  extend?: (node: InloopNode) => void | Promise<void>;
}

/** A running (or ready to run) Inloop node. */
export interface InloopNode extends AsyncDisposable {
  readonly config: Readonly<Config>;
  readonly nodeId: string;
  /** The first configured or generated API key. */
  readonly apiKey: string;
  /** True when this start generated the API key (print it once). */
  readonly apiKeyCreated: boolean;
  readonly hub: Hub;
  readonly metrics: Metrics;
  readonly presence: Presence;
  readonly conversations: ConversationService;
  /** Streams of jobs and messages: append, end, stop, read (see docs/streams.md). */
  readonly streams: StreamService;
  /** Cleanup of what expired (see docs/operations.md, Retention); `round()` runs one now. */
  readonly retention: Retention;
  readonly app: FastifyInstance;
  /** `http://host:port` once listening. */
  readonly url: string;
  /** Where `/metrics` is served once listening: on the main port, or on `metricsPort`. */
  readonly metricsUrl: string;
  readonly port: number;
  /** Jobs: register in-process handlers, declare types served by remote workers. */
  readonly jobs: {
    /** Run jobs of `type` in this process. */
    handle(type: string, handler: JobHandler, options?: JobTypeOptions): void;
    /** Declare a type served by remote workers. */
    define(type: string, options?: JobTypeOptions): void;
    readonly service: JobService;
  };
  /** Mint a client token, as `POST /v1/tokens` does (a `key:` subject is refused: `bad_request`). */
  mintToken(subject: string, scopes: Scope[], ttlSeconds?: number): Promise<{ token: string; expiresAt: number }>;
  listen(): Promise<string>;
  /** Drain (clients are told to reconnect elsewhere), then close storage. Idempotent. */
  close(): Promise<void>;
}

async function secrets(
  config: Readonly<Config>,
  backend: Backend,
): Promise<{ keys: ApiKey[]; created: boolean; tokenSecret: string }> {
  const keys: ApiKey[] = [...config.apiKeys];
  let created = false;
  if (config.apiKey) keys.unshift({ name: 'default', key: config.apiKey });
  if (keys.length === 0) {
    const key = await backend.secret('api-key', 24);
    keys.push({ name: 'default', key: key.value });
    created = key.created;
  }
  return { keys, created, tokenSecret: config.tokenSecret ?? (await backend.secret('token-secret', 32)).value };
}

/** The backend the config asks for: Redis, one server or a cluster (loaded on demand), or the embedded one. */
async function backendFor(config: Readonly<Config>, logger: Logger): Promise<Backend> {
  const cluster = config.redisCluster.length > 0;
  if (!config.redis && !cluster) return embeddedBackend(config, logger);
  const specifier = '@inloop/redis';
  let mod: {
    createRedisBackend(options: {
      url?: string;
      cluster?: readonly string[];
      prefix: string;
      jobQueue: 'inloop' | 'bullmq';
    }): Promise<Backend>;
  };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    throw new ConfigError([
      `${cluster ? 'redisCluster' : 'redis'} is set, but @inloop/redis could not be loaded (npm install @inloop/redis): ${String(err)}`,
    ]);
  }
  return mod.createRedisBackend(
    cluster
      ? { cluster: config.redisCluster, prefix: config.redisPrefix, jobQueue: config.redisJobQueue }
      : { url: config.redis!, prefix: config.redisPrefix, jobQueue: config.redisJobQueue },
  );
}

/**
 * Create an Inloop node: HTTP, WebSocket and SSE on one port, history in SQLite by default.
 *
 * ```ts
 * await using node = await createNode({ port: 0, dataDir: './data' });
 * await node.listen();
 * ```
 */
export async function createNode(options: NodeOptions = {}): Promise<InloopNode> {
  const { logger = silentLogger, backend: givenBackend, processMetrics, extend, ...overrides } = options;
  const config = loadConfig({ overrides });
  const nodeId = config.nodeId ?? randomBytes(4).toString('hex');
  const log = logger.child({ node: nodeId });
  const metrics = new Metrics({ defaultMetrics: processMetrics ?? true });
  // One write scheduler for the node: the hub fans out at the start of each tick, and every
  // connection schedules its flush on it (injected through the connection core). The broker is
  // given it too, so a tick follows the commit that releases publications within the same turn.
  const ticker = new Ticker();
  const brokerOptions: BrokerOptions = {
    scheduler: ticker,
    maxCount: config.historyMaxCount,
    maxAgeMs: config.historyMaxAgeMs,
    idempotencyTtlMs: config.idempotencyTtlMs,
    retention: [
      {
        prefix: CONVERSATION_TOPIC_PREFIX,
        maxCount: config.conversationHistoryMaxCount,
        maxAgeMs: config.conversationHistoryMaxAgeMs,
      },
      // A job's topic goes when its record does: both are kept jobRetentionMs after the last event.
      { prefix: JOB_TOPIC_PREFIX, maxCount: config.historyMaxCount, maxAgeMs: config.jobRetentionMs },
    ],
  };
  // Before anything is opened: a mistaken issuer is a config error.
  let issuers: Issuers | undefined;
  try {
    issuers =
      config.tokenIssuers.length === 0
        ? undefined
        : new Issuers(config.tokenIssuers, {
            cacheMaxAgeMs: config.tokenIssuerCacheMs,
            refreshCooldownMs: config.tokenIssuerRefreshCooldownMs,
            maxJwksBytes: config.tokenIssuerJwksMaxBytes,
          });
  } catch (err) {
    throw new ConfigError([`tokenIssuers: ${(err as Error).message}`]);
  }
  const endpointErrors = endpointProblems(config.webhooks);
  if (endpointErrors.length > 0) throw new ConfigError(endpointErrors);
  const backend = givenBackend ?? (await backendFor(config, log));
  let draining = false;
  const { keys, created, tokenSecret } = await secrets(config, backend);
  // Webhooks see every publication made here through the broker: nothing in the domain knows them.
  const outbox =
    config.webhooks.length === 0
      ? undefined
      : (backend.webhookOutbox?.() ?? createSqliteWebhookOutbox({ file: ':memory:' }));
  if (outbox && !backend.webhookOutbox)
    log.warn('this backend has no durable webhook outbox: deliveries owed are lost if the node stops');
  const webhooks = outbox
    ? new Webhooks({
        endpoints: config.webhooks,
        outbox,
        retryScheduleMs: config.webhookRetryScheduleMs,
        timeoutMs: config.webhookTimeoutMs,
        metrics,
        logger: log,
      })
    : undefined;
  // The console's activity counts publications per topic through a tap like the webhooks'.
  const activity = new Activity({
    nodeId,
    metrics,
    cadenceMs: config.cadenceMs,
    board: backend.nodeBoard?.(),
    logger: log,
  });
  const tapped = webhooks ? webhooks.tap(backend.broker(brokerOptions)) : backend.broker(brokerOptions);
  // The console's live job list: every job event appended here, sent on while a feed is open.
  const feed = new JobFeed({ shared: backend.shared, logger: log });
  const broker = activity.tap(feed.tap(tapped));
  const hub = new Hub({ broker, metrics, logger: log, ticker });
  const core: ConnectionCore = {
    scheduler: ticker,
    maxBufferedBytes: config.maxBufferedBytes,
    slowConsumerTimeoutMs: config.slowConsumerTimeoutMs,
    metrics,
    logger: log,
  };
  const connections = new Connections(core);
  metrics.observePendingBytes(() => connections.pendingBytes());
  const tokens = new Tokens(tokenSecret, issuers);
  const origins = new Origins(config.allowedOrigins);
  const auth = new Authenticator(new ApiKeys(keys), tokens);
  const presenceStore = backend.presenceStore({
    maxAgeMs: config.presenceLastSeenMaxAgeMs,
    maxCount: config.presenceLastSeenMaxCount,
  });
  const conversationStore = backend.conversationStore({
    maxCount: config.conversationHistoryMaxCount,
    maxAgeMs: config.conversationHistoryMaxAgeMs,
  });
  const presenceReplica = backend.presenceReplica?.(nodeId, config.presenceTtlMs);
  const presence = new Presence({
    store: presenceStore,
    fanOut: (watchers, message) => hub.fanOut(watchers, message),
    ...(presenceReplica ? { replica: presenceReplica } : {}),
    // In a cluster, a node holding presence on a conversation hears of a member's removal made
    // on another node through the conversation's topic, subscribed here or not.
    ...(backend.shared
      ? {
          onTopic: (topic: string, held: boolean) => {
            if (!topic.startsWith(CONVERSATION_TOPIC_PREFIX)) return;
            if (held) hub.follow(topic);
            else hub.unfollow(topic);
          },
        }
      : {}),
    ...(webhooks ? { onOccupancy: webhooks.occupancy.bind(webhooks) } : {}),
    metrics,
    ttlMs: config.presenceTtlMs,
    flushMs: config.presenceFlushMs,
    maxTopicsPerMember: config.maxPresenceTopicsPerMember,
  });
  const typing = new Typing({
    ttlMs: config.typingTtlMs,
    signal: async (topic, member, kind, data) => {
      await hub.publish(topic, { data, from: member, ephemeral: true, kind });
    },
  });
  const conversations = new ConversationService({
    store: conversationStore,
    hub,
    broker,
    typing,
    presence,
    metrics,
    maxDraftsPerMember: config.maxDraftsPerMember,
    // `streams` is built below; drafts reach it only once the node runs.
    streams: {
      append: (conversation, member, message, chunk) => streams.append({ conversation, message }, chunk, member),
      finish: (conversation, member, message) => streams.finish({ conversation, message }, member),
      revoke: (conversation, member) => streams.revoke(conversation, member),
    },
  });
  // One instance for every transport: a principal's budget is the same over WebSocket and HTTP.
  const limits = new RateLimits({
    budgets: {
      publish: { ratePerSec: config.publishRatePerSec, burst: config.publishBurst },
      signal: { ratePerSec: config.signalRatePerSec, burst: config.signalBurst },
      presence: { ratePerSec: config.presenceRatePerSec, burst: config.presenceBurst },
      receipt: { ratePerSec: config.receiptRatePerSec, burst: config.receiptBurst },
    },
    apiKeyMultiplier: config.apiKeyRateMultiplier,
  });
  const access = new Access((conversation, member) => conversations.isMember(conversation, member));
  // `jobs` is built below (it needs the session context's hub); the stream service asks it later.
  const streamStore = backend.streamStore({
    flushMs: config.streamFlushMs,
    chunkChars: config.streamChunkChars,
    jobTtlMs: config.jobRetentionMs,
    ttlMs: config.streamRetentionMs,
  });
  const streams = new StreamService({
    store: streamStore,
    hub,
    jobs: {
      status: async (id) => (await jobs.get(id))?.status ?? null,
      cancel: async (id) => {
        await jobs.cancel(id).catch((err: unknown) => {
          if (!(err instanceof Refusal && err.code === 'job_finished')) throw err;
        });
      },
    },
    maxStreamChars: config.maxStreamChars,
    maxStreamPageChars: config.maxStreamPageChars,
    maxStreamsPerJob: config.maxStreamsPerJob,
    logger: log,
  });
  const ctx: SessionContext = {
    streams,
    nodeId,
    config,
    hub,
    tokens,
    access,
    presence,
    typing,
    conversations,
    limits,
    metrics,
    logger: log,
    core,
    connections,
  };
  const ws = new WebSocketTransport(ctx, origins);
  const sse = new SseTransport(ctx);

  const jobStore = backend.jobStore({ finishedTtlMs: config.jobRetentionMs });
  const jobQueue = backend.jobQueue(jobStore);
  const jobs = new JobService({
    store: jobStore,
    queue: jobQueue,
    locks: backend.jobLocks(),
    shared: backend.shared,
    hub: webhooks?.wantsStuckJobs ? webhooks.watchingJobs(hub) : hub,
    broker,
    metrics,
    logger: log,
    cadenceMs: config.cadenceMs,
    stuckAfterMs: config.jobStuckAfterMs,
    cancelGraceMs: config.jobCancelGraceMs,
    maxPartialsBytes: config.maxJobPartialsBytes,
    // The creator's read token for this job alone: watch it, read it, cancel it.
    readToken: (createdBy, id) =>
      tokens.mint(
        createdBy,
        [{ ops: ['subscribe', 'history', 'job:read', 'job:cancel'], topics: [jobTopic(id)] }],
        config.jobTokenTtlSeconds,
      ),
  });
  const typeDefaults = { leaseMs: config.jobLeaseMs, maxAttempts: config.jobMaxAttempts };
  for (const type of config.jobTypes) jobs.define(type, typeDefaults);
  const runner = new InProcessRunner(jobs, `local:${nodeId}`, log, streams);
  // A job's open streams end with it: finished, failed, or stopped when cancelled. A job known
  // to have opened none (told by its terminal step on Redis) costs no look.
  jobs.on('finished', (job, streamsOpened) => {
    if (streamsOpened === false) return;
    streams
      .endJob(job.id, job.status)
      .catch((err: unknown) => log.error({ err, job: job.id }, 'ending streams failed'));
  });
  // Alone, every job leased in-process before a restart was this node's; in a cluster, the
  // queue notices a dead node's jobs by their locks.
  await jobs.recover(backend.shared ? null : 'local:');
  const retention = new Retention({
    stores: [
      { name: 'topics', store: broker },
      { name: 'presence', store: presenceStore },
      { name: 'receipts', store: conversationStore },
      { name: 'jobs', store: jobStore },
      { name: 'streams', store: streamStore },
    ],
    intervalMs: config.retentionSweepMs,
    logger: log,
  });
  retention.start();

  const app = await createApp({ config, logger: log, metrics, origins });
  auth.checkBeforeBody(app);
  topicRoutes(app, { hub, broker, auth, access, limits, maxHistoryPageBytes: config.maxHistoryPageBytes });
  presenceRoutes(app, { presence, auth, access, limits });
  conversationRoutes(app, { conversations, auth, limits, maxHistoryPageBytes: config.maxHistoryPageBytes });
  tokenRoutes(app, { tokens, auth });
  sse.routes(app, auth);
  jobRoutes(app, { jobs, auth, sse, limits });
  streamRoutes(app, { streams, jobs, auth, access, sse, maxAppendChars: config.maxStreamAppendChars });
  activity.start({ hub, presence, jobs, ready: async () => !draining && (await broker.ready()) });
  feed.start(hub);
  consoleRoutes(app, {
    jobs,
    store: jobStore,
    views: new JobViews({ store: jobStore, jobs, broker }),
    activity,
    auth,
    sse,
    feed,
    nodeId,
  });
  if (config.console) consolePages(app);
  operationRoutes(app, {
    metrics,
    ready: async () => !draining && (await broker.ready()),
    metricsToken: config.metricsToken,
    serveMetrics: config.metricsPort === undefined,
  });
  ws.attach(app.server);
  webhooks?.start();

  let url = '';
  let metricsListener: MetricsListener | undefined;
  let closing: Promise<void> | undefined;
  const node: InloopNode = {
    config,
    nodeId,
    apiKey: keys[0]!.key,
    apiKeyCreated: created,
    hub,
    metrics,
    presence,
    conversations,
    streams,
    retention,
    app,
    get url() {
      return url;
    },
    get port() {
      return Number(new URL(url).port);
    },
    get metricsUrl() {
      return metricsListener?.url ?? (url && `${url}/metrics`);
    },
    jobs: {
      handle: (type, handler, typeOptions) => runner.handle(type, handler, { ...typeDefaults, ...typeOptions }),
      define: (type, typeOptions) => jobs.define(type, { ...typeDefaults, ...typeOptions }),
      service: jobs,
    },
    async mintToken(subject, scopes, ttlSeconds = 900) {
      const reserved = unmintableSubject(subject);
      if (reserved) throw new Refusal('bad_request', reserved);
      return tokens.mint(subject, scopes, ttlSeconds);
    },
    async listen() {
      // Before the first accept: the cap gates the listeners attached by now.
      const descriptors = await raiseDescriptorLimit();
      const maxConnections =
        config.maxConnections || (derivedMaxConnections(descriptors, config.connectionReserve) ?? 0);
      new ConnectionCap({ max: maxConnections, reserve: config.connectionReserve, metrics, logger: log }).attach(
        app.server,
      );
      log.info(
        { descriptorLimit: descriptors?.soft, maxConnections, connectionReserve: config.connectionReserve },
        maxConnections ? 'connection cap set' : 'no connection cap (descriptor limit unknown)',
      );
      // A burst of new connections (a reconnect storm, a client opening many at once) waits in
      // the kernel's accept queue while the event loop is busy: Node's default of 511 overflowed
      // at 1,000 new jobs/s from a fresh client (SYNs dropped, retried after 1, 3 and 7 s). The
      // kernel caps it at net.core.somaxconn.
      await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
      const address = app.server.address();
      url = hostUrl(config.host, typeof address === 'object' && address ? address.port : config.port);
      if (config.metricsPort !== undefined)
        metricsListener = await listenMetrics({
          metrics,
          host: config.metricsHost,
          port: config.metricsPort,
          token: config.metricsToken,
        });
      log.info({ url, metrics: node.metricsUrl }, 'listening');
      if (!metricsListener && config.metricsToken === undefined && !isLoopback(config.host))
        log.warn(
          'GET /metrics is open to anyone who can reach this port: set metricsToken or metricsPort in production',
        );
      return url;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        ws.close();
        sse.close();
        connections.close();
        await activity.close();
        feed.close();
        await runner.close();
        await jobs.close();
        await streams.close();
        await webhooks?.close();
        await retention.stop();
        await app.close();
        await metricsListener?.close();
        presence.close();
        typing.close();
        conversations.close();
        await presenceReplica?.close();
        await jobQueue.close();
        await broker.close();
        await outbox?.close();
        await jobStore.close();
        await conversationStore.close();
        await presenceStore.close();
        await streamStore.close();
        await backend.close();
        log.info('closed');
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return node.close();
    },
  };
  await extend?.(node);
  await app.ready();
  return node;
}
