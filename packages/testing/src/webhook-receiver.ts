import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WebhookVerificationError, type WebhookDelivery } from '@inloop/worker';

/** A fresh Standard Webhooks secret. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export type Behaviour = (delivery: WebhookDelivery, attempt: number) => 'ok' | 'fail' | 'hang';

/** A backend receiving webhooks: verifies each with the SDK helper, dedupes by id, records. */
export class Receiver {
  /** Verified deliveries answered 2xx, first per id (what the backend acts on). */
  readonly events = new Map<string, WebhookDelivery<any>>();
  readonly attempts = new Map<string, number>();
  rejected = 0;
  #server: Server | undefined;
  #hanging = new Set<IncomingMessage>();
  url = '';

  constructor(
    readonly secrets: string[],
    public behaviour: Behaviour = () => 'ok',
  ) {}

  async start(port = 0): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let delivery: WebhookDelivery<any>;
        try {
          delivery = verifyWebhook(this.secrets, req.headers, Buffer.concat(chunks));
        } catch (err) {
          assert.ok(err instanceof WebhookVerificationError);
          this.rejected++;
          return res.writeHead(400).end();
        }
        const attempt = (this.attempts.get(delivery.id) ?? 0) + 1;
        this.attempts.set(delivery.id, attempt);
        const what = this.behaviour(delivery, attempt);
        if (what === 'hang') {
          this.#hanging.add(req);
          return;
        }
        if (what === 'fail') return res.writeHead(500).end();
        if (!this.events.has(delivery.id)) this.events.set(delivery.id, delivery);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.#server!.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks`;
  }

  ofType(type: string): WebhookDelivery<any>[] {
    return [...this.events.values()].filter((e) => e.type === type);
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
