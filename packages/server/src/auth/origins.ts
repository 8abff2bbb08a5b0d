/**
 * Browser origin allowlist. Requests without an `Origin` header (backends, curl) pass; a browser
 * request passes when its origin is listed exactly, the list holds `*`, or it is the node's own
 * origin (same scheme, host and port as the request's `Host`).
 */
export class Origins {
  readonly #allowed: Set<string>;
  readonly #any: boolean;

  constructor(allowed: readonly string[]) {
    this.#allowed = new Set(allowed.map((o) => o.replace(/\/$/, '').toLowerCase()));
    this.#any = this.#allowed.has('*');
  }

  allows(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    const o = origin.toLowerCase();
    if (this.#any || this.#allowed.has(o)) return true;
    if (host === undefined) return false;
    const h = host.toLowerCase();
    return o === `http://${h}` || o === `https://${h}`;
  }
}
