import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino must never print: credentials of every kind (config secrets included). */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'apiKeys[*].key',
  '*.apiKeys[*].key',
  'tokenSecret',
  '*.tokenSecret',
  'metricsToken',
  '*.metricsToken',
  'redis',
  '*.redis',
  'redisCluster',
  '*.redisCluster',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
];

/**
 * Query parameter names whose values never reach a log line. Matched against the decoded name,
 * since a query parser decodes `%74oken` to `token` before any route reads it.
 */
const SECRET_PARAM = /token|key|secret|password|passwd|auth|signature|credential|jwt|bearer|session|sig$/i;

/** Percent-decode byte by byte: never throws, so a malformed escape beside `%74` cannot hide it. */
const decodeOnce = (name: string): string =>
  name.replace(/\+/g, ' ').replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** Decoded until it stops changing (`%2574oken` is `%74oken` is `token`), a few rounds at most. */
function decodeName(name: string): string {
  for (let i = 0; i < 4; i++) {
    const next = decodeOnce(name);
    if (next === name) break;
    name = next;
  }
  return name;
}

/**
 * Replace the value of every credential-like query parameter (`token`, `%74oken`, `api_key`...)
 * with `[redacted]` before a URL reaches a log line.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const pairs = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && SECRET_PARAM.test(decodeName(name)) ? `${name}=[redacted]` : pair;
    });
  return url.slice(0, q + 1) + pairs.join('&');
}

/** The server app's logger: JSON lines (stdout by default) with credentials redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { svc: 'inloop' } };
  return destination ? pino(options, destination) : pino(options);
}

/** Libraries are silent unless given a logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
