import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { createClient, type ClientOptions, type InloopClient } from '@inloop/client';
import type { Scope } from '@inloop/protocol';
import { exited, spawnNode } from '../../server/test/helpers.js';

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
  const api = async (url: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as any };
  };
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
      const c = createClient({
        url,
        token,
        WebSocket: WebSocket as never,
        backoff: { minMs: 20, maxMs: 200 },
        ...options,
      });
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
export function spawnFixture(name: string, args: string[]): { child: ChildProcess; output: () => string } {
  const file = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}
