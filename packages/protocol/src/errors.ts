/**
 * The one catalog of stable error codes. A code is never reused or renamed: clients switch on it.
 * Every HTTP error is an RFC 9457 problem document carrying one of these codes; every WebSocket
 * `error` message carries one too. `retryable` says whether the same request may succeed later
 * unchanged (after a backoff), which is what a client needs to decide without parsing prose.
 */
export const ErrorCatalog = {
  bad_request: { status: 400, retryable: false, title: 'The request is malformed' },
  invalid_json: { status: 400, retryable: false, title: 'The body or frame is not valid JSON' },
  too_deep: {
    status: 400,
    retryable: false,
    title: 'The JSON is nested deeper than the node accepts (maxJsonDepth)',
  },
  invalid_message: { status: 400, retryable: false, title: 'The message does not match the protocol' },
  invalid_topic: { status: 400, retryable: false, title: 'The topic name is not valid' },
  invalid_position: { status: 400, retryable: false, title: 'The resume position is not valid' },
  too_many_subscriptions: {
    status: 400,
    retryable: false,
    title: 'The connection has too many subscriptions, or the member is present on too many topics',
  },
  already_subscribed: { status: 409, retryable: false, title: 'The connection is already subscribed to this topic' },
  not_subscribed: { status: 409, retryable: false, title: 'The connection is not subscribed to this topic' },
  not_connected: { status: 401, retryable: false, title: 'Send a connect message first' },
  unauthorized: { status: 401, retryable: false, title: 'Missing or invalid credentials' },
  token_expired: { status: 401, retryable: false, title: 'The token has expired; fetch a new one' },
  token_issuer_unknown: {
    status: 401,
    retryable: false,
    title: "The token's issuer is not one the node trusts (tokenIssuers)",
  },
  token_audience_mismatch: {
    status: 401,
    retryable: false,
    title: "The token's audience is not one its issuer is trusted for",
  },
  token_algorithm_not_allowed: {
    status: 401,
    retryable: false,
    title: "The token's signing algorithm is not allowed for its issuer",
  },
  token_key_unknown: {
    status: 401,
    retryable: false,
    title: "No key of the token's issuer matches its kid and algorithm, even after refreshing the key set",
  },
  token_not_yet_valid: { status: 401, retryable: true, title: 'The token is not valid yet (nbf)' },
  token_keys_unavailable: {
    status: 503,
    retryable: true,
    title: "The issuer's key set (JWKS) could not be fetched; try again",
  },
  forbidden: { status: 403, retryable: false, title: 'The credentials do not grant this operation on this topic' },
  origin_not_allowed: { status: 403, retryable: false, title: 'The Origin is not in the allowlist' },
  subject_mismatch: { status: 403, retryable: false, title: 'A refreshed token must have the same subject' },
  not_found: { status: 404, retryable: false, title: 'No such resource' },
  idempotency_conflict: {
    status: 409,
    retryable: false,
    title: 'The idempotency key was used with a different payload',
  },
  payload_too_large: { status: 413, retryable: false, title: 'The message or body is too large' },
  uri_too_long: { status: 414, retryable: false, title: 'The request URI or one of its path segments is too long' },
  unsupported_media_type: {
    status: 415,
    retryable: false,
    title: 'The body must be application/json (or the route takes no body)',
  },
  request_timeout: { status: 408, retryable: true, title: 'The request took too long to arrive' },
  headers_too_large: { status: 431, retryable: false, title: 'The request headers are too large' },
  unknown_job_type: { status: 400, retryable: false, title: 'No handler or worker serves this job type' },
  invalid_size_hint: {
    status: 400,
    retryable: false,
    title: 'The size hint must be an object with one positive number',
  },
  job_finished: { status: 409, retryable: false, title: 'The job has already finished' },
  job_not_finished: {
    status: 409,
    retryable: false,
    title: 'The job has not ended yet: cancel it before running it again',
  },
  lease_lost: { status: 409, retryable: false, title: 'The lease has expired or moved to another worker' },
  reserved_topic: {
    status: 403,
    retryable: false,
    title: 'Only the node publishes to job and conversation topics',
  },
  not_member: { status: 403, retryable: false, title: 'Only members of the conversation may do this' },
  member_mismatch: {
    status: 403,
    retryable: false,
    title: 'The member named does not match the credentials (a token acts only as its subject)',
  },
  invalid_receipt: {
    status: 400,
    retryable: false,
    title: 'A receipt must name an offset between 0 and the latest message',
  },
  meta_too_large: { status: 413, retryable: false, title: 'Presence metadata is larger than 1 KiB' },
  conversation_exists: { status: 409, retryable: false, title: 'A conversation with this id already exists' },
  too_many_drafts: {
    status: 409,
    retryable: true,
    title: 'The member has too many streamed drafts open; send one or let it lapse first',
  },
  invalid_stream: {
    status: 400,
    retryable: false,
    title:
      'The stream reference is not valid (a job id and a name of 1-64 of A-Z a-z 0-9 _ . -, or a conversation and a message client id)',
  },
  stream_ended: {
    status: 409,
    retryable: false,
    title: 'The stream has ended (finished, stopped or failed): nothing more can be appended',
  },
  stream_too_long: {
    status: 413,
    retryable: false,
    title: 'The append would make the stream longer than maxStreamChars',
  },
  too_many_streams: {
    status: 409,
    retryable: false,
    title: 'The job already has maxStreamsPerJob streams',
  },
  rate_limited: { status: 429, retryable: true, title: 'Too many requests; slow down' },
  unavailable: {
    status: 503,
    retryable: true,
    title: 'The node is shutting down, at its connection limit, or a dependency is unavailable',
  },
  internal: { status: 500, retryable: true, title: 'An internal error occurred' },
} as const satisfies Record<string, { status: number; retryable: boolean; title: string }>;

/** A stable error code, one of the keys of {@link ErrorCatalog}. */
export type ErrorCode = keyof typeof ErrorCatalog;

/** Whether a string is a known error code (for clients decoding problems and frames). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCatalog, value);
}

/** Base URI of the `type` member of problem documents: `${PROBLEM_TYPE_BASE}${code}`. */
export const PROBLEM_TYPE_BASE = 'https://inloop.dev/errors/';

/** RFC 9457 problem details as the node sends them. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  retryable: boolean;
  /** For `rate_limited`: how long to wait before retrying. */
  retryAfterMs?: number;
}

/** Build the problem document for a code; `detail` must be safe to show (no internals). */
export function problem(code: ErrorCode, detail?: string, extra?: Partial<Problem>): Problem {
  const entry = ErrorCatalog[code];
  return {
    type: PROBLEM_TYPE_BASE + code,
    title: entry.title,
    status: entry.status,
    code,
    retryable: entry.retryable,
    ...(detail === undefined ? {} : { detail }),
    ...extra,
  };
}
