import { readFileSync } from 'node:fs';
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { WebhookEventTypes } from './domain/webhooks/events.js';

/**
 * The node's configuration: one schema for flags, environment and file. Every key has a flag
 * (`--kebab-case`) and an environment variable (`INLOOP_SNAKE_CASE`); `PORT` is honoured too.
 * Precedence: flags > environment > file (`--config` / `INLOOP_CONFIG`, JSON) > defaults.
 * docs/operations.md is generated from the descriptions here (`npm run docs:config`).
 */
export const ConfigSchema = Type.Object({
  port: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 8080,
    description: 'HTTP and WebSocket port (0 picks a free one). Env also: PORT.',
  }),
  host: Type.String({ default: '0.0.0.0', description: 'Address to listen on.' }),
  dataDir: Type.String({ default: '.inloop', description: 'Directory of the SQLite file and the generated secrets.' }),
  storage: Type.Union([Type.Literal('sqlite'), Type.Literal('memory')], {
    default: 'sqlite',
    description: 'History backend: sqlite (durable, the default) or memory (lost on exit).',
  }),
  redis: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description:
        'Cluster mode: a Redis URL (redis://host:6379/0, rediss:// for TLS). History, presence, conversations and jobs (queued by Inloop, or through BullMQ: redisJobQueue) then live in Redis, shared by every node that has the same URL; storage and dataDir are not used. For a Redis Cluster, set redisCluster instead.',
    }),
  ),
  redisCluster: Type.Array(Type.String({ pattern: '^(rediss?://\\S+|[^\\s/,]+:[0-9]{1,5})$' }), {
    default: [],
    description:
      'Cluster mode on a Redis Cluster instead of one server: some of its nodes (the others are found from them), host:port or redis://[user:password@]host:port (rediss:// for TLS; the credentials and TLS of a URL apply to every node). Comma-separated in flag and environment. Set redis or redisCluster, not both.',
  }),
  redisPrefix: Type.String({
    pattern: '^[A-Za-z0-9_.-]{1,32}$',
    default: 'inloop',
    description: 'Prefix of every Redis key and channel, so several clusters can share one Redis.',
  }),
  redisJobQueue: Type.Union([Type.Literal('inloop'), Type.Literal('bullmq')], {
    default: 'inloop',
    description:
      "Cluster mode: the queue that holds jobs. inloop: Inloop's own scripts, one Redis call per change (in bench:cluster, about 40 % less Redis CPU per job than bullmq). bullmq: BullMQ's queues, so its dashboards and tools see Inloop's jobs. Every node must use the same one; after a switch (every node restarted), each node's start takes over what the other queue held.",
  }),
  sqliteSynchronous: Type.Union([Type.Literal('NORMAL'), Type.Literal('FULL')], {
    default: 'NORMAL',
    description: 'NORMAL survives a process crash; FULL also survives power loss, at some speed.',
  }),
  apiKey: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'Backend API key (name "default"). When no key is configured one is generated into the data directory and printed once.',
    }),
  ),
  apiKeys: Type.Array(
    Type.Object(
      { name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), key: Type.String({ minLength: 16 }) },
      { additionalProperties: false },
    ),
    { default: [], description: 'Further named API keys (file only).' },
  ),
  tokenSecret: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'HS256 secret for client tokens. Generated into the data directory when absent.',
    }),
  ),
  tokenIssuers: Type.Array(
    Type.Object(
      {
        issuer: Type.String({ minLength: 1, maxLength: 512 }),
        jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
        keys: Type.Optional(Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) })),
        audience: Type.Union([
          Type.String({ minLength: 1 }),
          Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
        ]),
        algorithms: Type.Optional(
          Type.Array(Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')]), {
            minItems: 1,
          }),
        ),
        scopesClaim: Type.Optional(Type.String({ minLength: 1 })),
        rules: Type.Optional(
          Type.Array(
            Type.Object(
              {
                ops: Type.Array(Type.String()),
                topics: Type.Array(Type.String()),
                when: Type.Optional(
                  Type.Object({
                    claim: Type.String({ minLength: 1 }),
                    equals: Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
                  }),
                ),
              },
              { additionalProperties: false },
            ),
          ),
        ),
        subjectPrefix: Type.Optional(Type.String({ maxLength: 64 })),
        clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
      },
      { additionalProperties: false },
    ),
    {
      default: [],
      description:
        'Identity providers whose tokens clients may connect with (file only): `issuer`, `jwksUrl` or `keys` (a JWKS), `audience`, `algorithms` (RS256, ES256, EdDSA), `scopesClaim` and/or `rules` mapping claims to scopes, `subjectPrefix`. See docs/integrations.md.',
    },
  ),
  tokenIssuerCacheMs: Type.Integer({
    minimum: 1000,
    default: 600_000,
    description: "How long an issuer's fetched key set is used before it is fetched again.",
  }),
  tokenIssuerRefreshCooldownMs: Type.Integer({
    minimum: 0,
    default: 30_000,
    description:
      'Least time between two fetches of one key set, counted from the last fetch whether it succeeded or failed: a token with an unknown `kid` triggers one refetch, no more often than this, and while the endpoint is failing tokens are checked with the last good set or refused with `token_keys_unavailable`, without a fetch each.',
  }),
  tokenIssuerJwksMaxBytes: Type.Integer({
    minimum: 1024,
    default: 1_048_576,
    description:
      "Largest JWKS document an issuer's endpoint may answer; a larger one is a failed fetch (not read further).",
  }),
  metricsToken: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'When set, `/metrics` answers only `Authorization: Bearer <metricsToken>` (401 otherwise). Recommended in production, alone or with metricsPort.',
    }),
  ),
  metricsPort: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 65535,
      description:
        'Serve `/metrics` on this separate port (at metricsHost) instead of the main one, which then answers 404 there. 0 picks a free one.',
    }),
  ),
  metricsHost: Type.String({
    default: '127.0.0.1',
    description: 'Address of the metricsPort listener (loopback by default: for a local scraper or sidecar).',
  }),
  console: Type.Boolean({
    default: true,
    description:
      'Serve the operator’s console at `/console` (signed in with an API key, or a token granting `admin` on `console`). `false` turns the pages off; the `/v1/console/...` APIs stay.',
  }),
  allowedOrigins: Type.Array(Type.String(), {
    default: [],
    description:
      "Browser origins allowed besides the node's own (exact, e.g. https://app.example.com; * for any). Env: comma-separated.",
  }),
  historyMaxCount: Type.Integer({ minimum: 1, default: 1000, description: 'Most publications kept per topic.' }),
  historyMaxAgeMs: Type.Integer({ minimum: 1000, default: 86_400_000, description: 'Oldest publication kept, in ms.' }),
  idempotencyTtlMs: Type.Integer({
    minimum: 120_000,
    default: 300_000,
    description: 'How long an idempotency key is remembered, in ms (at least 120 s).',
  }),
  maxMessageBytes: Type.Integer({
    minimum: 1024,
    maximum: 16_777_216,
    default: 65_536,
    description:
      'Largest WebSocket frame or HTTP body accepted (a stream append’s body is bounded by maxStreamAppendChars instead).',
  }),
  maxJsonDepth: Type.Integer({
    minimum: 4,
    maximum: 256,
    default: 64,
    description:
      'Deepest JSON nesting accepted in a WebSocket frame or HTTP body, envelope included (`{"data":[1]}` has depth 2); deeper input is refused with too_deep.',
  }),
  maxSubscriptionsPerConnection: Type.Integer({
    minimum: 1,
    default: 100,
    description: 'Subscriptions one connection may hold.',
  }),
  publishRatePerSec: Type.Number({
    exclusiveMinimum: 0,
    default: 50,
    description:
      'Sustained publishes per second per client (token subject), over WebSocket and HTTP together: stored and ephemeral publishes, conversation sends, job creations.',
  }),
  publishBurst: Type.Integer({
    minimum: 1,
    default: 100,
    description: 'Publishes a client may make in a burst (see publishRatePerSec).',
  }),
  signalRatePerSec: Type.Number({
    exclusiveMinimum: 0,
    default: 20,
    description: 'Sustained signals per second per client: typing start and stop, draft chunks.',
  }),
  signalBurst: Type.Integer({ minimum: 1, default: 40, description: 'Signals a client may send in a burst.' }),
  presenceRatePerSec: Type.Number({
    exclusiveMinimum: 0,
    default: 10,
    description: 'Sustained presence joins (HTTP renewals included) and updates per second per client.',
  }),
  presenceBurst: Type.Integer({
    minimum: 1,
    default: 100,
    description: 'Presence joins and updates a client may make in a burst (enough to rejoin every topic on reconnect).',
  }),
  receiptRatePerSec: Type.Number({
    exclusiveMinimum: 0,
    default: 20,
    description: 'Sustained conversation receipts per second per client.',
  }),
  receiptBurst: Type.Integer({ minimum: 1, default: 50, description: 'Receipts a client may send in a burst.' }),
  apiKeyRateMultiplier: Type.Number({
    minimum: 0,
    default: 100,
    description:
      'An API key (a backend, acting for many members) gets this many times each client rate and burst, per key name; 0 exempts API keys from rate limits.',
  }),
  maxPresenceTopicsPerMember: Type.Integer({
    minimum: 1,
    default: 100,
    description:
      'Topics one member may be present on at once on this node, over all its connections and HTTP; past it, too_many_subscriptions.',
  }),
  maxDraftsPerMember: Type.Integer({
    minimum: 1,
    default: 16,
    description:
      'Streamed drafts one member may have open at once (over all conversations); past it, too_many_drafts until one is sent or lapses.',
  }),
  invalidFrameBurst: Type.Integer({
    minimum: 1,
    default: 10,
    description:
      'Invalid WebSocket frames (not JSON, too deep, unknown type, bad fields) a connection may send in a burst; one more closes it with 4400.',
  }),
  invalidFrameRatePerSec: Type.Number({
    exclusiveMinimum: 0,
    default: 1,
    description: 'Rate at which the allowance of invalid frames refills, per second.',
  }),
  maxBufferedBytes: Type.Integer({
    minimum: 16_384,
    default: 1_048_576,
    description:
      'Outbound bytes a connection (WebSocket or SSE) may have pending, live and history replay alike, before it is cut off as a slow consumer (WebSocket 4001, SSE stream ended).',
  }),
  slowConsumerTimeoutMs: Type.Integer({
    minimum: 100,
    default: 30_000,
    description:
      'A connection whose pending output does not shrink for this long while the node waits to send it more (a history replay paced by the socket) is cut off as a slow consumer.',
  }),
  maxHistoryPageBytes: Type.Integer({
    minimum: 1024,
    default: 1_048_576,
    description:
      'Bytes of publication data in one page of HTTP history (topic and conversation messages), on top of its `limit`; at least one message is always returned, and `more` says whether a next page waits after `next`.',
  }),
  maxJobPartialsBytes: Type.Integer({
    minimum: 1024,
    default: 262_144,
    description:
      'Bytes of partial results a job keeps in its snapshot (at most 1,000 partials, and at most this many bytes of their JSON); a partial past either bound is dropped, neither kept nor published, so a snapshot and the stream that starts with it stay bounded.',
  }),
  pingIntervalMs: Type.Integer({
    minimum: 1000,
    default: 25_000,
    description: 'WebSocket ping interval; a connection silent for two intervals is dropped.',
  }),
  connectTimeoutMs: Type.Integer({
    minimum: 100,
    default: 10_000,
    description: 'Time allowed between the WebSocket upgrade and the connect message.',
  }),
  sseHeartbeatMs: Type.Integer({ minimum: 1000, default: 15_000, description: 'Interval of SSE comment heartbeats.' }),
  httpHeadersTimeoutMs: Type.Integer({
    minimum: 100,
    default: 10_000,
    description:
      'Time a client has to send a request line and headers (on a new connection, counted from the connect); slower, and it gets 408 request_timeout and the connection closes. At most httpRequestTimeoutMs.',
  }),
  httpRequestTimeoutMs: Type.Integer({
    minimum: 100,
    default: 30_000,
    description:
      'Time a client has to send a whole request, body included (a body trickled in is cut off with 408 request_timeout). Event streams and WebSockets are not requests in this sense once open.',
  }),
  httpIdleTimeoutMs: Type.Integer({
    minimum: 100,
    default: 60_000,
    description:
      'An HTTP connection with no bytes either way for this long is closed (one that never sends anything, a client that stopped reading). Event streams and WebSockets have their own heartbeats and are exempt. Keep it above 30 s, the longest worker long-poll (`waitMs`).',
  }),
  httpKeepAliveTimeoutMs: Type.Integer({
    minimum: 100,
    default: 72_000,
    description:
      'How long an idle keep-alive connection is kept between requests. Keep it above the idle timeout of a load balancer in front (often 60 s), so the node is not the one to close a connection the balancer is about to reuse.',
  }),
  maxConnections: Type.Integer({
    minimum: 0,
    default: 0,
    description:
      'Open connections (HTTP, event streams and WebSockets together) served in full; one more is answered 503 unavailable and closed, while connections already open carry on. 0 derives it from the descriptor limit: the limit less a tenth (at least 64) and less connectionReserve; no cap where the limit is unknown (not Linux).',
  }),
  connectionReserve: Type.Integer({
    minimum: 0,
    default: 16,
    description:
      'Connections accepted past maxConnections that may reach only /healthz and /readyz, so probes keep answering while the node is full.',
  }),
  cadenceMs: Type.Integer({
    minimum: 100,
    maximum: 10_000,
    default: 5000,
    description:
      'Longest silence a watcher of a live job sees: the node sends a tick when the job has said nothing for this long (at most 10 s).',
  }),
  jobTypes: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$' }), {
    default: [],
    description: 'Job types served by remote workers (in-process handlers declare their own). Env: comma-separated.',
  }),
  jobTokenTtlSeconds: Type.Integer({
    minimum: 60,
    maximum: 604_800,
    default: 86_400,
    description: 'Lifetime of the read token returned with a new job.',
  }),
  jobLeaseMs: Type.Integer({
    minimum: 1000,
    default: 30_000,
    description: 'Default lease of a job: a worker must report or heartbeat within it, or the job is retried.',
  }),
  jobMaxAttempts: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 3,
    description: 'Default attempts before a job fails for good.',
  }),
  jobStuckAfterMs: Type.Integer({
    minimum: 1000,
    default: 30_000,
    description: 'A job well past its usual duration with no sign of life for this long is flagged likely stuck.',
  }),
  jobCancelGraceMs: Type.Integer({
    minimum: 0,
    default: 10_000,
    description: 'A running job whose worker ignores a cancel is ended this long after the request.',
  }),
  presenceTtlMs: Type.Integer({
    minimum: 1000,
    default: 30_000,
    description:
      'A presence connection with no sign of life (message or pong) for this long is removed. Must exceed `pingIntervalMs`.',
  }),
  presenceFlushMs: Type.Integer({
    minimum: 0,
    maximum: 5000,
    default: 100,
    description: 'Presence changes of one topic are sent to watchers at most once per this interval, coalesced.',
  }),
  typingTtlMs: Type.Integer({
    minimum: 1000,
    maximum: 60_000,
    default: 6000,
    description: 'A typing indicator with no fresh `typing.start` for this long turns itself off.',
  }),
  conversationHistoryMaxCount: Type.Integer({
    minimum: 1,
    default: 10_000,
    description: 'Most messages kept per conversation (conversation topics have their own bounds).',
  }),
  conversationHistoryMaxAgeMs: Type.Integer({
    minimum: 1000,
    default: 2_592_000_000,
    description: 'Oldest message kept in a conversation, in ms (30 days).',
  }),
  jobRetentionMs: Type.Integer({
    minimum: 1000,
    default: 604_800_000,
    description:
      'A finished job, and its topic, are removed this long after the job finished (7 days). Job topics keep their events as long.',
  }),
  maxStreamChars: Type.Integer({
    minimum: 1,
    default: 1_000_000,
    description:
      'Longest stream (generated text of a job or a message), in UTF-16 code units; an append past it is refused with stream_too_long.',
  }),
  maxStreamAppendChars: Type.Integer({
    minimum: 1,
    default: 65_536,
    description:
      'Longest text one append over HTTP may carry, in UTF-16 code units; its body may be up to 6 × this + 2,224 bytes (every character JSON-escaped).',
  }),
  maxStreamPageChars: Type.Integer({
    minimum: 1024,
    default: 262_144,
    description:
      'Largest piece of a stream read or sent at once (a catch-up is sent in pieces this size, each once the connection drained the last; an HTTP read answers one).',
  }),
  maxStreamsPerJob: Type.Integer({ minimum: 1, default: 16, description: 'Most streams one job may have.' }),
  streamFlushMs: Type.Integer({
    minimum: 1,
    default: 100,
    description:
      "An open stream's appends are written this often, onto its last chunk (embedded storage; a crash loses at most this much of them).",
  }),
  streamChunkChars: Type.Integer({
    minimum: 256,
    default: 16_384,
    description:
      "Characters per stored chunk of a stream (and the most appended text held before a write): a stream's rows grow with its text, not its appends.",
  }),
  streamRetentionMs: Type.Integer({
    minimum: 1000,
    default: 86_400_000,
    description:
      "A conversation message's stream is removed this long after its last change (24 h); a job's streams go with the job (jobRetentionMs).",
  }),
  presenceLastSeenMaxAgeMs: Type.Integer({
    minimum: 1000,
    default: 2_592_000_000,
    description: "A member's last-seen time on a topic is forgotten this long after it left (30 days).",
  }),
  presenceLastSeenMaxCount: Type.Integer({
    minimum: 1,
    default: 1000,
    description: 'Most last-seen entries kept per topic (the latest).',
  }),
  retentionSweepMs: Type.Integer({
    minimum: 100,
    default: 10_000,
    description:
      'Pause between two rounds of cleanup of what expired (topics, last-seen times, receipts, jobs, idempotency keys), each done in small batches.',
  }),
  webhooks: Type.Array(
    Type.Object(
      {
        id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
        url: Type.String({ pattern: '^https?://' }),
        secrets: Type.Array(Type.String({ pattern: '^whsec_[A-Za-z0-9+/]{32,}={0,2}$' }), { minItems: 1 }),
        events: Type.Array(Type.Union(WebhookEventTypes.map((e) => Type.Literal(e))), { minItems: 1 }),
        topics: Type.Optional(Type.Array(Type.String())),
        timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
        concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
      },
      { additionalProperties: false },
    ),
    {
      default: [],
      description:
        'Signed webhook endpoints (file only): `id`, `url`, `secrets` (whsec_..., each signs), `events`, optional `topics` patterns, `timeoutMs`, `concurrency`. See docs/integrations.md.',
    },
  ),
  webhookRetryScheduleMs: Type.Array(Type.Integer({ minimum: 10 }), {
    default: [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
    description:
      'Pauses before each retry of a failed webhook delivery (about a day in all by default); after the last, the delivery is dropped and counted. Env: comma-separated.',
  }),
  webhookTimeoutMs: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 10_000,
    description: 'A webhook delivery not answered within this is a failed attempt (retried).',
  }),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'Log level.' },
  ),
  nodeId: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: "This node's name in logs and `connected` messages. Random when absent.",
    }),
  ),
});

export type Config = Static<typeof ConfigSchema>;

/**
 * Keys whose values are secrets: a problem with one names the key and the rule, never the value
 * (config errors go to stderr, and from there to terminals, CI logs and log collectors).
 */
export const SECRET_CONFIG_KEYS: ReadonlySet<string> = new Set([
  'apiKey',
  'apiKeys',
  'tokenSecret',
  'metricsToken',
  'redis',
  'redisCluster',
  'webhooks',
]);

/** Keys holding lists of objects: set in the config file only (a flag or variable is refused). */
const FILE_ONLY_KEYS: ReadonlySet<string> = new Set(['apiKeys', 'tokenIssuers', 'webhooks']);

/** Own keys only: `__proto__`, `constructor` and the like are unknown keys, not inherited ones. */
const isConfigKey = (key: string): boolean => Object.hasOwn(ConfigSchema.properties, key);

/** A JSON syntax error without the excerpt of the file that V8 quotes (it may hold a secret). */
function jsonProblem(err: SyntaxError): string {
  const where = /position \d+(?: \(line \d+ column \d+\))?/.exec(err.message)?.[0];
  return where ? `not valid JSON (at ${where})` : 'not valid JSON';
}

/** Thrown with every problem found, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

/** The environment variable of a config key: `historyMaxCount` -> `INLOOP_HISTORY_MAX_COUNT`. */
export const envName = (key: string): string => `INLOOP_${snake(key)}`;
/** The flag of a config key: `historyMaxCount` -> `--history-max-count`. */
export const flagName = (key: string): string => `--${kebab(key)}`;

function isArraySchema(schema: TSchema): boolean {
  return (schema as { type?: string }).type === 'array';
}

function fromEnv(env: NodeJS.ProcessEnv, schema: TObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties)) {
    const raw = env[envName(key)] ?? (key === 'port' ? env.PORT : undefined);
    if (raw === undefined || raw === '') continue;
    out[key] =
      isArraySchema(prop) && !FILE_ONLY_KEYS.has(key)
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : raw;
  }
  return out;
}

function fromFlags(
  argv: readonly string[],
  schema: TObject,
  problems: string[],
): { values: Record<string, unknown>; file?: string } {
  const byFlag = new Map(Object.keys(schema.properties).map((k) => [flagName(k), k]));
  const values: Record<string, unknown> = {};
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    if (!arg.startsWith('--')) {
      // Not echoed: a stray argument is often a value whose flag was mistyped (a secret, say).
      problems.push(`argument ${i + 1} is not a flag (flags start with --; its text is not shown)`);
      continue;
    }
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = inline ?? argv[i + 1];
    if (flag === '--config') {
      file = value;
      if (inline === undefined) i++;
      continue;
    }
    const key = byFlag.get(flag);
    if (!key) {
      problems.push(`unknown flag ${flag}`);
      continue;
    }
    if (value === undefined) {
      problems.push(`${flag} needs a value`);
      continue;
    }
    if (inline === undefined) i++;
    const prop = schema.properties[key]!;
    if (isArraySchema(prop)) {
      const list = (values[key] as string[] | undefined) ?? [];
      list.push(...value.split(','));
      values[key] = list;
    } else values[key] = value;
  }
  return file === undefined ? { values } : { values, file };
}

export interface ConfigSources {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Values given programmatically (highest precedence, e.g. `createNode(options)`). */
  overrides?: Partial<Config>;
}

/**
 * Build the frozen configuration from all sources. Throws {@link ConfigError} listing every
 * problem (unknown flags, unreadable file, each invalid value) at once.
 */
export function loadConfig(sources: ConfigSources = {}): Readonly<Config> {
  const problems: string[] = [];
  const env = sources.env ?? {};
  const flags = fromFlags(sources.argv ?? [], ConfigSchema, problems);
  const fileName = flags.file ?? env.INLOOP_CONFIG;
  let fileValues: Record<string, unknown> = {};
  if (fileName) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(fileName, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        problems.push(`config file ${fileName}: not a JSON object`);
      else fileValues = parsed as Record<string, unknown>;
    } catch (err) {
      problems.push(
        `config file ${fileName}: ${err instanceof SyntaxError ? jsonProblem(err) : (err as Error).message}`,
      );
    }
  }
  for (const key of Object.keys(fileValues))
    if (!isConfigKey(key)) problems.push(`config file: unknown key ${JSON.stringify(key)}`);
  const merged: Record<string, unknown> = {
    ...fileValues,
    ...fromEnv(env, ConfigSchema),
    ...flags.values,
    ...sources.overrides,
  };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, merged));
  for (const error of Value.Errors(ConfigSchema, converted)) {
    const key = error.path.replace(/^\//, '').replace(/\//g, '.') || '(root)';
    const top = key.split('.')[0]!;
    if (key === '(root)' || SECRET_CONFIG_KEYS.has(top)) problems.push(`${key}: ${error.message} (value not shown)`);
    else if (isConfigKey(top)) problems.push(`${key}: ${error.message} (got ${JSON.stringify(error.value)})`);
  }
  if (problems.length === 0) {
    const c = converted as Config;
    if (c.httpHeadersTimeoutMs > c.httpRequestTimeoutMs)
      problems.push(
        `httpHeadersTimeoutMs (${c.httpHeadersTimeoutMs}) must not exceed httpRequestTimeoutMs (${c.httpRequestTimeoutMs}): the headers are part of the request`,
      );
    if (c.redis !== undefined && c.redisCluster.length > 0)
      problems.push('redis and redisCluster are both set: give one server (redis) or a Redis Cluster (redisCluster)');
    if (c.presenceTtlMs <= c.pingIntervalMs)
      problems.push(
        `presenceTtlMs (${c.presenceTtlMs}) must exceed pingIntervalMs (${c.pingIntervalMs}): a healthy connection would flicker out of presence`,
      );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(Value.Clean(ConfigSchema, converted) as Config);
}
