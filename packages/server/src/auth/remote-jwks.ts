import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { deadline } from '../util/deadline.js';

export interface RemoteKeySetOptions {
  /** A fetched set is used this long before the next fetch. */
  cacheMaxAgeMs: number;
  /** Least time between two fetches, whether the last one succeeded or failed. */
  cooldownMs: number;
  /** A fetch (headers and body) taking longer fails. */
  timeoutMs: number;
  /** A JWKS document larger than this fails, and is not read further. */
  maxBytes: number;
}

/** The issuer's key set could not be fetched (or was not, during the cooldown after a failure). */
export class KeysUnavailable extends Error {
  override readonly name = 'KeysUnavailable';
}

/** GET a JWKS document: 200 only, no redirects, at most `maxBytes`, within `timeoutMs`. */
export async function fetchJwks(url: URL, timeoutMs: number, maxBytes: number): Promise<unknown> {
  const timeout = deadline(timeoutMs);
  try {
    const res = await fetch(url, {
      redirect: 'manual',
      headers: { accept: 'application/json, application/jwk-set+json', 'user-agent': 'inloop' },
      signal: timeout.signal,
    });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      throw new KeysUnavailable(`JWKS endpoint answered ${res.status}`);
    }
    if (Number(res.headers.get('content-length')) > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new KeysUnavailable(`JWKS larger than ${maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body?.getReader();
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      size += chunk.value.byteLength;
      if (size > maxBytes) {
        // Nothing past the cap is read: the rest of the body is dropped with the connection.
        await reader!.cancel().catch(() => {});
        throw new KeysUnavailable(`JWKS larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk.value);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } finally {
    timeout.clear();
  }
}

/**
 * A key set fetched from a JWKS URL, for jose's `jwtVerify`. Unlike jose's `createRemoteJWKSet`,
 * a failed fetch (an error status, a body that is not a key set, too large, too slow, the host
 * down) starts the cooldown too: while the endpoint is failing, tokens (even forged ones with
 * made-up `kid`s) cost one fetch per cooldown, not one each. Meanwhile a token is checked with
 * the last good set if there is one (however old), and otherwise refused as keys unavailable.
 * An unknown `kid` in a good set triggers a refetch, at most once per cooldown (a rotation).
 */
export function remoteKeySet(url: URL, o: RemoteKeySetOptions): JWTVerifyGetKey {
  let local: JWTVerifyGetKey | undefined;
  let fetchedAt = 0;
  let lastAttemptAt = -Infinity;
  let pending: Promise<boolean> | undefined;

  const coolingDown = () => Date.now() - lastAttemptAt < o.cooldownMs;
  const reload = (): Promise<boolean> =>
    (pending ??= (async () => {
      lastAttemptAt = Date.now();
      try {
        local = createLocalJWKSet((await fetchJwks(url, o.timeoutMs, o.maxBytes)) as never);
        fetchedAt = Date.now();
        return true;
      } catch {
        return false;
      } finally {
        lastAttemptAt = Date.now();
        pending = undefined;
      }
    })());

  return async (header, token) => {
    if (pending) await pending;
    if ((!local || Date.now() - fetchedAt >= o.cacheMaxAgeMs) && !coolingDown()) await reload();
    if (!local) throw new KeysUnavailable('JWKS not available');
    try {
      return await local(header, token);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || coolingDown()) throw err;
      // An unknown kid: perhaps the keys rotated.
      if (!(await reload())) throw new KeysUnavailable('JWKS not available');
      return local(header, token);
    }
  };
}
