import { spawnFixture as spawnFixtureIn } from '@inloop/testing';

// The shared helpers live in @inloop/testing (other packages and third-party backends use them);
// this module keeps the server's tests importing them from one short path.
export {
  apiRequest,
  exited,
  freePort,
  rawSession,
  readSse,
  sleep,
  spawnNode,
  startNode,
  tcpProxy,
  tempDir,
  testClient,
  waitFor,
  type TestNode,
} from '@inloop/testing';

/** Run a fixture script from this package's test/fixtures in a child process. */
export function spawnFixture(name: string, args: string[]): ReturnType<typeof spawnFixtureIn> {
  return spawnFixtureIn(name, args, new URL('./fixtures/', import.meta.url));
}
