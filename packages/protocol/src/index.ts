export * from './version.js';
export * from './errors.js';
export * from './close-codes.js';
export * from './topic.js';
export * from './scopes.js';
export * from './messages.js';
export * from './codec.js';
export * from './jobs.js';
