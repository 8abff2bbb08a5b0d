import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Hub } from '../domain/hub.js';
import type { Metrics } from '../metrics.js';
import type { Tokens } from '../auth/tokens.js';
import type { Access } from '../auth/access.js';
import type { ConversationService } from '../domain/conversations.js';
import type { Presence } from '../domain/presence.js';
import type { RateLimits } from '../domain/rate-limits.js';
import type { Typing } from '../domain/typing.js';
import type { StreamService } from '../domain/streams/service.js';
import type { ConnectionCore, Connections } from './connection.js';

/** What sessions need from the node; built once and shared by every connection. */
export interface SessionContext {
  readonly nodeId: string;
  readonly config: Readonly<Config>;
  readonly hub: Hub;
  readonly tokens: Tokens;
  readonly access: Access;
  readonly presence: Presence;
  readonly typing: Typing;
  readonly conversations: ConversationService;
  /** Streams of jobs and messages: watches and stops over WebSocket and SSE. */
  readonly streams: StreamService;
  /** Per-principal rate limits, the same instance the HTTP routes use. */
  readonly limits: RateLimits;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The connection core: write scheduler, byte budget, slow-consumer policy. */
  readonly core: ConnectionCore;
  /** Every open connection of the node and the one sweep over them (expiry, keepalive). */
  readonly connections: Connections;
}
