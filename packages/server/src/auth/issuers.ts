import {
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { isOperation, isValidTopicPattern, parseScopes, type Operation, type Scope } from '@inloop/protocol';
import type { ErrorCode } from '@inloop/protocol';
import type { Principal } from './principal.js';
import { KeysUnavailable, remoteKeySet } from './remote-jwks.js';
import { unmintableSubject } from './tokens.js';

/** Asymmetric algorithms an identity provider's tokens may use. HS* never: that key is the node's. */
export const ISSUER_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type IssuerAlgorithm = (typeof ISSUER_ALGORITHMS)[number];

/** One grant given to every token of an issuer, optionally only when a claim holds a value. */
export interface ScopeRule {
  ops: string[];
  /** Topic patterns; `{sub}` and `{claim.path}` are replaced by the token's claims. */
  topics: string[];
  /** Only when the claim at `claim` (a dot path) equals `equals` or, for an array, includes it. */
  when?: { claim: string; equals: string | number | boolean };
}

/** A trusted identity provider (config `tokenIssuers`, file only). */
export interface TrustedIssuer {
  /** Exact `iss` claim of its tokens. */
  issuer: string;
  /** Where its public keys are published (`https://.../.well-known/jwks.json`). */
  jwksUrl?: string;
  /** Or its public keys inline (a JWKS document). */
  keys?: { keys: Record<string, unknown>[] };
  /** Accepted `aud` values: a token must name one. */
  audience: string | string[];
  /** @default ['RS256', 'ES256', 'EdDSA'] */
  algorithms?: IssuerAlgorithm[];
  /** A dot path of a claim holding Inloop scopes (`[{ ops, topics }]`), e.g. `inloop.scopes`. */
  scopesClaim?: string;
  /** Grants derived from claims (see {@link ScopeRule}). */
  rules?: ScopeRule[];
  /** Prepended to `sub` to form the member id, so two issuers' subjects cannot meet. @default '' */
  subjectPrefix?: string;
  /** Leeway for `exp` and `nbf`, in seconds. @default 30 */
  clockToleranceSeconds?: number;
}

export interface IssuersOptions {
  /** Keys fetched from a JWKS URL are kept this long before the next fetch. @default 600_000 */
  cacheMaxAgeMs?: number;
  /**
   * Least time between two fetches of one key set (an unknown `kid` triggers one), counted from
   * the last fetch whether it succeeded or failed. @default 30_000
   */
  refreshCooldownMs?: number;
  /** A JWKS fetch taking longer fails. @default 5000 */
  fetchTimeoutMs?: number;
  /** A JWKS document larger than this fails (read no further). @default 1_048_576 */
  maxJwksBytes?: number;
}

/** Why a token of a trusted issuer is refused: each a catalogued code. */
export type IssuerFailure = Extract<
  ErrorCode,
  | 'unauthorized'
  | 'token_expired'
  | 'token_issuer_unknown'
  | 'token_audience_mismatch'
  | 'token_algorithm_not_allowed'
  | 'token_key_unknown'
  | 'token_not_yet_valid'
  | 'token_keys_unavailable'
>;

export type IssuerResult = { ok: true; principal: Principal } | { ok: false; code: IssuerFailure };

interface Entry {
  config: TrustedIssuer;
  algorithms: IssuerAlgorithm[];
  audience: string[];
  keys: JWTVerifyGetKey;
}

/** The value at a dot path of the claims (`a.b`), or undefined. Own properties only. */
function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

// A claim substituted into a topic pattern must stay one segment of plain text: `:` would reach
// into another namespace (`user:{sub}:*` with sub `x:y`), `*` would widen the grant.
const SEGMENT = /^[^:*\s\p{Cc}\p{Cf}]{1,128}$/u;

function scopesFromRules(rules: readonly ScopeRule[], payload: JWTPayload): Scope[] {
  const out: Scope[] = [];
  for (const rule of rules) {
    if (rule.when) {
      const value = claimAt(payload, rule.when.claim);
      const match = Array.isArray(value) ? value.includes(rule.when.equals) : value === rule.when.equals;
      if (!match) continue;
    }
    const topics: string[] = [];
    for (const pattern of rule.topics) {
      let ok = true;
      const topic = pattern.replace(/\{([A-Za-z0-9_.-]+)\}/g, (_, path: string) => {
        const value = claimAt(payload, path);
        const text = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
        if (!SEGMENT.test(text)) ok = false;
        return text;
      });
      // A rule whose claim is missing or unsafe grants nothing: it never fails the token.
      if (ok && isValidTopicPattern(topic)) topics.push(topic);
    }
    const ops = rule.ops.filter(isOperation) as Operation[];
    if (topics.length > 0 && ops.length > 0) out.push({ ops, topics });
  }
  return out;
}

/**
 * Tokens of trusted identity providers, verified against their JWKS. Each issuer has its own key
 * set (cached per issuer and URL, looked up by `kid` inside it), so a token naming one issuer is
 * only ever checked with that issuer's keys, whatever `kid` it carries: two providers publishing
 * the same `kid` cannot verify each other's tokens. An unknown `kid` refetches the set once, at
 * most every `refreshCooldownMs` (a failed fetch counts), which is how a rotation is picked up.
 * The `{sub}` of a rule is the raw claim, not the `subjectPrefix`ed member id.
 */
export class Issuers {
  readonly #byIssuer = new Map<string, Entry>();

  constructor(issuers: readonly TrustedIssuer[], options: IssuersOptions = {}) {
    const remote = new Map<string, JWTVerifyGetKey>();
    for (const config of issuers) {
      checkIssuer(config);
      let keys: JWTVerifyGetKey;
      if (config.jwksUrl) {
        const cacheKey = `${config.issuer}\n${config.jwksUrl}`;
        keys =
          remote.get(cacheKey) ??
          remoteKeySet(new URL(config.jwksUrl), {
            cacheMaxAgeMs: options.cacheMaxAgeMs ?? 600_000,
            cooldownMs: options.refreshCooldownMs ?? 30_000,
            timeoutMs: options.fetchTimeoutMs ?? 5000,
            maxBytes: options.maxJwksBytes ?? 1_048_576,
          });
        remote.set(cacheKey, keys);
      } else keys = createLocalJWKSet(config.keys as unknown as JSONWebKeySet);
      this.#byIssuer.set(config.issuer, {
        config,
        algorithms: config.algorithms ?? [...ISSUER_ALGORITHMS],
        audience: Array.isArray(config.audience) ? config.audience : [config.audience],
        keys,
      });
    }
  }

  get size(): number {
    return this.#byIssuer.size;
  }

  /** Verify a token whose header names an asymmetric algorithm. */
  async verify(token: string, alg: string | undefined): Promise<IssuerResult> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch {
      return { ok: false, code: 'unauthorized' };
    }
    // The issuer picks the key set; nothing is trusted before the signature checks out with it.
    const entry = typeof unverified.iss === 'string' ? this.#byIssuer.get(unverified.iss) : undefined;
    if (!entry) return { ok: false, code: 'token_issuer_unknown' };
    if (!(entry.algorithms as readonly string[]).includes(alg ?? '')) {
      return { ok: false, code: 'token_algorithm_not_allowed' };
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, entry.keys, {
        issuer: entry.config.issuer,
        audience: entry.audience,
        algorithms: entry.algorithms,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: entry.config.clockToleranceSeconds ?? 30,
      }));
    } catch (err) {
      return { ok: false, code: failureOf(err) };
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256 || !Number.isSafeInteger(payload.exp)) {
      return { ok: false, code: 'unauthorized' };
    }
    const id = (entry.config.subjectPrefix ?? '') + sub;
    // An identity provider's user may not speak as an API key or as the node.
    if (unmintableSubject(id)) return { ok: false, code: 'unauthorized' };
    const scopes = scopesFromRules(entry.config.rules ?? [], payload);
    if (entry.config.scopesClaim !== undefined) {
      const claimed = claimAt(payload, entry.config.scopesClaim);
      if (claimed !== undefined) {
        const parsed = parseScopes(claimed);
        if (!parsed) return { ok: false, code: 'unauthorized' };
        scopes.push(...parsed);
      }
    }
    return { ok: true, principal: { kind: 'token', sub: id, id, scopes, expiresAt: payload.exp! * 1000 } };
  }
}

/**
 * Mistakes that would otherwise only show as refused tokens (or grants that never apply): a
 * private or symmetric key in a static key set, an operation or topic pattern misspelled in a rule.
 */
function checkIssuer(config: TrustedIssuer): void {
  const where = `token issuer ${config.issuer}`;
  if (!config.jwksUrl && !config.keys) throw new Error(`${where}: needs jwksUrl or keys`);
  for (const jwk of config.keys?.keys ?? []) {
    if ('d' in jwk || 'k' in jwk) throw new Error(`${where}: keys must be public keys (a key has "d" or "k")`);
  }
  for (const rule of config.rules ?? []) {
    for (const op of rule.ops)
      if (!isOperation(op)) throw new Error(`${where}: unknown operation ${JSON.stringify(op)}`);
    for (const topic of rule.topics) {
      if (!isValidTopicPattern(topic.replace(/\{[A-Za-z0-9_.-]+\}/g, 'x')))
        throw new Error(`${where}: ${JSON.stringify(topic)} is not a valid topic pattern`);
    }
  }
}

function failureOf(err: unknown): IssuerFailure {
  if (err instanceof joseErrors.JWTExpired) return 'token_expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'token_audience_mismatch';
    if (err.claim === 'iss') return 'token_issuer_unknown';
    if (err.claim === 'nbf') return 'token_not_yet_valid';
    return 'unauthorized';
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token_algorithm_not_allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'token_key_unknown';
  if (err instanceof KeysUnavailable) return 'token_keys_unavailable';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return 'token_keys_unavailable';
  if (err instanceof joseErrors.JOSEError) {
    // A JWKS endpoint answering other than 200 OK, or not JSON.
    if (err.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/i.test(err.message)) return 'token_keys_unavailable';
    return 'unauthorized';
  }
  // fetch() itself failing (connection refused, DNS): the provider is unreachable, not the token bad.
  return 'token_keys_unavailable';
}
