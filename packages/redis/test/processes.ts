import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ClientOptions, InloopClient } from '@inloop/client';
import type { Scope } from '@inloop/protocol';
import { apiRequest, exited, spawnFixture as spawnServerFixture, spawnNode, testClient } from '@inloop/testing';

export interface NodeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  alive: boolean;
}

/** Inloop nodes in their own processes (the `inloop` command), sharing one Redis. */
export interface ProcessCluster extends AsyncDisposable {
  nodes: NodeProcess[];
  apiKey: string;
  /** The key prefix the nodes share in Redis. */
  prefix: string;
  /** Ports of the nodes still running (for a balancer). */
  livePorts(): number[];
  /** Mint a client token through any live node. */
  token(subject: string, scopes: Scope[]): Promise<string>;
  /** An SDK client with a fast reconnect. */
  client(url: string, token: string, options?: Partial<ClientOptions>): InloopClient;
  /** Authorized fetch against a node. */
  api(
    url: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any }>;
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
}

export async function spawnCluster(
  redisUrl: string,
  n: number,
  env: Record<string, string> = {},
): Promise<ProcessCluster> {
  const apiKey = randomBytes(18).toString('base64url');
  const shared = {
    INLOOP_REDIS: redisUrl,
    INLOOP_REDIS_PREFIX: `p${randomBytes(4).toString('hex')}`,
    INLOOP_PORT: '0',
    INLOOP_HOST: '127.0.0.1',
    INLOOP_API_KEY: apiKey,
    ...env,
  };
  const nodes: NodeProcess[] = [];
  for (let i = 0; i < n; i++) {
    const spawned = await spawnNode(shared);
    nodes.push({ ...spawned, port: Number(new URL(spawned.url).port), alive: true });
  }
  const clients: InloopClient[] = [];
  const api = (url: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    apiRequest(url, apiKey, path, { body, headers });
  return {
    nodes,
    apiKey,
    prefix: shared.INLOOP_REDIS_PREFIX,
    livePorts: () => nodes.filter((x) => x.alive).map((x) => x.port),
    async token(subject, scopes) {
      const live = nodes.find((x) => x.alive)!;
      const res = await api(live.url, '/v1/tokens', { subject, scopes, ttlSeconds: 600 });
      if (res.status !== 201) throw new Error(`minting failed: ${JSON.stringify(res.body)}`);
      return res.body.token as string;
    },
    client(url, token, options = {}) {
      const c = testClient(url, token, options);
      clients.push(c);
      return c;
    },
    api,
    async kill(index, signal = 'SIGKILL') {
      const node = nodes[index]!;
      node.alive = false;
      node.child.kill(signal);
      await exited(node.child);
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close()));
      for (const node of nodes) {
        if (node.child.exitCode === null && node.child.signalCode === null) {
          node.child.kill('SIGTERM');
          await exited(node.child);
        }
      }
    },
  };
}

/** Run one of this package's test fixtures (test/fixtures/*.ts) in a child process. */
export function spawnFixture(name: string, args: string[]): ReturnType<typeof spawnServerFixture> {
  return spawnServerFixture(name, args, new URL('./fixtures/', import.meta.url));
}
