import { createHmac } from 'node:crypto';

/** Standard Webhooks secrets are `whsec_` and base64 key bytes. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** The key bytes of a `whsec_...` secret. */
export function secretBytes(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret,
    'base64',
  );
}

/**
 * The `webhook-signature` header of the Standard Webhooks format: `v1,<base64 HMAC-SHA256>` of
 * `id.timestamp.body`, once per secret, space-separated. Signing with every configured secret is
 * how a secret is rotated: add the new one, let receivers switch, then remove the old one.
 */
export function signatureHeader(
  secrets: readonly Buffer[],
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return secrets.map((key) => `v1,${createHmac('sha256', key).update(content).digest('base64')}`).join(' ');
}
