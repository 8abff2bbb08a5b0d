import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { countOf, RawWs, timestamps } from './raw-ws.js';

/** Per-subscriber callbacks: deliveries counted, timestamps sampled (only on some subscribers). */
export interface Sink {
  count(n: number): void;
  latency?: (sentAtMs: number) => void;
}

/** A server under test, and how to speak its protocol on raw sockets. */
export interface Target {
  name: string;
  script: string;
  subscribe(port: number, info: ServerInfo, sink: Sink): Promise<RawWs>;
  /** An idle connection: connected (and authenticated where the protocol has it), subscribed to nothing. */
  idle(port: number, info: ServerInfo): Promise<RawWs>;
  publisher(port: number, info: ServerInfo): Promise<(data: string) => void>;
}

export interface ServerInfo {
  port: number;
  token?: string;
}

function until(ws: RawWs, connect: () => void, match: (frame: Buffer) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const pending = ws as unknown as { waiter?: (f: Buffer) => void };
    pending.waiter = (f) => {
      if (match(f)) {
        pending.waiter = undefined;
        resolve();
      }
    };
    connect();
  });
}

/** Build a RawWs whose frames go to a temporary waiter first (for handshakes), then to `onFrame`. */
function raw(port: number, path: string, onFrame: (f: Buffer, ws: RawWs) => void): RawWs {
  const ws: RawWs = new RawWs(port, path, (f) => {
    const waiter = (ws as unknown as { waiter?: (f: Buffer) => void }).waiter;
    if (waiter) waiter(f);
    onFrame(f, ws);
  });
  return ws;
}

const PUB = Buffer.from('{"type":"pub"');

/** An Inloop connection that has sent `connect` and been answered `connected`. */
async function inloopConnected(port: number, info: ServerInfo): Promise<RawWs> {
  const ws = raw(port, '/v1/ws', () => {});
  await ws.connect();
  await until(
    ws,
    () => ws.send(JSON.stringify({ type: 'connect', token: info.token })),
    (f) => f.includes('"connected"'),
  );
  return ws;
}

export const inloop: Target = {
  name: 'inloop',
  script: 'inloop.js',
  async subscribe(port, info, sink) {
    const ws = raw(port, '/v1/ws', (f) => {
      const n = countOf(f, PUB);
      if (n === 0) return;
      sink.count(n);
      if (sink.latency) timestamps(f, sink.latency);
    });
    await ws.connect();
    await until(
      ws,
      () => {
        ws.send(JSON.stringify({ type: 'connect', token: info.token }));
        ws.send(JSON.stringify({ type: 'subscribe', id: 1, topic: 'bench' }));
      },
      (f) => f.includes('"subscribed"'),
    );
    return ws;
  },
  idle(port, info) {
    return inloopConnected(port, info);
  },
  async publisher(port, info) {
    const ws = await inloopConnected(port, info);
    let id = 0;
    return (data) => ws.send(`{"type":"publish","id":${++id},"topic":"bench","data":${data}}`);
  },
};

export const bareWs: Target = {
  name: 'ws (bare broadcast loop)',
  script: 'ws-broadcast.js',
  async subscribe(port, _info, sink) {
    const ws = raw(port, '/sub', (f) => {
      sink.count(1);
      if (sink.latency) timestamps(f, sink.latency);
    });
    await ws.connect();
    return ws;
  },
  async idle(port) {
    const ws = raw(port, '/sub', () => {});
    await ws.connect();
    return ws;
  },
  async publisher(port) {
    const ws = raw(port, '/pub', () => {});
    await ws.connect();
    return (data) => ws.send(data);
  },
};

const MSG = Buffer.from('42["msg"');

async function socketIoConnect(port: number, role: string, onFrame: (f: Buffer) => void): Promise<RawWs> {
  const ws = raw(port, `/socket.io/?EIO=4&transport=websocket&role=${role}`, (f, self) => {
    if (f.length === 1 && f[0] === 0x32)
      self.send('3'); // engine.io ping -> pong
    else onFrame(f);
  });
  await ws.connect();
  await until(
    ws,
    () => ws.send('40'),
    (f) => f.subarray(0, 3).toString() === '40{',
  );
  return ws;
}

export const socketIo: Target = {
  name: 'socket.io (one room)',
  script: 'socketio.js',
  subscribe(port, _info, sink) {
    return socketIoConnect(port, 'sub', (f) => {
      if (f.subarray(0, MSG.length).equals(MSG)) {
        sink.count(1);
        if (sink.latency) timestamps(f, sink.latency);
      }
    });
  },
  idle(port) {
    return socketIoConnect(port, 'sub', () => {});
  },
  async publisher(port) {
    const ws = await socketIoConnect(port, 'pub', () => {});
    return (data) => ws.send(`42["pub",${data}]`);
  },
};

export const targets = [inloop, bareWs, socketIo];

/** Start a target's server pinned to `cpu`; resolves with what it reported. */
export function startServer(target: Target, cpu: number): Promise<{ child: ChildProcess; info: ServerInfo }> {
  return spawnPinned(target.script, cpu);
}

/** Fork `bench/servers/<script>` pinned to `cpu`; resolves once it reports ready over IPC. */
export async function spawnPinned<T = ServerInfo>(
  script: string,
  cpu: number,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; info: T }> {
  const file = fileURLToPath(new URL(`../servers/${script}`, import.meta.url));
  const child = fork(file, ['0'], {
    env: { ...process.env, ...env },
    execPath: 'taskset',
    execArgv: [
      '-c',
      String(cpu),
      process.execPath,
      '--expose-gc',
      '--max-old-space-size=4096',
      // BENCH_CPU_PROF_DIR=dir: each server writes a V8 CPU profile there when it exits.
      // BENCH_CPU_PROF_INTERVAL=µs samples more often than V8's 1 ms, for short hot paths.
      ...(process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : []),
      ...(process.env.BENCH_CPU_PROF_DIR && process.env.BENCH_CPU_PROF_INTERVAL
        ? [`--cpu-prof-interval=${process.env.BENCH_CPU_PROF_INTERVAL}`]
        : []),
      // BENCH_NODE_FLAGS="--trace-gc ...": more flags for each server (those NODE_OPTIONS refuses).
      ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean) : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const info = await new Promise<T>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.on('message', (m: { type?: string } & T) => m.type === 'ready' && resolve(m));
  });
  return { child, info };
}

/** Send a message and wait for the reply of type `reply`. */
export function ask<T>(child: ChildProcess, message: object, reply: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type?: string } & T) => {
      if (m.type !== reply) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send(message);
  });
}

/** Ask the server to collect garbage (it runs with --expose-gc). */
export function gc(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const on = (m: { type?: string }) => {
      if (m.type !== 'gc-done') return;
      child.off('message', on);
      resolve();
    };
    child.on('message', on);
    child.send({ type: 'gc' });
  });
}

export async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
