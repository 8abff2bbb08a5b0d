import type { FastifyInstance, onRequestHookHandler, RouteOptions } from 'fastify';
import { HttpProblem } from './problems.js';

/** A plain decimal integer: no exponent, sign of a plus, hex, blanks, fraction or `Infinity`. */
const DECIMAL = /^-?(0|[1-9][0-9]{0,15})$/;

/** The names of the integer members of a route's querystring schema. */
function integerParams(route: RouteOptions): string[] {
  const schema = route.schema?.querystring as { properties?: Record<string, { type?: unknown }> } | undefined;
  return Object.entries(schema?.properties ?? {})
    .filter(([, p]) => p.type === 'integer' || p.type === 'number')
    .map(([name]) => name);
}

/**
 * Numbers in query strings are parsed strictly. The validator's type coercion reads `1e400`,
 * `0x10`, `Infinity` or ` 5` as numbers (some of them out of range for the store underneath); a
 * caller who sent one made a mistake, and is told so with `400 bad_request` naming the
 * parameter, before the schema coerces anything. Repeated parameters are refused the same way.
 */
export function strictQueryNumbers(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const names = integerParams(route);
    if (names.length === 0) return;
    const check: onRequestHookHandler = async (request) => {
      const query = request.query as Record<string, unknown>;
      for (const name of names) {
        const raw = query[name];
        if (raw === undefined) continue;
        if (typeof raw !== 'string' || !DECIMAL.test(raw) || !Number.isSafeInteger(Number(raw))) {
          throw new HttpProblem('bad_request', `query parameter ${name} must be a decimal integer`);
        }
      }
    };
    const existing = route.preValidation;
    route.preValidation =
      existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
