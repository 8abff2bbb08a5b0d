export { createNode, type InloopNode, type NodeOptions } from './node.js';
export { loadConfig, ConfigSchema, ConfigError, envName, flagName, type Config, type ConfigSources } from './config.js';
export { createLogger } from './logger.js';
export type {
  Broker,
  BrokerOptions,
  AppendInput,
  AppendResult,
  HistoryPage,
  Publication,
  StoredPublication,
  EphemeralPublication,
} from './ports/broker.js';
export { IdempotencyConflictError } from './ports/broker.js';
export { createSqliteBroker, type SqliteBrokerOptions } from './adapters/sqlite-broker.js';
export { createMemoryBroker } from './adapters/memory-broker.js';
export {
  JobService,
  type JobTypeOptions,
  type Report,
  type StartedJob,
  type JobTypeInfo,
} from './domain/jobs/service.js';
export { PermanentJobError, type JobHandler, type JobContext, type JobView } from './domain/jobs/runner.js';
export type {
  JobStore,
  JobStoreOptions,
  JobRecord,
  SizeHint,
  DurationSample,
  PlannedStage,
  JobListQuery,
  JobListPage,
} from './ports/job-store.js';
export { JOB_FINISHED_TTL_MS } from './ports/job-store.js';
export type { NodeBoard } from './ports/node-board.js';
export { createSqliteJobStore } from './adapters/sqlite-job-store.js';
export { Estimator, estimateFrom, type Estimate, type Calibration } from './domain/jobs/estimator.js';
export {
  fitDurations,
  modelOf,
  quantilesOf,
  remainingGiven,
  type DurationFit,
  type DurationModel,
} from './domain/jobs/duration-model.js';
export { timeFraction, progressOf, flagsOf, strategyFor, humanDuration } from './domain/jobs/progress.js';
export { run, type RunOptions } from './run.js';
export { Presence, type PresenceOptions } from './domain/presence.js';
export { ConversationService } from './domain/conversations.js';
export type { ConversationStore, ConversationStoreOptions } from './ports/conversation-store.js';
export { CONVERSATION_STORE_DEFAULTS } from './ports/conversation-store.js';
export type { PresenceStore, PresenceStoreOptions } from './ports/presence-store.js';
export { PRESENCE_STORE_DEFAULTS } from './ports/presence-store.js';
export { Retention, type RetentionOptions } from './domain/retention.js';
export { Refusal, refusalOf, type RefusalOptions } from './errors.js';
export { boundsFor, type RetentionRule } from './ports/broker.js';
export type { Backend } from './ports/backend.js';
export type { JobQueue, JobLocks, JobOutcome, NextTaken, TakenJob, QueuedJob } from './ports/job-queue.js';
export type { PresenceReplica, ReplicaChange, ReplicatedMember } from './ports/presence-replica.js';
export type { QueueingJobStore, Lease } from './ports/job-store.js';
export type { ConversationRecord, MemberRecord, ReceiptTimes } from './ports/conversation-store.js';
export { embeddedBackend } from './adapters/embedded-backend.js';
export { StoreQueue } from './adapters/store-queue.js';
export { newEpoch, payloadDigest } from './adapters/epoch.js';
export { UnbornEpochs } from './adapters/unborn-epochs.js';
export { KeyedLock } from './util/keyed-lock.js';
export { randomToken } from './util/random.js';
export { Tokens, type TokenFailure } from './auth/tokens.js';
export { Issuers, ISSUER_ALGORITHMS, type TrustedIssuer, type ScopeRule, type IssuersOptions } from './auth/issuers.js';
export type { WebhookOutbox, OutboxEntry } from './ports/webhook-outbox.js';
export { createSqliteWebhookOutbox, type SqliteWebhookOutboxOptions } from './adapters/sqlite-webhook-outbox.js';
export { WebhookEventTypes, type WebhookEventType } from './domain/webhooks/events.js';
export type { WebhookEndpoint } from './domain/webhooks/webhooks.js';
