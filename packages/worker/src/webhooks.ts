import { createHmac, timingSafeEqual } from 'node:crypto';

/** An event the node delivered, once its signature checked out. */
export interface WebhookDelivery<T = unknown> {
  /** The `webhook-id`: the same on every retry of one event. Dedupe by it (delivery is at least once). */
  id: string;
  /** `job.succeeded`, `conversation.message`, `presence.vacant` ... */
  type: string;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: T;
}

/** Why a delivery was refused: answer it 400 (or 401), never 2xx. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: 'missing_headers' | 'stale_timestamp' | 'bad_signature' | 'bad_body',
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export interface VerifyWebhookOptions {
  /** Oldest (and furthest in the future) `webhook-timestamp` accepted, in seconds. @default 300 */
  toleranceSeconds?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

const keyOf = (secret: string): Buffer =>
  Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');

/**
 * Verify a webhook from an Inloop node (the Standard Webhooks format) and parse its body. Pass
 * the raw body, exactly as received: a re-serialized JSON body will not verify. `secrets` may
 * list the old and the new secret while one is rotated. Throws {@link WebhookVerificationError}.
 *
 * ```ts
 * const event = verifyWebhook(process.env.INLOOP_WEBHOOK_SECRET!, req.headers, rawBody);
 * if (await seen(event.id)) return res.writeHead(204).end();
 * ```
 */
export function verifyWebhook<T = unknown>(
  secrets: string | readonly string[],
  headers: HeaderBag,
  body: string | Buffer,
  options: VerifyWebhookOptions = {},
): WebhookDelivery<T> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      'missing_headers',
      'webhook-id, webhook-timestamp and webhook-signature are required',
    );
  }
  const seconds = Number(timestamp);
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  // A replayed delivery carries its old timestamp (it is signed): refuse it past the tolerance.
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now - seconds) > (options.toleranceSeconds ?? 300)) {
    throw new WebhookVerificationError('stale_timestamp', 'webhook-timestamp is too old or too far in the future');
  }
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const content = `${id}.${timestamp}.${text}`;
  const offered = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const ok = (typeof secrets === 'string' ? [secrets] : secrets).some((secret) => {
    const expected = createHmac('sha256', keyOf(secret)).update(content).digest();
    return offered.some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected));
  });
  if (!ok) throw new WebhookVerificationError('bad_signature', 'no signature matches any of the secrets');
  try {
    const parsed = JSON.parse(text) as { type: string; timestamp: string; data: T };
    return { id, type: parsed.type, timestamp: parsed.timestamp, data: parsed.data };
  } catch {
    throw new WebhookVerificationError('bad_body', 'the body is not JSON');
  }
}
