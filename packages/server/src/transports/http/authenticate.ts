import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../../auth/api-keys.js';
import { can, type Principal } from '../../auth/principal.js';
import type { Tokens } from '../../auth/tokens.js';
import { HttpProblem } from './problems.js';

/**
 * Resolves the caller of an HTTP request from `Authorization: Bearer`. Event streams also accept a
 * client token as `?token=`, because EventSource cannot set headers; an API key is never accepted
 * there (URLs end up in proxy logs, browser history and referrers).
 */
export class Authenticator {
  /** Each request's principal, settled once: the early check and the handler share it. */
  readonly #principals = new WeakMap<FastifyRequest, Promise<Principal>>();

  constructor(
    private readonly keys: ApiKeys,
    private readonly tokens: Tokens,
  ) {}

  /**
   * Check credentials before a body is read: on the API's routes (`/v1/...`), a request that
   * carries a body is refused (401, and the connection closed) while the body is still on the
   * wire, so a client without credentials cannot hold a connection open by trickling one in.
   * The principal is kept for the handler's own {@link principal} call. Requests without a body
   * are checked by their handler as before (event streams accept `?token=` there).
   */
  checkBeforeBody(app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => {
      if (request.method === 'GET' || request.method === 'HEAD') return;
      if (!request.routeOptions.url?.startsWith('/v1/')) return;
      const { 'content-length': length, 'transfer-encoding': chunked } = request.headers;
      if (chunked === undefined && (length === undefined || length === '0')) return;
      try {
        await this.principal(request);
      } catch (err) {
        // Node would otherwise read and drop the whole body to keep the connection alive.
        reply.raw.shouldKeepAlive = false;
        throw err;
      }
    });
  }

  /** The credential in `Authorization: Bearer`, if any. */
  static credential(request: FastifyRequest): string | undefined {
    const header = request.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  }

  /** The principal (API key or client token), or an `unauthorized` / `token_expired` problem. */
  principal(request: FastifyRequest): Promise<Principal> {
    let principal = this.#principals.get(request);
    if (!principal) {
      const credential = Authenticator.credential(request);
      principal = credential
        ? this.#verify(credential)
        : Promise.reject(new HttpProblem('unauthorized', 'send Authorization: Bearer <api key or token>'));
      this.#principals.set(request, principal);
    }
    return principal;
  }

  /**
   * Like {@link principal}, but without the header a client token in `?token=` will do. An API
   * key found there is refused, valid or not, so that no key works from a URL.
   */
  async streamPrincipal(request: FastifyRequest): Promise<Principal> {
    if (Authenticator.credential(request) !== undefined) return this.principal(request);
    const query = (request.query as { token?: unknown } | undefined)?.token;
    if (typeof query !== 'string' || query === '')
      throw new HttpProblem('unauthorized', 'send Authorization: Bearer <api key or token>, or ?token=<client token>');
    if (this.keys.verify(query))
      throw new HttpProblem('unauthorized', 'API keys are accepted only in the Authorization header');
    const result = await this.tokens.verify(query);
    if (!result.ok) throw new HttpProblem(result.code);
    return result.principal;
  }

  async #verify(credential: string): Promise<Principal> {
    const key = this.keys.verify(credential);
    if (key) return key;
    const result = await this.tokens.verify(credential);
    if (!result.ok) throw new HttpProblem(result.code);
    return result.principal;
  }

  /** Like {@link principal}, but only an API key or a token granting `admin` on `console` will do. */
  async admin(request: FastifyRequest): Promise<Principal> {
    const principal = await this.principal(request);
    if (!can(principal, 'admin', 'console'))
      throw new HttpProblem('forbidden', 'this endpoint needs an API key or a token with the admin operation');
    return principal;
  }

  /** Like {@link principal}, but only an API key will do. */
  async backend(request: FastifyRequest): Promise<Principal> {
    const principal = await this.principal(request);
    if (principal.kind !== 'key') throw new HttpProblem('forbidden', 'this endpoint needs an API key');
    return principal;
  }
}
