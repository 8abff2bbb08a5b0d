import { isConversationId, MAX_CLIENT_ID_LENGTH, MAX_MESSAGE_TEXT } from './conversations.js';
import type { ErrorCode } from './errors.js';
import { DEFAULT_MAX_JSON_DEPTH, inspectJson, JsonFaultDetail } from './json-limits.js';
import { MAX_DEVICE_LENGTH, presenceMetaFits } from './presence.js';
import type { ClientMessage, ClientMessageType, Position, ServerMessage } from './messages.js';
import { isValidTopic } from './topic.js';
import { isStreamName } from './streams.js';

/** Longest accepted idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
/** Longest accepted token. */
export const MAX_TOKEN_LENGTH = 8192;

/** Outcome of decoding an untrusted frame. Decoding never throws. */
export type DecodeResult<T> = { ok: true; message: T } | { ok: false; code: ErrorCode; message: string; id?: number };

type Fields = Record<string, unknown>;
type Validator = (m: Fields) => string | null;

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isEpoch = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(v);

/** Whether `v` is a well-formed resume position. */
export function isPosition(v: unknown): v is Position {
  if (typeof v !== 'object' || v === null) return false;
  const { epoch, offset } = v as Fields;
  return isEpoch(epoch) && Number.isSafeInteger(offset) && (offset as number) >= 0;
}

function needTopic(m: Fields): string | null {
  return isValidTopic(m.topic) ? null : 'topic';
}

const isOffset = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isClientId = (v: unknown): boolean => typeof v === 'string' && v.length > 0 && v.length <= MAX_CLIENT_ID_LENGTH;
const isText = (v: unknown): boolean => typeof v === 'string' && v.length <= MAX_MESSAGE_TEXT;

function needConversation(m: Fields): string | null {
  return isConversationId(m.conversation) ? null : 'conversation';
}

/** A stream reference: `{ job, name }` or `{ conversation, message }` (see streams.ts). */
function needStream(m: Fields): string | null {
  const ref = m.stream;
  if (typeof ref !== 'object' || ref === null || Array.isArray(ref)) return 'stream';
  const r = ref as Fields;
  // One owner or the other: a reference naming both is not guessed at.
  if ((r.job !== undefined || r.name !== undefined) && (r.conversation !== undefined || r.message !== undefined))
    return 'stream';
  if (r.job !== undefined)
    return typeof r.job === 'string' && r.job.length > 0 && r.job.length <= 100 && isStreamName(r.name)
      ? null
      : 'stream';
  return isConversationId(r.conversation) && isClientId(r.message) ? null : 'stream';
}

/** `meta` is checked last: its own code (`meta_too_large`) says what to fix. */
function presenceJoin(m: Fields): string | null {
  if (needTopic(m)) return 'topic';
  if (m.device !== undefined && (typeof m.device !== 'string' || m.device.length > MAX_DEVICE_LENGTH)) return 'device';
  return presenceMetaFits(m.meta) ? null : 'meta';
}

/**
 * One validator per client message type (a table, not a switch): each returns the name of the
 * first bad field, or null. Unknown extra fields are ignored so newer clients stay compatible.
 */
const validators: Record<ClientMessageType, Validator> = {
  connect: (m) => (typeof m.token === 'string' && m.token.length <= MAX_TOKEN_LENGTH ? null : 'token'),
  subscribe: (m) =>
    needTopic(m) ??
    (m.since === undefined || isPosition(m.since) ? null : 'since') ??
    (m.token === undefined || (typeof m.token === 'string' && m.token.length <= MAX_TOKEN_LENGTH) ? null : 'token'),
  unsubscribe: (m) => needTopic(m),
  publish: (m) => {
    if (needTopic(m)) return 'topic';
    if (!('data' in m) || m.data === undefined) return 'data';
    if (m.ephemeral !== undefined && typeof m.ephemeral !== 'boolean') return 'ephemeral';
    const key = m.idempotencyKey;
    if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH))
      return 'idempotencyKey';
    return null;
  },
  refresh: (m) => (typeof m.token === 'string' && m.token.length <= MAX_TOKEN_LENGTH ? null : 'token'),
  'presence.join': presenceJoin,
  'presence.update': (m) =>
    needTopic(m) ?? (m.meta === undefined ? 'meta (missing)' : presenceMetaFits(m.meta) ? null : 'meta'),
  'presence.leave': needTopic,
  'presence.watch': needTopic,
  'presence.unwatch': needTopic,
  'typing.start': needTopic,
  'typing.stop': needTopic,
  'conversation.send': (m) => {
    if (needConversation(m)) return 'conversation';
    if (m.text === undefined && m.data === undefined) return 'text';
    if (m.text !== undefined && !isText(m.text)) return 'text';
    if (m.clientId !== undefined && !isClientId(m.clientId)) return 'clientId';
    return null;
  },
  'conversation.draft': (m) =>
    needConversation(m) ?? (isClientId(m.clientId) ? null : 'clientId') ?? (isText(m.text) ? null : 'text'),
  'conversation.receipt': (m) => {
    if (needConversation(m)) return 'conversation';
    if (m.delivered === undefined && m.read === undefined) return 'delivered';
    if (m.delivered !== undefined && !isOffset(m.delivered)) return 'delivered';
    if (m.read !== undefined && !isOffset(m.read)) return 'read';
    return null;
  },
  'conversation.get': needConversation,
  'stream.subscribe': (m) =>
    needStream(m) ??
    (m.from === undefined || isOffset(m.from) ? null : 'from') ??
    (m.token === undefined || (typeof m.token === 'string' && m.token.length <= MAX_TOKEN_LENGTH) ? null : 'token'),
  'stream.unsubscribe': needStream,
  'stream.stop': (m) =>
    needStream(m) ??
    (m.token === undefined || (typeof m.token === 'string' && m.token.length <= MAX_TOKEN_LENGTH) ? null : 'token'),
};

/** The error code for a bad field: the field's own code where it has one. */
const fieldCodes: Record<string, ErrorCode> = {
  topic: 'invalid_topic',
  since: 'invalid_position',
  meta: 'meta_too_large',
  delivered: 'invalid_receipt',
  read: 'invalid_receipt',
  // A token that is not a string of at most 8 KiB can never verify: it is a bad credential.
  token: 'unauthorized',
  from: 'invalid_position',
  stream: 'invalid_stream',
};

/** Options of {@link decodeClientMessage}. */
export interface DecodeOptions {
  /** Deepest nesting accepted, envelope included (`too_deep` past it). @default 64 */
  maxDepth?: number;
}

/**
 * Decode one client frame. Returns a typed message, or the stable error code to report:
 * `invalid_json` for text that is not a JSON object, `too_deep` for JSON nested deeper than
 * `maxDepth` (checked before any field is looked at; so are prototype keys and out-of-range
 * numbers, refused as `invalid_message`, see `inspectJson`), `invalid_message` for an unknown type or a
 * missing id, `invalid_topic` / `invalid_position` / `meta_too_large` / `invalid_receipt` for those fields. The request `id` is echoed
 * whenever it could be read, so the client can fail the right pending call.
 */
export function decodeClientMessage(text: string, options: DecodeOptions = {}): DecodeResult<ClientMessage> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'invalid_json', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_json', message: 'frame must be a JSON object' };
  }
  const m = value as Fields;
  const id = isId(m.id) ? m.id : undefined;
  const withId = id === undefined ? {} : { id };
  const fault = inspectJson(value, options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH);
  if (fault !== null) {
    const code: ErrorCode = fault === 'too_deep' ? 'too_deep' : 'invalid_message';
    return { ok: false, code, message: JsonFaultDetail[fault], ...withId };
  }
  const type = m.type;
  if (typeof type !== 'string' || !Object.hasOwn(validators, type)) {
    return { ok: false, code: 'invalid_message', message: `unknown message type`, ...withId };
  }
  if (type !== 'connect' && id === undefined) {
    return { ok: false, code: 'invalid_message', message: `${type} needs a non-negative integer id` };
  }
  const bad = validators[type as ClientMessageType](m);
  if (bad !== null) {
    const code: ErrorCode = fieldCodes[bad] ?? 'invalid_message';
    return { ok: false, code, message: `${type}: invalid ${bad}`, ...withId };
  }
  return { ok: true, message: m as unknown as ClientMessage };
}

/** Encode a server message as one line of JSON (no newline inside, by JSON's grammar). */
export function encodeServerMessage(message: ServerMessage): string {
  return JSON.stringify(message);
}

/**
 * Split a server frame into messages. Frames may carry several `\n`-separated messages.
 * Lines that fail to parse are skipped and counted, so one bad line cannot wedge a client.
 */
export function decodeServerFrame(text: string): { messages: ServerMessage[]; invalid: number } {
  const messages: ServerMessage[] = [];
  let invalid = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && typeof (value as Fields).type === 'string') {
        messages.push(value as ServerMessage);
      } else invalid++;
    } catch {
      invalid++;
    }
  }
  return { messages, invalid };
}
