import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { parseScopes, type Scope } from '@inloop/protocol';
import type { IssuerFailure, Issuers } from './issuers.js';
import type { Principal } from './principal.js';

/** Issuer claim of tokens minted by Inloop (optional for tokens minted by backends). */
export const TOKEN_ISSUER = 'inloop';
/** Longest accepted token lifetime: client tokens are meant to be short-lived. */
export const MAX_TOKEN_TTL_SECONDS = 86_400;

const HS256_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

export type TokenFailure = IssuerFailure;

/** The name the node itself publishes under (job events carry `from: "inloop"`). */
export const NODE_SUBJECT = 'inloop';

/**
 * Why no client token may be minted for `subject`, or null when one may. A `key:` subject would
 * speak as an API key (`key:<name>` is a key's principal id, carried as `from` and owning its jobs'
 * idempotency keys), `inloop` as the node itself; neither `POST /v1/tokens` nor `node.mintToken`
 * mints them, in any letter case. Control and format characters (a zero-width space before
 * `key:`, say) would make a subject that reads like another, so they are refused too.
 */
export function unmintableSubject(subject: string): string | null {
  if (/^key:/i.test(subject)) return 'subjects starting with "key:" are reserved for API keys';
  if (subject.toLowerCase() === NODE_SUBJECT) return `the subject "${NODE_SUBJECT}" is the node's own`;
  if (/[\p{Cc}\p{Cf}]/u.test(subject)) return 'subjects may not contain control or format characters';
  return null;
}

/**
 * Client tokens: HS256 JWTs signed with the node's token secret. Verification pins the
 * algorithm, so `alg: none` and asymmetric-key confusion are rejected before any claim is read.
 */
export class Tokens {
  // A KeyObject, created once: with raw bytes jose would import the key on every sign and verify.
  readonly #secret: KeyObject;
  readonly #issuers: Issuers | undefined;

  /** `issuers`: identity providers whose RS256/ES256/EdDSA tokens are accepted too (JWKS). */
  constructor(secret: string, issuers?: Issuers) {
    this.#secret = createSecretKey(Buffer.from(secret, 'utf8'));
    this.#issuers = issuers;
  }

  /**
   * An HS256 JWT (RFC 7515 compact form: base64url header and claims, and their HMAC-SHA256)
   * made with node:crypto's HMAC directly: jose signs through WebCrypto, a thread-pool round trip
   * per token that cost 9 % of a node's CPU at 600 jobs/s, each job's 202 carrying its own read
   * token. Verifying stays with jose (it pins the algorithm and checks the claims); tests verify
   * minted tokens with it.
   */
  async mint(subject: string, scopes: Scope[], ttlSeconds: number): Promise<{ token: string; expiresAt: number }> {
    const now = Math.floor(Date.now() / 1000);
    // Rounded up: a token lives at least its TTL (rounded down, a 1 s token minted late in a
    // second was expired on arrival).
    const exp = Math.ceil(Date.now() / 1000 + ttlSeconds);
    const claims = { scopes, sub: subject, iss: TOKEN_ISSUER, iat: now, exp };
    const signingInput = `${HS256_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = createHmac('sha256', this.#secret).update(signingInput).digest('base64url');
    return { token: `${signingInput}.${signature}`, expiresAt: exp * 1000 };
  }

  /** Verify a token: its principal, or why it is refused. */
  async verify(token: string): Promise<{ ok: true; principal: Principal } | { ok: false; code: TokenFailure }> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return { ok: false, code: 'unauthorized' };
    }
    // The header's alg only routes: HS256 is checked with the node's secret alone, anything else
    // with the named issuer's public keys alone. An RS256 public key presented as an HS256 secret
    // is just a wrong secret here, and an HS256 token never reaches an issuer's key set.
    if (alg !== 'HS256') {
      if (!this.#issuers) return { ok: false, code: 'unauthorized' };
      return this.#issuers.verify(token, alg);
    }
    try {
      const { payload } = await jwtVerify(token, this.#secret, {
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'exp'],
      });
      const scopes = parseScopes(payload.scopes ?? []);
      if (!scopes || typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
        return { ok: false, code: 'unauthorized' };
      }
      if (payload.iss !== undefined && payload.iss !== TOKEN_ISSUER) return { ok: false, code: 'unauthorized' };
      // `exp: 1e400` parses as Infinity, which jose accepts as a number: a token that never expires.
      if (!Number.isSafeInteger(payload.exp)) return { ok: false, code: 'unauthorized' };
      return {
        ok: true,
        principal: { kind: 'token', sub: payload.sub, id: payload.sub, scopes, expiresAt: payload.exp! * 1000 },
      };
    } catch (err) {
      return { ok: false, code: err instanceof joseErrors.JWTExpired ? 'token_expired' : 'unauthorized' };
    }
  }
}
