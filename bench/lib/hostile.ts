import { CloseCodes, ErrorCatalog } from '@inloop/protocol';

/**
 * Hostile input for the fuzz soak, from a seeded generator (the same seed, the same inputs):
 * WebSocket frames of every client message type with spoiled fields, invalid JSON, deep nesting,
 * binary and oversized frames; HTTP requests to every route of `/openapi.json` with hostile path
 * values, query numbers, credentials, content types and bodies. Built once into pools the soak
 * cycles through, so generating them costs the load generator nothing while it fires.
 */

/** A seeded PRNG (mulberry32): returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const int = (r: Random, min: number, max: number): number => min + Math.floor(r() * (max - min + 1));

function junk(r: Random, max: number): string {
  let s = '';
  for (let i = int(r, 0, max); i > 0; i--) s += String.fromCharCode(int(r, 0x20, 0x7e));
  return s;
}

/** `depth` levels of arrays, objects or both. */
export function nested(r: Random, depth: number): string {
  const kind = int(r, 0, 2);
  if (kind === 0) return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 1) return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += i % 2 ? '{"k":' : '[';
    close = (i % 2 ? '}' : ']') + close;
  }
  return open + '1' + close;
}

/** JSON text a parser, a number column or an object model finds hard. */
function hostileValue(r: Random): string {
  return pick(r, [
    () => '1e400',
    () => '-1e400',
    () => '-0',
    () => '123456789012345678901234567890',
    () => '{"__proto__":{"polluted":true}}',
    () => '{"constructor":{"prototype":{"polluted":true}}}',
    () => '"\\ud800"',
    () => nested(r, int(r, 50, 300)),
    () => nested(r, 6000),
    () => JSON.stringify(junk(r, 40)),
    () => '[]',
    () => 'null',
    () => 'true',
    () => String(int(r, -5, 5)),
  ])();
}

const TYPES = [
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'refresh',
  'presence.join',
  'presence.update',
  'presence.leave',
  'presence.watch',
  'presence.unwatch',
  'typing.start',
  'typing.stop',
  'conversation.send',
  'conversation.draft',
  'conversation.receipt',
  'conversation.get',
] as const;

/** The valid fields of each message type, as JSON text values. */
function validFields(r: Random, type: string, topics: readonly string[], token: string): Record<string, string> {
  const topic = JSON.stringify(pick(r, topics));
  const id = String(int(r, 0, 1_000_000));
  const data = pick(r, ['1', '"hi"', '{"n":1,"text":"hello"}', '[1,2,3]', 'null']);
  const conversation = JSON.stringify(pick(r, ['fz', 'nope', 'a'.repeat(20)]));
  switch (type) {
    case 'connect':
    case 'refresh':
      return { id, token: JSON.stringify(token) };
    case 'publish':
      return { id, topic, data, ...(r() < 0.3 ? { ephemeral: 'true' } : {}) };
    case 'presence.join':
    case 'presence.update':
      return { id, topic, meta: data };
    case 'conversation.send':
      return { id, conversation, text: JSON.stringify(junk(r, 30)) };
    case 'conversation.draft':
      return { id, conversation, clientId: '"c1"', text: '"x"' };
    case 'conversation.receipt':
      return { id, conversation, read: String(int(r, 0, 10)) };
    case 'conversation.get':
      return { id, conversation };
    default:
      return { id, topic };
  }
}

const object = (fields: Record<string, string>): string =>
  `{${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;

/** A frame as sent: its payload and opcode (1 text, 2 binary). */
export interface HostileFrame {
  payload: Buffer;
  opcode: 1 | 2;
}

/** One hostile (or valid, to reach the code behind validation) WebSocket frame. */
export function hostileFrame(r: Random, topics: readonly string[], token: string): HostileFrame {
  const text = (s: string): HostileFrame => ({ payload: Buffer.from(s), opcode: 1 });
  const roll = r();
  const type = pick(r, TYPES);
  const fields = { type: JSON.stringify(type), ...validFields(r, type, topics, token) };
  // Well-formed but abusive (forbidden and reserved topics, floods, other members' conversations):
  // a little under half, so a connection lives past the invalid-frame allowance now and then.
  if (roll < 0.45) return text(object(fields));
  if (roll < 0.65) {
    const keys = [...Object.keys(fields), '__proto__', 'id', 'data'];
    const key = pick(r, keys);
    if (r() < 0.2) delete (fields as Record<string, string>)[key];
    else (fields as Record<string, string>)[key] = hostileValue(r);
    return text(object(fields));
  }
  if (roll < 0.75) return text(pick(r, ['', '{', '{"type":', 'nul', '{"type":"publish"}}', junk(r, 80)]));
  if (roll < 0.8) return text(pick(r, ['null', '[]', '"publish"', '1e400', object({ type: '"nope"', id: '1' })]));
  if (roll < 0.88)
    return text(
      `{"type":"publish","id":1,"topic":${JSON.stringify(pick(r, topics))},"data":${nested(r, int(r, 60, 8000))}}`,
    );
  if (roll < 0.99) return text(object({ ...fields, id: pick(r, ['1e400', '-1', '1.5', '9007199254740993', '"7"']) }));
  if (roll < 0.9995) return { payload: Buffer.from(junk(r, 30)), opcode: 2 };
  return text('x'.repeat(70_000));
}

/** Close codes a client may see: the node's table, and the platform's normal, going-away, abnormal and too-big. */
export const DOCUMENTED_CLOSE_CODES: ReadonlySet<number> = new Set([
  ...Object.values(CloseCodes),
  1000,
  1001,
  1006,
  1009,
]);

/** What a client must never see in a body: stack frames, file names, framework or driver codes. */
const INTERNALS = /\n\s+at |node_modules|\.[cm]?[jt]s:\d+|FST_ERR|SQLITE_|RangeError|TypeError/;

/**
 * Why an HTTP answer is outside the error contract (an RFC 9457 problem with a catalogued code
 * and its status, never `internal` or `unavailable` for client input), or null when it is inside.
 */
export function outsideCatalog(method: string, status: number, contentType: string, body: string): string | null {
  if (status < 400) return null;
  if (!contentType.startsWith('application/problem+json')) return `${status} ${contentType || 'no content-type'}`;
  if (method === 'HEAD') return null;
  let code: unknown;
  let docStatus: unknown;
  try {
    ({ code, status: docStatus } = JSON.parse(body) as { code?: unknown; status?: unknown });
  } catch {
    return `${status} problem+json that is not JSON`;
  }
  if (typeof code !== 'string' || !Object.hasOwn(ErrorCatalog, code)) return `${status} uncatalogued ${String(code)}`;
  if (code === 'internal' || code === 'unavailable') return `${status} ${code}`;
  const expected = ErrorCatalog[code as keyof typeof ErrorCatalog].status;
  if (expected !== status || docStatus !== status) return `${code} with status ${status}`;
  if (INTERNALS.test(body)) return `${code} with internals in the body`;
  return null;
}

/** Whether a WebSocket `error` code is outside the catalog or `internal`/`unavailable`. */
export function badFrameCode(code: string): boolean {
  return !Object.hasOwn(ErrorCatalog, code) || code === 'internal' || code === 'unavailable';
}

/** A request as sent verbatim (no URL normalization). */
export interface HostileRequest {
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const HOSTILE_PATH = [
  '',
  '..',
  '.',
  '%zz',
  '%',
  '%E0%A4%A',
  '%00',
  '%2F',
  encodeURIComponent('ü名🙂'),
  'x'.repeat(101),
  'x'.repeat(201),
  'y'.repeat(3000),
  '__proto__',
  'job:abc',
  'conv:fz',
];

const QUERY_NUMBERS = [
  '1e400',
  'Infinity',
  'NaN',
  '-1',
  '0x10',
  '1.5',
  '',
  '01',
  '%20',
  '99999999999999999999',
  '1',
  '5',
];

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/json; charset=utf-16',
  'multipart/form-data; boundary=x',
];

interface OpenApi {
  paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; requestBody?: unknown }>>;
}

/** A body for a route: a plausible JSON object with one hostile member, or not JSON at all. */
function hostileBody(r: Random, path: string, topics: readonly string[]): string {
  const roll = r();
  if (roll < 0.15) return pick(r, ['', '{', 'null', '[]', '"x"', '{"data":1}garbage', junk(r, 100)]);
  if (roll < 0.2) return `{"data":${nested(r, 6000)}}`;
  if (roll < 0.201) return `{"data":"${'x'.repeat(70_000)}"}`;
  const fields: Record<string, string> = {
    data: '{"n":1}',
    meta: '{"name":"x"}',
    members: '["fuzzer"]',
    id: JSON.stringify(junk(r, 10).replace(/[^A-Za-z0-9]/g, '') || 'c'),
    from: '"fuzzer"',
    text: '"hello"',
    typing: 'true',
    type: '"bench.job"',
    input: '{}',
    types: '["bench.job"]',
    waitMs: '0',
    lease: '"nope"',
    subject: '"someone"',
    ttlSeconds: '60',
    scopes: JSON.stringify([{ ops: ['subscribe'], topics: [pick(r, topics)] }]),
    error: '{"message":"x"}',
    retryable: 'false',
    delivered: '1',
  };
  const keep = Object.keys(fields).filter(() => r() < 0.5);
  const out: Record<string, string> = {};
  for (const k of keep) out[k] = fields[k]!;
  if (/lease$/.test(path)) out.waitMs = '0'; // never a 20 s long-poll
  if (r() < 0.7) out[pick(r, [...keep, '__proto__', 'constructor'])] = hostileValue(r);
  return object(out);
}

/** `count` hostile requests over every route of `/openapi.json`. */
export function hostileRequests(
  r: Random,
  openapi: OpenApi,
  count: number,
  ctx: { topics: readonly string[]; credentials: readonly (string | undefined)[] },
): HostileRequest[] {
  const routes = Object.entries(openapi.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
  );
  const out: HostileRequest[] = [];
  for (let i = 0; i < count; i++) {
    const route = routes[i % routes.length]!;
    const method = r() < 0.92 ? route.method : pick(r, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
    let path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      if (r() < 0.5) return pick(r, HOSTILE_PATH);
      return name === 'topic' ? pick(r, ctx.topics) : name === 'member' ? 'fuzzer' : name === 'offset' ? '1' : 'fz';
    });
    const query = (route.op.parameters ?? [])
      .filter((p) => p.in === 'query' && r() < 0.7)
      .map(
        (p) =>
          `${p.name}=${p.name === 'token' || p.name === 'since' ? encodeURIComponent(junk(r, 12)) : pick(r, QUERY_NUMBERS)}`,
      );
    if (r() < 0.1) query.push(pick(r, ['__proto__[x]=1', 'limit=1&limit=2', '%74oken=x', '%zz=1']));
    if (query.length) path += `?${query.join('&')}`;
    const headers: Record<string, string> = {};
    const credential = pick(r, ctx.credentials);
    if (credential !== undefined) headers.authorization = credential;
    if (r() < 0.05) headers.origin = 'http://evil.example';
    const body = route.op.requestBody !== undefined && method !== 'GET' && method !== 'HEAD';
    if (body) headers['content-type'] = pick(r, CONTENT_TYPES);
    out.push({
      route: `${route.method} ${route.path}`,
      method,
      path,
      headers,
      ...(body ? { body: hostileBody(r, route.path, ctx.topics) } : {}),
    });
  }
  return out;
}
