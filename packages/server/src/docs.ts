import { CloseCodes, closeAction, ErrorCatalog } from '@inloop/protocol';
import { ConfigSchema, envName, flagName } from './config.js';

/**
 * Generated reference pages, so docs cannot drift from the code: `npm run docs` writes them and a
 * test fails when the committed copies are stale.
 */
export function errorsMarkdown(): string {
  const rows = Object.entries(ErrorCatalog).map(
    ([code, e]) => `| \`${code}\` | ${e.status} | ${e.retryable ? 'yes' : 'no'} | ${e.title} |`,
  );
  const closes = Object.entries(CloseCodes).map(([name, code]) => `| ${code} | \`${name}\` | ${closeAction(code)} |`);
  return `<!-- Generated from packages/protocol/src/errors.ts and close-codes.ts by \`npm run docs\`. Do not edit. -->
# Error codes

Every HTTP error is an RFC 9457 problem document (\`application/problem+json\`) with a stable
\`code\`; every WebSocket \`error\` message carries the same codes. A code is never reused or
renamed. \`retryable\` says whether the same request may succeed later unchanged, after a backoff.

This holds for the framework's own errors too: an unknown path (404), a body that is not JSON or
too large (400, 413), a malformed URL or percent-encoding (400), an over-long path segment (414), a
body of another media type (415), oversized headers (431) and a request line Node's parser rejects
(400) all answer with a problem document from this table. Bad input is never answered with
\`internal\` or \`unavailable\`: those two mean the node or one of its dependencies failed, and the
cause is in the node's log, never on the wire. JSON nested deeper than \`maxJsonDepth\` (64 by
default, envelope included) is refused with \`too_deep\` before anything else reads it, and numbers
in query strings must be plain decimal integers (\`1e3\`, \`0x10\` and \`Infinity\` are
\`bad_request\`).

| code | HTTP status | retryable | meaning |
| --- | --- | --- | --- |
${rows.join('\n')}

Example:

\`\`\`json
{ "type": "https://inloop.dev/errors/forbidden", "title": "The credentials do not grant this operation on this topic",
  "status": 403, "code": "forbidden", "retryable": false }
\`\`\`

# WebSocket close codes

The range tells the client what to do: 4000-4099 reconnect with backoff and resume; 4100-4199
fetch a fresh token, then reconnect; 4400-4499 stop. Platform codes: 1006 (connection died, no close
frame) means reconnect; 1009 (frame over \`maxMessageBytes\`) and 1007 (a text frame that is not
valid UTF-8) mean stop.

| code | name | client action |
| --- | --- | --- |
${closes.join('\n')}
`;
}

export function configMarkdown(): string {
  const rows = Object.entries(ConfigSchema.properties).map(([key, schema]) => {
    const s = schema as { default?: unknown; description?: string };
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
    return `| \`${key}\` | \`${flagName(key)}\` | \`${envName(key)}\` | ${def} | ${s.description ?? ''} |`;
  });
  return `<!-- Generated from packages/server/src/config.ts by \`npm run docs\`. Do not edit. -->
# Configuration

One schema validates flags, environment and an optional JSON file (\`--config\` or \`INLOOP_CONFIG\`);
precedence is flags > environment > file > defaults. Every problem is reported at once and the
\`inloop\` command exits with status 2. \`PORT\` is honoured as well as \`INLOOP_PORT\`. List values
are comma-separated in flags and environment.

| key | flag | environment | default | meaning |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}
