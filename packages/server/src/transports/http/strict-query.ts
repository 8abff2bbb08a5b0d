import type { FastifyInstance, onRequestHookHandler, RouteOptions } from 'fastify';
import { HttpProblem } from './problems.js';

/** A plain decimal integer: no exponent, sign of a plus, hex, blanks, fraction or `Infinity`. */
const DECIMAL = /^-?(0|[1-9][0-9]{0,15})$/;

/** The names of the integer members of one of a route's schemas (querystring or params). */
function integerParams(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties;
  return Object.entries(properties ?? {})
    .filter(([, p]) => p.type === 'integer' || p.type === 'number')
    .map(([name]) => name);
}

/** The first of `names` whose raw value in `values` is not a plain decimal integer. */
function firstLoose(values: Record<string, unknown>, names: readonly string[]): string | undefined {
  return names.find((name) => {
    const raw = values[name];
    return raw !== undefined && (typeof raw !== 'string' || !DECIMAL.test(raw) || !Number.isSafeInteger(Number(raw)));
  });
}

/**
 * Numbers in query strings and paths are parsed strictly. The validator's type coercion reads `1e400`,
 * `0x10`, `Infinity` or ` 5` as numbers (some of them out of range for the store underneath); a
 * caller who sent one made a mistake, and is told so with `400 bad_request` naming the
 * parameter, before the schema coerces anything. Repeated parameters are refused the same way.
 */
export function strictQueryNumbers(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const inQuery = integerParams(route.schema?.querystring);
    const inPath = integerParams(route.schema?.params);
    if (inQuery.length === 0 && inPath.length === 0) return;
    const check: onRequestHookHandler = async (request) => {
      const query = firstLoose(request.query as Record<string, unknown>, inQuery);
      if (query) throw new HttpProblem('bad_request', `query parameter ${query} must be a decimal integer`);
      const path = firstLoose(request.params as Record<string, unknown>, inPath);
      if (path) throw new HttpProblem('bad_request', `path parameter ${path} must be a decimal integer`);
    };
    const existing = route.preValidation;
    route.preValidation =
      existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
