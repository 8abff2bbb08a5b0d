import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino must never print: credentials of every kind. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
];

/** Strip `token=` query parameters from a URL before it reaches a log line. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]*/gi, '$1[redacted]');
}

/** The server app's logger: JSON lines (stdout by default) with credentials redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { svc: 'inloop' } };
  return destination ? pino(options, destination) : pino(options);
}

/** Libraries are silent unless given a logger. */
export const silentLogger: Logger = pino({ level: 'silent' });
