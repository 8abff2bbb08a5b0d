/** Where the SDK gets its token: a fixed string, or a function called on every (re)connect and refresh. */
export type TokenSource = string | (() => Promise<string> | string);

/** Read a JWT's `exp` (ms since the epoch) without verifying it; undefined when unreadable. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to refresh a token that expires at `expiresAt`: a fifth of its remaining life before
 * expiry, at least 5 s and at most 60 s before.
 */
export function refreshDelay(expiresAt: number, now = Date.now()): number {
  const remaining = expiresAt - now;
  const lead = Math.min(60_000, Math.max(5_000, remaining / 5));
  return Math.max(0, remaining - lead);
}
