import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Principal } from './principal.js';

export interface ApiKey {
  name: string;
  key: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Backend API keys. Compared by SHA-256 digest in constant time, so neither the length nor a
 * prefix of a key leaks through timing.
 */
export class ApiKeys {
  readonly #keys: { name: string; digest: Buffer }[];

  constructor(keys: readonly ApiKey[]) {
    this.#keys = keys.map((k) => ({ name: k.name, digest: digest(k.key) }));
  }

  /** The principal for a presented key, or null. */
  verify(presented: string): Principal | null {
    const d = digest(presented);
    let match: string | null = null;
    for (const k of this.#keys) if (timingSafeEqual(k.digest, d)) match = k.name;
    return match === null ? null : { kind: 'key', name: match, id: `key:${match}` };
  }
}

/**
 * The embedded default's key: read from `<dataDir>/api-key`, or generated there on first start
 * (mode 0600, in a directory created 0700). `created` tells the caller to print it once.
 */
export function loadOrCreateSecret(dataDir: string, file: string, bytes: number): { value: string; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, file);
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
  const value = randomBytes(bytes).toString('base64url');
  writeFileSync(path, value + '\n', { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}
