import { scopesAllow, type Operation, type Scope } from '@inloop/protocol';

/**
 * Who is making a request. Backends present an API key and may do anything; browsers present a
 * client token and may do what its scopes grant, until it expires.
 */
export type Principal =
  | { kind: 'key'; name: string; id: string }
  | { kind: 'token'; sub: string; id: string; scopes: Scope[]; expiresAt: number };

/** Whether `principal` may perform `op` on `topic`. */
export function can(principal: Principal, op: Operation, topic: string): boolean {
  return principal.kind === 'key' || scopesAllow(principal.scopes, op, topic);
}
