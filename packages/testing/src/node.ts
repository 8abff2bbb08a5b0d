import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createClient, type ClientOptions, type InloopClient } from '@inloop/client';
import { SseParser, type Scope } from '@inloop/protocol';
import { createNode, type InloopNode, type NodeOptions } from '@inloop/server';
import { tempDir, waitFor } from './wait.js';

export interface TestNode extends AsyncDisposable {
  node: InloopNode;
  url: string;
  dataDir: string;
  /** Authorized fetch against the node with its API key. */
  api(
    path: string,
    init?: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  token(subject: string, scopes: Scope[], ttlSeconds?: number): Promise<string>;
  client(token: string | (() => Promise<string>), options?: Partial<ClientOptions>): InloopClient;
}

/** A real node on a loopback port with a real SQLite file in a temporary directory. */
export async function startNode(options: NodeOptions = {}): Promise<TestNode> {
  const dir = options.dataDir ? undefined : tempDir();
  const node = await createNode({ port: 0, host: '127.0.0.1', processMetrics: false, dataDir: dir?.path, ...options });
  const url = await node.listen();
  const clients: InloopClient[] = [];
  return {
    node,
    url,
    dataDir: node.config.dataDir,
    api: (path, init = {}) => apiRequest(url, node.apiKey, path, init),
    async token(subject, scopes, ttlSeconds = 600) {
      return (await node.mintToken(subject, scopes, ttlSeconds)).token;
    },
    client(token, options = {}) {
      const c = testClient(url, token, options);
      clients.push(c);
      return c;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close()));
      await node.close();
      dir?.remove();
    },
  };
}

/**
 * Fetch `base + path` with a bearer credential (`init.token`, else `apiKey`); a body other than a
 * string is sent as JSON (POST unless `init.method` says otherwise); a JSON reply is parsed.
 */
export async function apiRequest(
  base: string,
  apiKey: string,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; token?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(base + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${init.token ?? apiKey}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, headers: res.headers };
}

/** An SDK client over `ws` with a fast reconnect, for tests. */
export function testClient(
  url: string,
  token: string | (() => Promise<string>),
  options: Partial<ClientOptions> = {},
): InloopClient {
  return createClient({ url, token, WebSocket: WebSocket as never, backoff: { minMs: 20, maxMs: 200 }, ...options });
}

/**
 * A TCP proxy in front of a node, to cut connections the way a network does: `dropAll()` destroys
 * every proxied socket without a close frame (the client sees 1006 / a torn stream).
 */
export async function tcpProxy(targetPort: number): Promise<{
  url: string;
  dropAll: () => number;
  freezeAll: () => number;
  cut: () => number;
  restore: () => void;
  close: () => Promise<void>;
}> {
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream).pipe(client);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dropAll = (): number => {
    const n = pairs.size;
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
    return n;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    /** Stop forwarding without closing anything: a peer that went silent (a crashed laptop). */
    freezeAll() {
      for (const [a, b] of pairs) {
        a.unpipe();
        b.unpipe();
        a.pause();
        b.pause();
      }
      return pairs.size;
    },
    dropAll,
    /** Drop every connection and refuse new ones until `restore()`: a network that is down. */
    cut() {
      refusing = true;
      return dropAll();
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const pair of pairs) for (const socket of pair) socket.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * The `inloop` command next to the server entry this package resolves: `src/cli.ts` under the
 * `source` condition (tests), `dist/cli.js` otherwise.
 */
function cliPath(): string {
  const entry = fileURLToPath(import.meta.resolve('@inloop/server'));
  return entry.replace(/index\.(ts|js)$/, 'cli.$1');
}

/** Node flags to run `file`: TypeScript sources go through tsx with the `source` condition. */
function runnerArgs(file: string): string[] {
  return file.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx', file] : [file];
}

/** Run the `inloop` command in a child process (for crash tests); resolves once it listens. */
export async function spawnNode(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, runnerArgs(cliPath()), {
    env: { ...process.env, INLOOP_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = (await waitFor(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], 20_000, 'the node to listen'))!;
  return { child, url, output: () => out };
}

/** A raw protocol connection (no SDK): for asserting exactly what the node answers. */
export async function rawSession(
  url: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{
  connected: boolean;
  closeCode: Promise<number>;
  request(message: Record<string, unknown>): Promise<Record<string, any>>;
  frames: Record<string, any>[];
  ws: WebSocket;
}> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/ws', { headers });
  const frames: Record<string, any>[] = [];
  const waiters: ((m: Record<string, any>) => void)[] = [];
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      const m = JSON.parse(line) as Record<string, any>;
      frames.push(m);
      for (const w of [...waiters]) w(m);
    }
  });
  const closeCode = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const first = new Promise<Record<string, any> | null>((resolve) => {
    waiters.push((m) => (m.type === 'connected' || m.type === 'error') && resolve(m));
    void closeCode.then(() => resolve(null));
  });
  ws.send(JSON.stringify({ type: 'connect', token }));
  const reply = await first;
  return {
    connected: reply?.type === 'connected',
    closeCode,
    frames,
    ws,
    request(message) {
      return new Promise((resolve) => {
        waiters.push((m) => m.id === message.id && resolve(m));
        void closeCode.then((code) => resolve({ type: 'closed', code }));
        ws.send(JSON.stringify(message));
      });
    },
  };
}

/** Read an SSE response into parsed events until the stream ends or `until` says stop. */
export async function readSse(
  res: Response,
  until: (events: { event: string; id?: string; data: any }[]) => boolean = () => false,
): Promise<{ event: string; id?: string; data: any }[]> {
  const events: { event: string; id?: string; data: any }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    for (const { event, id, data } of parser.feed(decoder.decode(value, { stream: true }))) {
      events.push({ event, ...(id ? { id } : {}), data: JSON.parse(data) });
      if (until(events)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

/** Run a test fixture script (`name` in the `fixtures` directory given) in a child process. */
export function spawnFixture(
  name: string,
  args: string[],
  fixtures: URL,
): { child: ChildProcess; output: () => string } {
  const file = fileURLToPath(new URL(name, fixtures));
  const child = spawn(process.execPath, [...runnerArgs(file), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}
