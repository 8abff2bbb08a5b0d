import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { HttpProblem } from './problems.js';
import { documented } from './schemas.js';

/** Where `packages/console` builds the pages (the same place from src/ and dist/). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../console/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/**
 * The operator's console at `/console`: static pages that sign in with an API key (kept in the
 * tab's sessionStorage, never in a URL) and read the documented `/v1` APIs. Files are read once
 * and kept; assets have hashed names and are cached for a year, the page itself is not cached.
 * Every path under `/console/` that is not an asset is the page (its router reads the hash).
 */
export function consolePages(app: FastifyInstance, dir = CONSOLE_DIR): void {
  const cache = new Map<string, Buffer | null>();
  const file = async (name: string): Promise<Buffer | null> => {
    if (!cache.has(name)) cache.set(name, await readFile(join(dir, name)).catch(() => null));
    return cache.get(name)!;
  };
  const page = async (_request: unknown, reply: import('fastify').FastifyReply) => {
    const html = await file('index.html');
    if (!html) throw new HttpProblem('not_found', 'the console is not built (npm run build)');
    return reply
      .type(TYPES['.html']!)
      .header('cache-control', 'no-cache')
      .header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .send(html);
  };
  app.get('/console', { schema: documented({ summary: 'The operator’s console (HTML)', hide: true }) }, page);
  app.get<{ Params: { '*': string } }>('/console/*', { schema: documented({ hide: true }) }, async (request, reply) => {
    const rest = request.params['*'];
    if (!rest.startsWith('assets/')) return page(request, reply);
    const name = normalize(rest);
    if (name.startsWith('..') || name.includes('\0')) throw new HttpProblem('not_found');
    const body = await file(name);
    if (!body) throw new HttpProblem('not_found');
    return reply
      .type(TYPES[extname(name)] ?? 'application/octet-stream')
      .header('cache-control', 'public, max-age=31536000, immutable')
      .send(body);
  });
}
