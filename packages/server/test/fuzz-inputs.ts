import fc from 'fast-check';

/**
 * Hostile inputs for the fuzz suite, as fast-check arbitraries: request bodies built from the
 * route schemas of `/openapi.json` and then mutated, path and query values an attacker would try,
 * and WebSocket frames of every client message type with one field spoiled.
 */

/**
 * JSON text spliced verbatim into a body: what `JSON.stringify` cannot write (`1e400`, a
 * `__proto__` member) or what is too deep to build as an object first.
 */
export class Raw {
  constructor(readonly text: string) {}
}

/** Serialize a value whose leaves may be {@link Raw}; `undefined` members are left out. */
export function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJson(v))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The nesting depth of issue 11's crash: 6,000 levels, 12 KB, well under the frame limit. */
export const CRASH_DEPTH = 6000;

/** `depth` nested arrays (`[[[]]]` is depth 3). */
export const nestedArrays = (depth: number): Raw => new Raw('['.repeat(depth) + ']'.repeat(depth));
/** `depth` nested objects (`{"a":{"a":1}}` is depth 2). */
export const nestedObjects = (depth: number): Raw => new Raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
/** Arrays and objects alternating, `depth` levels. */
export const nestedMixed = (depth: number): Raw => {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += i % 2 ? '{"k":' : '[';
    close = (i % 2 ? '}' : ']') + close;
  }
  return new Raw(open + (depth % 2 ? '1' : '{}') + close);
};

/** JSON values that are legal text but hard on a parser, a number column or an object model. */
const RAW_VALUES = [
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '123456789012345678901234567890',
  '9007199254740993',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"a":1,"a":2}',
  '"\\ud800"',
  '"\\u0000"',
  '"\\u2028\\u2029"',
] as const;

/** Any JSON value, including deep nesting, huge numbers and prototype keys. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_VALUES).map((t) => new Raw(t)) },
  { weight: 1, arbitrary: fc.constant(nestedArrays(CRASH_DEPTH)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(nestedArrays, nestedObjects, nestedMixed), fc.integer({ min: 2, max: 8000 }))
      .map(([build, depth]) => build(depth)),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
);

/** A value of the wrong kind for almost any field. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, '', [], {}, 'x'.repeat(300)),
  fc.constantFrom(new Raw('1e400'), new Raw('-0'), new Raw('{"__proto__":1}')),
  hostileJson,
);

/**
 * Path parameter values an attacker would try, written verbatim into the path: too long (past
 * fastify's 100-character default and past the header limit), bad percent-encoding, unicode,
 * dot segments, empty, reserved prefixes, prototype names.
 */
export const HOSTILE_PATH_VALUES = [
  '',
  '.',
  '..',
  '%2e%2e',
  '%zz',
  '%',
  '%E0%A4%A',
  '%00',
  '%C0%AF',
  encodeURIComponent('ü名🙂'),
  encodeURIComponent('a/b'),
  '%2F',
  '%20',
  'a;b',
  'x'.repeat(101),
  'x'.repeat(201),
  'y'.repeat(5000),
  '__proto__',
  'constructor',
  'job:abc',
  'conv:fz',
  '*',
] as const;

/** Query values that are not plain non-negative integers in range, and some that are. */
export const QUERY_NUMBERS = [
  '1e400',
  'Infinity',
  '-Infinity',
  'NaN',
  '-1',
  '0x10',
  '1.5',
  '1e3',
  '',
  '01',
  '+1',
  ' 1',
  '1,2',
  '-0',
  'abc',
  '99999999999999999999',
  '9007199254740993',
  '0',
  '1',
  '100',
  '1000',
  '1001',
] as const;

/** Known-good values the generators draw from, set up by the suite (a real topic, job, lease ...). */
export interface FuzzContext {
  topics: string[];
  members: string[];
  conversations: string[];
  jobIds: string[];
  leases: string[];
  jobTypes: string[];
  /** Authorization header values: API key, tokens wide and narrow, expired, garbage. */
  credentials: (string | undefined)[];
}

type Schema = Record<string, any>;

/** A string for a schema: a known-good value for the field when there is one, else one matching its pattern. */
function stringFor(name: string, schema: Schema, ctx: FuzzContext): fc.Arbitrary<string> {
  const known: Record<string, string[]> = {
    topic: ctx.topics,
    member: ctx.members,
    from: ctx.members,
    subject: ctx.members,
    id: [...ctx.conversations, ...ctx.jobIds],
    conversation: ctx.conversations,
    lease: ctx.leases,
    type: ctx.jobTypes,
    types: ctx.jobTypes,
  };
  const pool = known[name]?.filter((v) => !schema.pattern || new RegExp(schema.pattern).test(v)) ?? [];
  const max = Math.min(schema.maxLength ?? 40, 40);
  const min = Math.min(schema.minLength ?? 0, max);
  const free = schema.pattern
    ? fc.stringMatching(new RegExp(schema.pattern.replace(/\{1,\d+\}/, '{1,20}')))
    : fc.string({ minLength: min, maxLength: max });
  return pool.length ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, free) : free;
}

/** A value valid for `schema` (mostly: patterns and ranges are honoured, known ids preferred). */
export function fromSchema(schema: Schema, ctx: FuzzContext, name = ''): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.anyOf)) return fc.oneof(...schema.anyOf.map((s: Schema) => fromSchema(s, ctx, name)));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'object': {
      const props: Record<string, Schema> = schema.properties ?? {};
      const required = new Set<string>(schema.required ?? []);
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, sub] of Object.entries(props)) {
        const value = fromSchema(sub, ctx, key);
        fields[key] = required.has(key) ? value : fc.option(value, { nil: undefined });
      }
      return fc.record(fields);
    }
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 4, 4));
      return fc.array(fromSchema(schema.items ?? {}, ctx, name), { minLength, maxLength });
    }
    case 'string':
      return stringFor(name, schema, ctx);
    case 'integer': {
      const min = schema.minimum ?? (schema.exclusiveMinimum ?? -1) + 1;
      const max = Math.min(schema.maximum ?? min + 1000, name === 'waitMs' ? 50 : Infinity);
      return fc.oneof(fc.constantFrom(min, max), fc.integer({ min, max }));
    }
    case 'number':
      return fc.double({ min: schema.minimum ?? 0.001, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    default:
      return hostileJson; // `{}`: any JSON
  }
}

/** One way to spoil a valid object: a field of the wrong type, a required one gone, a stray key. */
export function mutated(valid: fc.Arbitrary<unknown>, schema: Schema): fc.Arbitrary<unknown> {
  const keys = Object.keys(schema.properties ?? {});
  const key = keys.length ? fc.constantFrom(...keys) : fc.constant('data');
  return fc.oneof(
    fc.tuple(valid, key, wrongType).map(([v, k, bad]) => ({ ...(v as object), [k]: bad })),
    fc.tuple(valid, key).map(([v, k]) => ({ ...(v as object), [k]: undefined })),
    fc.tuple(valid, fc.constantFrom('__proto__', 'constructor', 'prototype', 'x'), wrongType).map(([v, k, bad]) => {
      const out = { ...(v as object) } as Record<string, unknown>;
      Object.defineProperty(out, k, { value: bad, enumerable: true });
      return out;
    }),
    fc
      .tuple(valid, key, fc.constantFrom(nestedArrays(CRASH_DEPTH), nestedObjects(CRASH_DEPTH)))
      .map(([v, k, deep]) => ({ ...(v as object), [k]: deep })),
  );
}

/** A body as it leaves the client: JSON text (maybe not JSON at all) and a content type. */
export interface FuzzBody {
  text: string;
  contentType: string | undefined;
}

/** Whole bodies that are not a JSON object at all. */
const WRONG_BODIES = fc.oneof(
  fc.constantFrom('', '{', '{"data":', 'null', '[]', '"text"', '1e400', '{"data":1}garbage', '\u0000', '\ufeff{}'),
  fc.string({ maxLength: 200 }),
  fc.constant(nestedArrays(CRASH_DEPTH).text),
  fc.constant('x'.repeat(70_000)),
);

const CONTENT_TYPES = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/problem+json',
      'application/xml',
      '*/*',
      'application/json, text/plain',
    ),
  },
);

/** A request body for a JSON schema: valid, mutated or not an object at all. */
export function bodyFor(schema: Schema | undefined, ctx: FuzzContext): fc.Arbitrary<FuzzBody | undefined> {
  if (!schema) return fc.option(fc.record({ text: WRONG_BODIES, contentType: CONTENT_TYPES }), { nil: undefined });
  const valid = fromSchema(schema, ctx);
  const text = fc.oneof(
    { weight: 3, arbitrary: valid.map(toJson) },
    { weight: 4, arbitrary: mutated(valid, schema).map(toJson) },
    { weight: 1, arbitrary: WRONG_BODIES },
  );
  return fc.record({ text, contentType: CONTENT_TYPES });
}

/** One operation of `/openapi.json`. */
export interface Route {
  method: string;
  /** The path template, `/v1/topics/{topic}/messages`. */
  path: string;
  params: { in: string; name: string; required?: boolean; schema: Schema }[];
  body?: Schema;
}

/** Every operation `/openapi.json` lists. */
export function routesOf(openapi: { paths: Record<string, Record<string, any>> }): Route[] {
  const routes: Route[] = [];
  for (const [path, operations] of Object.entries(openapi.paths))
    for (const [method, op] of Object.entries(operations)) {
      const body = op.requestBody?.content?.['application/json']?.schema as Schema | undefined;
      routes.push({ method: method.toUpperCase(), path, params: op.parameters ?? [], ...(body ? { body } : {}) });
    }
  return routes;
}

/** An HTTP request as sent, verbatim: the path is not normalized or re-encoded. */
export interface FuzzRequest {
  /** `METHOD /template`, to group findings by route. */
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function paramValue(schema: Schema, name: string, ctx: FuzzContext): fc.Arbitrary<string> {
  const valid =
    schema.type === 'integer'
      ? fromSchema(schema, ctx, name).map(String)
      : (fromSchema(schema, ctx, name) as fc.Arbitrary<string>);
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 2, arbitrary: fc.constantFrom<string>(...HOSTILE_PATH_VALUES) },
    { weight: 1, arbitrary: fc.constantFrom<string>(...QUERY_NUMBERS).map(encodeURIComponent) },
  );
}

function queryValue(schema: Schema, name: string, ctx: FuzzContext): fc.Arbitrary<string> {
  if (schema.type === 'integer')
    return fc.oneof(fromSchema(schema, ctx, name).map(String), fc.constantFrom<string>(...QUERY_NUMBERS));
  if (name === 'token')
    return fc.oneof(
      fc.constantFrom(...ctx.credentials.filter((c): c is string => c !== undefined)),
      fc.string({ maxLength: 50 }),
    );
  return fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.constantFrom('0:1', 'abc:1', 'abc:-1', 'abc:1e400', ':', 'a'.repeat(200) + ':1', 'x:99999999999999999999'),
  );
}

const EXTRA_QUERY = fc.constantFrom(
  '',
  '',
  '__proto__=1',
  '__proto__[polluted]=1',
  'constructor[prototype][polluted]=1',
  'limit=1&limit=2',
  'after=1&after=x',
  '%74oken=abc',
  'token[]=a',
  '%zz=1',
  'a=%zz',
  '&&&',
  '=',
);

/** SSE resume positions (`Last-Event-ID`) that are not `epoch:offset`, or name one out of range. */
const LAST_EVENT_IDS = [
  ':',
  'abc:',
  ':1',
  'abc:-1',
  'abc:1e400',
  'abc:99999999999999999999',
  'abc:9007199254740993',
  'a b:1',
  `${'e'.repeat(300)}:1`,
  'abc:1:2',
] as const;

/** `value` in about one case out of six, else undefined. */
const rarely = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value });

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;

/** A request to `route`: its own method mostly, path and query values valid or hostile, any credential. */
export function requestFor(route: Route, ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const pathParams = route.params.filter((p) => p.in === 'path');
  const queryParams = route.params.filter((p) => p.in === 'query');
  const path = fc
    .tuple(...pathParams.map((p) => paramValue(p.schema, p.name, ctx)))
    .map((values) => pathParams.reduce((out, p, i) => out.replace(`{${p.name}}`, values[i]!), route.path));
  const query = fc
    .tuple(
      ...queryParams.map((p) =>
        fc.option(
          queryValue(p.schema, p.name, ctx).map((v) => `${p.name}=${v.startsWith('%') ? v : encodeURIComponent(v)}`),
          { nil: undefined },
        ),
      ),
      EXTRA_QUERY,
    )
    .map((parts) => parts.filter((p): p is string => !!p).join('&'));
  return fc
    .record({
      method: fc.oneof({ weight: 12, arbitrary: fc.constant(route.method) }, fc.constantFrom(...METHODS)),
      path,
      query,
      credential: fc.constantFrom(...ctx.credentials),
      body: bodyFor(route.body, ctx),
      idempotencyKey: rarely(fc.oneof(fc.string({ maxLength: 20 }), fc.constant('k'.repeat(200)))),
      origin: rarely(fc.constantFrom('http://evil.example', 'null')),
      lastEventId: rarely(fc.oneof(fc.constantFrom(...LAST_EVENT_IDS), fc.string({ maxLength: 30 }))),
    })
    .map(({ method, path, query, credential, body, idempotencyKey, origin, lastEventId }) => {
      const headers: Record<string, string> = {};
      if (credential !== undefined) headers.authorization = credential;
      if (body?.contentType) headers['content-type'] = body.contentType;
      if (idempotencyKey !== undefined) headers['idempotency-key'] = encodeURIComponent(idempotencyKey);
      if (origin !== undefined) headers.origin = origin;
      if (lastEventId !== undefined) headers['last-event-id'] = encodeURIComponent(lastEventId);
      return {
        route: `${route.method} ${route.path}`,
        method,
        path: query ? `${path}?${query}` : path,
        headers,
        ...(body && method !== 'GET' && method !== 'HEAD' ? { body: body.text } : {}),
      };
    });
}

/**
 * JSON text nested exactly `depth` levels (a scalar is depth 0, `[]` depth 1), arrays and objects
 * in any order, with scalar siblings at every level so the shape is not just a spine.
 */
export function nestedValue(maxDepth: number): fc.Arbitrary<{ depth: number; text: string }> {
  const level = fc.record({
    array: fc.boolean(),
    sibling: fc.constantFrom<unknown>(1, null, true, 'a', -0.5, ''),
  });
  return fc.array(level, { minLength: 1, maxLength: maxDepth }).map((levels) => {
    let text = '';
    for (let i = levels.length - 1; i >= 0; i--) {
      const { array, sibling } = levels[i]!;
      const s = JSON.stringify(sibling);
      text = array ? `[${s}${text ? `,${text}` : ''}]` : `{"s":${s}${text ? `,"k":${text}` : ''}}`;
    }
    return { depth: levels.length, text };
  });
}

/** Query values for an integer parameter: plain decimals in and out of range, and everything else. */
export const queryNumber: fc.Arbitrary<string> = fc
  .oneof(
    fc.nat({ max: 2000 }).map(String),
    fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
    fc.integer({ min: -1000, max: -1 }).map(String),
    fc.constantFrom(...QUERY_NUMBERS),
    fc.double().map(String),
    fc.string({ maxLength: 8 }),
  )
  .filter((v) => v !== '-0'); // a decimal spelling of zero: either answer is defensible
