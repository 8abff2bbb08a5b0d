import { isValidTopicPattern, topicMatches } from './topic.js';

/**
 * Operations a client token can grant. Topic operations apply to topic patterns; the job
 * operations apply to patterns over job topics (`job:read`, `job:cancel` on `job:<id>`) or, for
 * `job:create`, over job type names; `admin` on the name `console` opens the operator's read APIs
 * (`/v1/console/...`, job listings and timelines, job types). A token only ever grants what it lists.
 */
export const Operations = [
  'subscribe',
  'publish',
  'presence',
  'history',
  'job:read',
  'job:cancel',
  'job:create',
  'admin',
] as const;
export type Operation = (typeof Operations)[number];

/** Whether `value` names a known operation. */
export function isOperation(value: unknown): value is Operation {
  return (Operations as readonly unknown[]).includes(value);
}

/** One grant: these operations on topics matching any of these patterns. */
export interface Scope {
  ops: Operation[];
  topics: string[];
}

/**
 * The claims of an Inloop client token (a JWT signed HS256 with the node's token secret).
 * A backend may mint these itself with the shared secret instead of calling `POST /v1/tokens`.
 *
 * ```json
 * { "sub": "user-17", "iat": 1764000000, "exp": 1764000900, "iss": "inloop",
 *   "scopes": [{ "ops": ["subscribe", "history"], "topics": ["room:42:*"] }] }
 * ```
 */
export interface TokenClaims {
  /** The subject: who the token speaks for. Carried as `from` on its publications. */
  sub: string;
  /** Expiry, seconds since the epoch (required: tokens are short-lived). */
  exp: number;
  iat?: number;
  scopes: Scope[];
}

/** Whether `scopes` grant `op` on `topic`. */
export function scopesAllow(scopes: readonly Scope[], op: Operation, topic: string): boolean {
  for (const scope of scopes) {
    if (!scope.ops.includes(op)) continue;
    for (const pattern of scope.topics) if (topicMatches(pattern, topic)) return true;
  }
  return false;
}

/** Validate an untrusted `scopes` claim; returns null when it is not well formed. */
export function parseScopes(value: unknown): Scope[] | null {
  if (!Array.isArray(value) || value.length > 64) return null;
  const out: Scope[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return null;
    const { ops, topics } = item as { ops?: unknown; topics?: unknown };
    if (!Array.isArray(ops) || !Array.isArray(topics) || topics.length > 256) return null;
    if (!ops.every((op) => typeof op === 'string')) return null;
    if (!topics.every(isValidTopicPattern)) return null;
    // Operations this node does not know are dropped, not rejected: a token minted for a newer
    // node still works here, and an unknown operation can only grant less.
    out.push({ ops: ops.filter(isOperation), topics: topics as string[] });
  }
  return out;
}
