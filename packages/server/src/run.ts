import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { createNode, type InloopNode, type NodeOptions } from './node.js';

export interface RunOptions {
  /** Passed to {@link createNode}: add routes and handlers before the node starts. */
  extend?: NodeOptions['extend'];
  /** Called once the node listens (start companions that connect to it). */
  started?: (node: InloopNode) => void | Promise<void>;
  /** Called before the node drains on SIGTERM / SIGINT. */
  stopping?: () => void | Promise<void>;
}

/**
 * Start a node from flags, environment and an optional config file, the way the `inloop` command
 * does: invalid config exits 2 listing every problem; SIGTERM / SIGINT drain (clients are told to
 * reconnect elsewhere), then storage closes.
 */
export async function run(options: RunOptions = {}): Promise<InloopNode> {
  let config;
  try {
    config = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const node = await createNode({ ...config, logger, ...(options.extend ? { extend: options.extend } : {}) });
  const url = await node.listen();
  if (node.apiKeyCreated) {
    process.stdout.write(
      `\nInloop generated an API key for backends (stored in ${config.dataDir}/api-key; shown only now):\n\n  ${node.apiKey}\n\n`,
    );
  }
  process.stdout.write(`Inloop is listening on ${url}  (${storedIn(config)})\n`);
  await options.started?.(node);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    Promise.resolve(options.stopping?.())
      .then(() => node.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return node;
}

/** Where the node keeps its data, for the start line (without passwords). */
function storedIn(config: Readonly<Config>): string {
  if (config.redis) return `redis: ${redacted(config.redis)}`;
  if (config.redisCluster.length > 0)
    return `redis cluster: ${config.redisCluster.map((n) => (/^rediss?:/.test(n) ? redacted(n) : n)).join(',')}`;
  return `storage: ${config.storage}, data: ${config.dataDir}`;
}

/** A Redis URL without its password, for logs (nothing of it when it does not parse). */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://***';
  }
}
