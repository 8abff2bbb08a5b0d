import { Agent, request } from 'node:http';
import {
  badFrameCode,
  DOCUMENTED_CLOSE_CODES,
  hostileFrame,
  hostileRequests,
  outsideCatalog,
  prng,
  type HostileFrame,
  type HostileRequest,
} from './hostile.js';
import { countOf, RawWs } from './raw-ws.js';

/**
 * The hostile half of the fuzz soak, in its own process (forked by bench/fuzz.ts) so the
 * well-behaved client's latency is not measured through this event loop: many WebSocket
 * connections firing hostile frames as fast as the node reads them, reconnecting whenever the
 * node closes one, and keep-alive HTTP requests to every route. Every answer is audited.
 */

export interface LoadPlan {
  port: number;
  /** Connect tokens: valid, narrow, expired, garbage. */
  tokens: string[];
  /** Authorization header values for HTTP (undefined: none). */
  credentials: (string | undefined)[];
  topics: string[];
  openapi: any;
  connections: number;
  httpConcurrency: number;
  /** Stop after this long, or once both targets are met, whichever is later. */
  ms: number;
  frames: number;
  requests: number;
  seed: number;
}

export interface LoadReport {
  frames: number;
  /** Of `frames`, those sent on a connection the node closed before answering them. */
  unanswered: number;
  requests: number;
  connections: number;
  closeCodes: Record<string, number>;
  errorCodes: Record<string, number>;
  httpStatuses: Record<string, number>;
  /** Each distinct answer outside the catalog (or close code outside the table), with an example. */
  outside: { kind: string; count: number; example: string }[];
  elapsedMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

class Outside {
  readonly #m = new Map<string, { count: number; example: string }>();
  add(kind: string, example: string): void {
    const e = this.#m.get(kind);
    if (e) e.count++;
    else this.#m.set(kind, { count: 1, example: example.slice(0, 400) });
  }
  list() {
    return [...this.#m].map(([kind, e]) => ({ kind, ...e }));
  }
}

const CODE = Buffer.from('"code":"');
const CONNECTED = Buffer.from('"type":"connected"');

/** Frames a connection may have sent that the node has not answered yet. */
const WINDOW = 8;
const TYPE = Buffer.from('"type":"');
const UNSOLICITED = [Buffer.from('"type":"pub"'), Buffer.from('"type":"presence.diff"'), CONNECTED];

/**
 * One connection after another: connect, then hostile frames with at most {@link WINDOW}
 * unanswered, so frames are counted only while the node is reading them (not ones queued on a
 * socket it has stopped reading); when the node closes the connection, note the code and reconnect.
 */
async function wsWorker(plan: LoadPlan, pool: HostileFrame[], offset: number, state: State): Promise<void> {
  let next = offset;
  let last = '';
  while (state.running) {
    let connected = false;
    let answered = 0;
    let wake: (() => void) | undefined;
    const ws: RawWs = new RawWs(plan.port, '/v1/ws', (payload) => {
      if (payload.includes(CONNECTED)) connected = true;
      answered += countOf(payload, TYPE) - UNSOLICITED.reduce((n, u) => n + countOf(payload, u), 0);
      for (let i = payload.indexOf(CODE); i >= 0; i = payload.indexOf(CODE, i + 8)) {
        const end = payload.indexOf(0x22, i + 8);
        const code = payload.toString('latin1', i + 8, end);
        bump(state.errorCodes, code);
        if (badFrameCode(code)) state.outside.add(`ws error ${code}`, `after ${last}`);
      }
      wake?.();
    });
    try {
      await ws.connect();
    } catch {
      state.connectFailures++;
      await sleep(20);
      continue;
    }
    state.connections++;
    ws.send(JSON.stringify({ type: 'connect', token: plan.tokens[state.connections % plan.tokens.length] }));
    for (let waited = 0; !connected && !ws.closed && ws.closeCode === undefined && waited < 5000; waited += 2)
      await sleep(2);
    answered = 0;
    let sent = 0;
    while (state.running && !ws.closed && ws.closeCode === undefined) {
      if (sent - answered >= WINDOW) {
        // Wait for an answer; a frame the node does not answer (or a close) frees its slot after a while.
        const answeredBefore = answered;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        wake = undefined;
        if (answered === answeredBefore) answered++;
        continue;
      }
      const frame = pool[next++ % pool.length]!;
      last = frame.payload.length > 200 ? `${frame.payload.toString('latin1', 0, 200)}...` : frame.payload.toString();
      sent++;
      state.frames++;
      if (!ws.send(frame.payload, frame.opcode)) await ws.drained();
    }
    state.unanswered += Math.max(0, sent - answered);
    if (!state.running && ws.closeCode === undefined && !ws.closed) {
      ws.close();
      break;
    }
    // The node spoke last: wait briefly for its close frame, else it cut the TCP connection (1006).
    for (let waited = 0; ws.closeCode === undefined && !ws.closed && waited < 1000; waited += 5) await sleep(5);
    const code = ws.closeCode ?? 1006;
    ws.close();
    bump(state.closeCodes, String(code));
    if (!DOCUMENTED_CLOSE_CODES.has(code)) state.outside.add(`ws close ${code}`, `after ${last}`);
    if (code === 4003) state.outside.add('ws close 4003 (internal fault)', `after ${last}`);
  }
}

function send(
  plan: LoadPlan,
  req: HostileRequest,
  agent: Agent,
): Promise<{ status: number; type: string; body: string } | null> {
  return new Promise((resolve) => {
    const headers =
      req.body === undefined ? req.headers : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
    let r;
    try {
      r = request({ host: '127.0.0.1', port: plan.port, method: req.method, path: req.path, headers, agent }, (res) => {
        const type = String(res.headers['content-type'] ?? '');
        if (type.startsWith('text/event-stream')) {
          res.destroy();
          return resolve({ status: res.statusCode ?? 0, type, body: '' });
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => resolve(null));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type, body: Buffer.concat(chunks).toString() }));
      });
    } catch {
      return resolve(null);
    }
    r.setTimeout(10_000, () => r.destroy());
    r.on('error', () => resolve(null));
    r.end(req.body);
  });
}

async function httpWorker(
  plan: LoadPlan,
  pool: HostileRequest[],
  offset: number,
  agent: Agent,
  state: State,
): Promise<void> {
  for (let i = offset; state.running; i += plan.httpConcurrency) {
    const req = pool[i % pool.length]!;
    const res = await send(plan, req, agent);
    state.requests++;
    if (!res) {
      state.httpFailures++;
      continue;
    }
    bump(state.httpStatuses, String(res.status));
    const wrong = outsideCatalog(req.method, res.status, res.type, res.body);
    if (wrong)
      state.outside.add(
        `http ${wrong}`,
        `${req.method} ${req.path.slice(0, 150)} ${req.body?.slice(0, 150) ?? ''} -> ${res.body.slice(0, 200)}`,
      );
  }
}

interface State {
  running: boolean;
  frames: number;
  requests: number;
  connections: number;
  connectFailures: number;
  httpFailures: number;
  /** Frames still unanswered when their connection closed (the node may not have read them). */
  unanswered: number;
  closeCodes: Record<string, number>;
  errorCodes: Record<string, number>;
  httpStatuses: Record<string, number>;
  outside: Outside;
}

/** Fire the plan; resolves with what happened. `stop()` ends it early (the node crashed). */
export async function runLoad(plan: LoadPlan, stop: { requested: boolean }): Promise<LoadReport> {
  const r = prng(plan.seed);
  const frames = Array.from({ length: 20_000 }, () => hostileFrame(r, plan.topics, plan.tokens[0]!));
  const requests = hostileRequests(r, plan.openapi, 20_000, { topics: plan.topics, credentials: plan.credentials });
  const state: State = {
    running: true,
    frames: 0,
    requests: 0,
    connections: 0,
    connectFailures: 0,
    httpFailures: 0,
    unanswered: 0,
    closeCodes: {},
    errorCodes: {},
    httpStatuses: {},
    outside: new Outside(),
  };
  const agent = new Agent({ keepAlive: true, maxSockets: plan.httpConcurrency });
  const start = performance.now();
  const workers = [
    ...Array.from({ length: plan.connections }, (_, i) => wsWorker(plan, frames, i * 997, state)),
    ...Array.from({ length: plan.httpConcurrency }, (_, i) => httpWorker(plan, requests, i, agent, state)),
  ];
  while (
    !stop.requested &&
    (performance.now() - start < plan.ms ||
      state.frames - state.unanswered < plan.frames ||
      state.requests < plan.requests)
  )
    await sleep(100);
  state.running = false;
  await Promise.all(workers);
  agent.destroy();
  if (state.connectFailures) state.outside.add('ws connection refused', `${state.connectFailures} times`);
  if (state.httpFailures && !stop.requested)
    state.outside.add('http request without an answer (reset or timeout)', `${state.httpFailures} times`);
  return {
    frames: state.frames,
    unanswered: state.unanswered,
    requests: state.requests,
    connections: state.connections,
    closeCodes: state.closeCodes,
    errorCodes: state.errorCodes,
    httpStatuses: state.httpStatuses,
    outside: state.outside.list(),
    elapsedMs: performance.now() - start,
  };
}

// Forked by bench/fuzz.ts: run the plan it sends, report back.
if (process.send) {
  const stop = { requested: false };
  process.on('message', (m: { type: string; plan?: LoadPlan }) => {
    if (m.type === 'stop') stop.requested = true;
    if (m.type === 'start')
      void runLoad(m.plan!, stop).then((report) => {
        process.send!({ type: 'done', report });
        process.disconnect();
      });
  });
}
