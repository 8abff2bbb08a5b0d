import type { FastifyRequest } from 'fastify';
import type { ApiKeys } from '../../auth/api-keys.js';
import type { Principal } from '../../auth/principal.js';
import type { Tokens } from '../../auth/tokens.js';
import { HttpProblem } from './problems.js';

/** Resolves the caller of an HTTP request from `Authorization: Bearer` or, for SSE, `?token=`. */
export class Authenticator {
  constructor(
    private readonly keys: ApiKeys,
    private readonly tokens: Tokens,
  ) {}

  /** The credential presented, if any. Query tokens exist because EventSource cannot set headers. */
  static credential(request: FastifyRequest): string | undefined {
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) return header.slice(7).trim();
    const query = (request.query as { token?: unknown } | undefined)?.token;
    return typeof query === 'string' ? query : undefined;
  }

  /** The principal, or an `unauthorized` / `token_expired` problem. */
  async principal(request: FastifyRequest): Promise<Principal> {
    const credential = Authenticator.credential(request);
    if (!credential) throw new HttpProblem('unauthorized', 'send Authorization: Bearer <api key or token>');
    const key = this.keys.verify(credential);
    if (key) return key;
    const result = await this.tokens.verify(credential);
    if (!result.ok) throw new HttpProblem(result.code);
    return result.principal;
  }

  /** Like {@link principal}, but only an API key will do. */
  async backend(request: FastifyRequest): Promise<Principal> {
    const principal = await this.principal(request);
    if (principal.kind !== 'key') throw new HttpProblem('forbidden', 'this endpoint needs an API key');
    return principal;
  }
}
