import type { FastifyInstance } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { unmintableSubject, type Tokens } from '../../auth/tokens.js';
import type { Authenticator } from './authenticate.js';
import { HttpProblem } from './problems.js';
import { documented, MintBody, MintReply, problems } from './schemas.js';

/** `POST /v1/tokens`: a backend mints a short-lived client token for a browser. */
export function tokenRoutes(app: FastifyInstance, deps: { tokens: Tokens; auth: Authenticator }): void {
  app.post<{ Body: Static<typeof MintBody> }>(
    '/v1/tokens',
    {
      schema: documented({
        summary: 'Mint a client token (API key only)',
        body: MintBody,
        response: { 201: MintReply, ...problems },
      }),
    },
    async (request, reply) => {
      await deps.auth.backend(request);
      const { subject, ttlSeconds, scopes } = request.body;
      const reserved = unmintableSubject(subject);
      if (reserved) throw new HttpProblem('bad_request', reserved);
      return reply.code(201).send(await deps.tokens.mint(subject, scopes, ttlSeconds));
    },
  );
}
