import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Hub } from '../domain/hub.js';
import type { Metrics } from '../metrics.js';
import type { Tokens } from '../auth/tokens.js';

/** What sessions need from the node; built once and shared by every connection. */
export interface SessionContext {
  readonly nodeId: string;
  readonly config: Readonly<Config>;
  readonly hub: Hub;
  readonly tokens: Tokens;
  readonly metrics: Metrics;
  readonly logger: Logger;
}
