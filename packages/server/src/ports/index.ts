/**
 * `@inloop/server/ports`: what a backend implements, and the small helpers every backend so far
 * has needed, without the app (no Fastify, no SQLite driver, no config schema). A backend package
 * imports from here and runs the conformance suites of `@inloop/testing` against itself; see
 * "Writing a backend" in docs/architecture.md.
 *
 * @example
 * import type { Backend, Broker, BrokerOptions } from '@inloop/server/ports';
 */
// Every port module, whole: a port file holds only the port, its records and its defaults.
export * from './backend.js';
export * from './broker.js';
export * from './conversation-store.js';
export * from './job-queue.js';
export * from './job-store.js';
export * from './node-board.js';
export * from './presence-replica.js';
export * from './presence-store.js';
export * from './stream-store.js';
export * from './webhook-outbox.js';

// Helpers a backend may reuse: refusals with a catalog code, epochs and idempotency digests,
// epochs of topics not yet written, per-key serialisation, lease tokens, and the embedded queue
// over any store that can list its own due jobs.
export { Refusal, refusalOf, type RefusalOptions } from '../errors.js';
export { newEpoch, payloadDigest } from '../adapters/epoch.js';
export { UnbornEpochs } from '../adapters/unborn-epochs.js';
export { StoreQueue } from '../adapters/store-queue.js';
export { KeyedLock } from '../util/keyed-lock.js';
export { randomToken } from '../util/random.js';
