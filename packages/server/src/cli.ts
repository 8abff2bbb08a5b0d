#!/usr/bin/env node
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createNode } from './node.js';

/**
 * `inloop`: start a node from flags, environment and an optional config file.
 * SIGTERM/SIGINT drain: clients are told to reconnect elsewhere, then storage closes.
 */
async function main(): Promise<void> {
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
  const node = await createNode({ ...config, logger });
  const url = await node.listen();
  if (node.apiKeyCreated) {
    process.stdout.write(
      `\nInloop generated an API key for backends (stored in ${config.dataDir}/api-key; shown only now):\n\n  ${node.apiKey}\n\n`,
    );
  }
  process.stdout.write(`Inloop is listening on ${url}  (storage: ${config.storage}, data: ${config.dataDir})\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    node.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`inloop: failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
