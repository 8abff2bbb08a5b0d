#!/usr/bin/env node
import { run } from './run.js';

/** `inloop`: start a node from flags, environment and an optional config file. */
run().catch((err: unknown) => {
  process.stderr.write(`inloop: failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
