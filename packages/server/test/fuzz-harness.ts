import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { CloseCodes, ErrorCatalog, type ErrorCode } from '@inloop/protocol';
import type { FuzzFrame } from './fuzz-frames.js';
import type { FuzzRequest } from './fuzz-inputs.js';
import { rawSession, readSse, sleep, waitFor } from './helpers.js';

/**
 * The fuzz suite's side of the wire: a node in a child process whose exit is a finding (not the
 * end of the test run), requests sent verbatim, every answer checked against the error catalog,
 * and well-behaved clients that must lose nothing while it all happens.
 */

/** Close codes a client may see: the node's table, and the platform's normal, going-away, abnormal and too-big. */
export const DOCUMENTED_CLOSE_CODES: ReadonlySet<number> = new Set([
  ...Object.values(CloseCodes),
  1000,
  1001,
  1006,
  1009,
]);

/** What a client must never see in a body: stack frames, file names, framework or driver codes. */
const INTERNALS =
  /\n\s+at |\bat [\w.<>]+ \(|node_modules|\.[cm]?[jt]s:\d+|FST_ERR|SQLITE_|RangeError|TypeError|ReferenceError/;

/** Distinct classes of misbehaviour, each with the first request or frame that showed it. */
export class Findings {
  readonly #classes = new Map<string, { count: number; example: string }>();

  add(kind: string, example: string): void {
    const entry = this.#classes.get(kind);
    if (entry) entry.count++;
    else this.#classes.set(kind, { count: 1, example });
  }

  get size(): number {
    return this.#classes.size;
  }

  /** One paragraph per class: what was wrong, how often, and how to reproduce it. */
  toString(): string {
    return [...this.#classes].map(([kind, { count, example }]) => `- ${kind} (x${count})\n    ${example}`).join('\n');
  }
}

const clip = (text: string, max = 240): string =>
  text.length > max ? `${text.slice(0, max)}... (${text.length} chars)` : text;

/** Why an error code is wrong for a client's input, or null when it is fine. */
function codeProblem(code: unknown): string | null {
  if (typeof code !== 'string' || !Object.hasOwn(ErrorCatalog, code)) return `uncatalogued code ${String(code)}`;
  if (code === 'internal' || code === 'unavailable') return `code ${code} for client input`;
  return null;
}

/** Why an HTTP answer breaks the error contract (RFC 9457 problem, catalogued code, its status), or null. */
export function httpViolation(method: string, status: number, contentType: string, body: string): string | null {
  if (status < 400) return null;
  // A HEAD answer has the headers of the GET and no body.
  if (method === 'HEAD')
    return contentType.startsWith('application/problem+json')
      ? null
      : `${status} to HEAD is not a problem (${contentType})`;
  if (!contentType.startsWith('application/problem+json')) {
    const code = problemCode(body);
    return `${status} is not a problem document (${contentType || 'no content-type'}${code === '-' ? '' : `, code ${code}`})`;
  }
  let doc: { code?: unknown; status?: unknown };
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch {
    return `${status} problem+json that is not JSON`;
  }
  const wrongCode = codeProblem(doc.code);
  if (wrongCode) return `${status}: ${wrongCode}`;
  const expected = ErrorCatalog[doc.code as ErrorCode].status;
  if (doc.status !== status || expected !== status)
    return `${doc.code as string}: status ${status}, document says ${String(doc.status)}, catalog ${expected}`;
  if (INTERNALS.test(body)) return `${doc.code as string}: internals in the body`;
  return null;
}

/** A node in a child process: its exit is noticed and explained, with what was sent last. */
export class WatchedNode {
  readonly #recent: string[] = [];
  #exit: string | null = null;
  #reported = false;

  constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly output: () => string,
  ) {
    child.once('exit', (code, signal) => (this.#exit = `exited with ${signal ?? `code ${code}`}`));
  }

  /** Remember what is about to be sent (the last few are named if the node dies). */
  sending(what: string): void {
    this.#recent.push(clip(what, 400));
    if (this.#recent.length > 8) this.#recent.shift();
  }

  get crashed(): boolean {
    return this.#exit !== null;
  }

  /** `pending`, or, if it fails because the node has exited, the explanation of that. */
  async alive<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      this.assertAlive();
      throw err;
    }
  }

  /**
   * Throw, naming the last inputs and the node's last output, if the node has exited (in full
   * the first time; later tests only point back to it).
   */
  assertAlive(): void {
    if (this.#exit === null) return;
    if (this.#reported) throw new Error(`the node had already ${this.#exit} (see the first failure)`);
    this.#reported = true;
    const tail = this.output().slice(-3000);
    throw new Error(
      `the node ${this.#exit} while being fuzzed. Last inputs sent:\n  ${this.#recent.join('\n  ')}\n` +
        `Its last output:\n${tail}`,
    );
  }
}

/** What came back for one request: an answer, or a transport error (reset, timeout). */
export type HttpOutcome = { status: number; contentType: string; body: string } | { error: string };

/**
 * Send a request exactly as given (no URL normalization, unlike fetch); event streams are cut
 * after their headers, and a request unanswered after `timeoutMs` is abandoned.
 */
export function sendRaw(base: string, req: FuzzRequest, agent: Agent, timeoutMs: number): Promise<HttpOutcome> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    let r;
    try {
      // Node frames a DELETE or OPTIONS body with neither length nor chunking: say its length, or
      // the body would reach the node as the next request on the connection.
      const headers =
        req.body === undefined
          ? req.headers
          : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
      r = request({ host: hostname, port, method: req.method, path: req.path, headers, agent }, (res) => {
        const contentType = String(res.headers['content-type'] ?? '');
        if (contentType.startsWith('text/event-stream')) {
          res.destroy();
          return resolve({ status: res.statusCode ?? 0, contentType, body: '' });
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve({ error: err.message }));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType, body: Buffer.concat(chunks).toString() }),
        );
      });
    } catch (err) {
      // Node refuses to send some paths (control characters): not the server's concern.
      return resolve({ status: 0, contentType: '', body: (err as Error).message });
    }
    r.setTimeout(timeoutMs, () => {
      r.destroy();
      resolve({ error: 'timeout' });
    });
    r.on('error', (err) => resolve({ error: err.message }));
    r.end(req.body);
  });
}

/** Describe a request so it can be replayed by hand. */
export function describeRequest(req: FuzzRequest): string {
  const headers = Object.entries(req.headers)
    .map(([k, v]) => `${k}: ${clip(v, 60)}`)
    .join('; ');
  return `${req.method} ${clip(req.path, 200)} [${headers}]${req.body === undefined ? '' : ` body ${clip(req.body, 200)}`}`;
}

/** The outcome of one hostile WebSocket session. */
export interface SessionOutcome {
  closeCode: number;
  /** The codes of the `error` messages received. */
  errors: string[];
}

/**
 * Open a connection with `token`, send `frames`, then one well-formed request proving the
 * connection (or its close) still behaves; every `error` and the close code are audited.
 */
export async function fuzzSession(
  node: WatchedNode,
  token: string,
  frames: FuzzFrame[],
  findings: Findings,
): Promise<SessionOutcome> {
  const s = await rawSession(node.url, token);
  s.ws.on('error', () => {});
  const sent: string[] = [];
  for (const f of frames) {
    if (s.ws.readyState !== WebSocket.OPEN) break;
    const shown = 'binary' in f ? `<binary ${Buffer.from(f.binary).toString('hex')}>` : f.text;
    sent.push(clip(shown, 300));
    node.sending(`ws frame ${shown}`);
    if ('binary' in f) s.ws.send(f.binary, { binary: true });
    else s.ws.send(f.text);
  }
  if (s.ws.readyState === WebSocket.OPEN) {
    const probe = s.request({ type: 'publish', id: 2 ** 40, topic: 'fz-probe', data: 1 });
    const reply = await Promise.race([probe, sleep(15_000).then(() => null)]);
    if (reply === null) findings.add('ws: a request got no answer and the connection stayed open', sent.join(' | '));
    s.ws.close(1000);
  }
  const closeCode = await Promise.race([s.closeCode, sleep(10_000).then(() => 0)]);
  if (closeCode === 0) {
    findings.add('ws: the node did not finish a close handshake', sent.join(' | '));
    s.ws.terminate();
  } else if (!DOCUMENTED_CLOSE_CODES.has(closeCode))
    findings.add(`ws: undocumented close code ${closeCode}`, sent.join(' | '));
  else if (closeCode === CloseCodes.internalError)
    findings.add(`ws: closed with ${closeCode} (internal fault) for client input`, sent.join(' | '));
  const errors: string[] = [];
  for (const m of s.frames) {
    if (m.type !== 'error') continue;
    errors.push(String(m.code));
    const wrong = codeProblem(m.code) ?? (INTERNALS.test(String(m.message)) ? `${m.code}: internals in message` : null);
    if (wrong) findings.add(`ws error frame: ${wrong}`, `${sent.join(' | ')} -> ${clip(JSON.stringify(m))}`);
  }
  return { closeCode, errors };
}

interface Delivery {
  offset: number;
  data: unknown;
}

/** Offsets that should have arrived between `from` and `to` but did not, or arrived out of order. */
function gaps(deliveries: Delivery[], from: number, to: number): string[] {
  const problems: string[] = [];
  let expected = from;
  for (const d of deliveries) {
    if (d.offset !== expected) problems.push(`expected offset ${expected}, got ${d.offset}`);
    expected = d.offset + 1;
  }
  if (expected !== to + 1) problems.push(`last offset ${expected - 1}, latest is ${to}`);
  return problems.slice(0, 10);
}

/**
 * A well-behaved publisher (one over WebSocket, one over HTTP) at a modest steady rate, and a
 * WebSocket and an SSE subscriber of the same topic. {@link finish} says what any of them lost.
 */
export class WellBehavedClients {
  readonly #published: { via: string; n: number; offset?: number; refused?: string }[] = [];
  readonly #ws: Delivery[] = [];
  readonly #sse: Delivery[] = [];
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #notes: string[] = [];
  #running = true;
  #startWs = 0;
  #startSse = 0;
  #wsClosed: Promise<number> | undefined;

  constructor(
    private readonly node: WatchedNode,
    private readonly topic: string,
    private readonly apiKey: string,
  ) {}

  async start(tokens: { subscriber: string; publisher: string }, intervalMs = 50): Promise<void> {
    const sub = await rawSession(this.node.url, tokens.subscriber);
    sub.ws.on('error', () => {});
    const subscribed = await sub.request({ type: 'subscribe', id: 1, topic: this.topic });
    if (subscribed.type !== 'subscribed') throw new Error(`subscribe failed: ${JSON.stringify(subscribed)}`);
    this.#startWs = subscribed.offset + 1;
    this.#wsClosed = sub.closeCode;
    sub.ws.on('message', (raw) => {
      for (const line of raw.toString().split('\n')) {
        const m = JSON.parse(line) as { type: string; topic?: string; offset?: number; data?: unknown };
        if (m.type === 'pub' && m.topic === this.topic && m.offset !== undefined)
          this.#ws.push({ offset: m.offset, data: m.data });
      }
    });
    void sub.closeCode.then((code) => this.#running && this.#notes.push(`WS subscriber closed with ${code}`));
    this.#abort.signal.addEventListener('abort', () => sub.ws.close(1000));

    const res = await fetch(`${this.node.url}/v1/topics/${this.topic}/stream`, {
      headers: { authorization: `Bearer ${tokens.subscriber}` },
      signal: this.#abort.signal,
    });
    let seen = 0;
    const sse = readSse(res, (events) => {
      for (; seen < events.length; seen++) {
        const e = events[seen]!;
        if (e.event === 'ready' || e.event === 'reset') this.#startSse = e.data.offset + 1;
        else if (e.event === 'pub' && e.data.offset !== undefined)
          this.#sse.push({ offset: e.data.offset, data: e.data.data });
        else if (e.event === 'disconnect') this.#notes.push(`SSE subscriber told disconnect ${JSON.stringify(e.data)}`);
      }
      return false;
    }).then(
      () => void (this.#running && this.#notes.push('SSE stream ended')),
      () => void (this.#running && this.#notes.push('SSE stream failed')),
    );
    this.#loops.push(sse);
    await waitFor(() => this.#startSse > 0, 10_000, 'the SSE stream to start');

    const pub = await rawSession(this.node.url, tokens.publisher);
    pub.ws.on('error', () => {});
    this.#abort.signal.addEventListener('abort', () => pub.ws.close(1000));
    this.#loops.push(
      this.#loop('ws', intervalMs, async (n) => {
        const reply = await pub.request({ type: 'publish', id: n, topic: this.topic, data: { via: 'ws', n } });
        return reply.type === 'ack' ? reply.offset : JSON.stringify(reply);
      }),
      this.#loop('http', intervalMs, async (n) => {
        const res = await fetch(`${this.node.url}/v1/topics/${this.topic}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ data: { via: 'http', n } }),
        }).catch((err: Error) => err);
        if (res instanceof Error) return res.message;
        const body = (await res.json().catch(() => ({}))) as { offset?: number; code?: string };
        return res.status === 201 && body.offset !== undefined ? body.offset : `${res.status} ${body.code}`;
      }),
    );
  }

  async #loop(via: string, intervalMs: number, publish: (n: number) => Promise<number | string>): Promise<void> {
    for (let n = 1; this.#running && !this.node.crashed; n++) {
      const outcome = await publish(n);
      this.#published.push(typeof outcome === 'number' ? { via, n, offset: outcome } : { via, n, refused: outcome });
      await sleep(intervalMs);
    }
  }

  /** Publications so far (for progress checks). */
  get published(): number {
    return this.#published.length;
  }

  /**
   * Stop publishing, wait for the subscribers to catch up with the topic's latest offset, and
   * return every loss: refused publishes, gaps or disorder, data that differs, disconnects.
   */
  async finish(): Promise<string[]> {
    this.#running = false;
    await Promise.all(this.#loops.slice(1));
    const losses: string[] = [];
    if (!this.node.crashed) {
      const res = await fetch(`${this.node.url}/v1/topics/${this.topic}/messages?after=0&limit=1`, {
        headers: { authorization: `Bearer ${this.apiKey}` },
      });
      const latest = ((await res.json()) as { latest: number }).latest;
      const caughtUp = () => this.#ws.at(-1)?.offset === latest && this.#sse.at(-1)?.offset === latest;
      await waitFor(caughtUp, 10_000).catch(() => {});
      losses.push(...gaps(this.#ws, this.#startWs, latest).map((g) => `WS subscriber: ${g}`));
      losses.push(...gaps(this.#sse, this.#startSse, latest).map((g) => `SSE subscriber: ${g}`));
    }
    this.#abort.abort();
    await this.#loops[0];
    for (const p of this.#published) {
      if (p.refused !== undefined) {
        losses.push(`${p.via} publish #${p.n} refused: ${p.refused}`);
        continue;
      }
      for (const [name, got] of [
        ['WS', this.#ws],
        ['SSE', this.#sse],
      ] as const) {
        const d = got.find((x) => x.offset === p.offset);
        if (!d || JSON.stringify(d.data) !== JSON.stringify({ via: p.via, n: p.n }))
          losses.push(`${name} subscriber: ${p.via} publish #${p.n} (offset ${p.offset}) not delivered as sent`);
      }
    }
    await this.#wsClosed;
    return [...this.#notes, ...losses].slice(0, 40);
  }
}

/** Counts by label, printed most frequent first. */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(label: string): void {
    this.#counts.set(label, (this.#counts.get(label) ?? 0) + 1);
  }

  toString(): string {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `${label} x${n}`)
      .join(', ');
  }
}

/** The `code` of a problem document, or `-` when the body is not one. */
export function problemCode(body: string): string {
  try {
    return String((JSON.parse(body) as { code?: unknown }).code ?? '-');
  } catch {
    return '-';
  }
}

/**
 * Write `bytes` on a fresh TCP connection and read the first response (a malformed request can
 * only be sent this way: Node's client refuses to). Null when the node closed without a word.
 */
export function rawExchange(
  url: string,
  bytes: string,
  waitMs = 2000,
): Promise<{ status: number; contentType: string; body: string } | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let data = Buffer.alloc(0);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = data.toString('latin1');
      const head = /^HTTP\/1\.[01] (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(text);
      if (!head) return resolve(null);
      const contentType = /^content-type:\s*(.*)$/im.exec(head[2]!)?.[1]?.trim() ?? '';
      const length = Number(/^content-length:\s*(\d+)$/im.exec(head[2]!)?.[1] ?? NaN);
      const rest = text.slice(head[0].length);
      resolve({ status: Number(head[1]), contentType, body: Number.isFinite(length) ? rest.slice(0, length) : rest });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/^content-length:\s*(\d+)$/im.exec(text.slice(0, end))?.[1] ?? NaN);
      if (end >= 0 && (text.startsWith('HTTP/1.1 101') || data.length - end - 4 >= length)) finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
    socket.write(bytes, 'latin1');
  });
}
