/**
 * `@inloop/testing`: what a backend's tests need, with nothing from the server's own test folder.
 * The conformance suites state each port's guarantees as tests (run them against your adapters:
 * `describeBrokerConformance('mine', factory)`); the helpers start real things: a node on a
 * loopback port, a redis-server or a Redis Cluster of the test's own, a webhook receiver.
 */
export { describeBrokerConformance } from './conformance/broker.js';
export {
  describeConversationStoreConformance,
  describeJobStoreConformance,
  describePresenceStoreConformance,
  jobRecord,
} from './conformance/stores.js';
export { describeJobQueueConformance, type SharedQueue } from './conformance/job-queue.js';
export { describeWebhookOutboxConformance } from './conformance/webhook-outbox.js';
export { exited, freePort, sleep, tempDir, waitFor } from './wait.js';
export {
  apiRequest,
  rawSession,
  readSse,
  spawnFixture,
  spawnNode,
  startNode,
  tcpProxy,
  testClient,
  type TestNode,
} from './node.js';
export { startRedis, type TestRedis } from './redis-server.js';
export { startRedisCluster, type TestRedisCluster } from './redis-cluster.js';
export { newSecret, Receiver, type Behaviour } from './webhook-receiver.js';
