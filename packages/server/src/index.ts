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
