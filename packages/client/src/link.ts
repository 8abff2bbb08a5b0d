import type { ClientMessage, ServerMessage } from '@inloop/protocol';
import type { Subscription } from './subscription.js';

/** A client message without its request id (the link assigns one). */
export type Request = ClientMessage extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

/**
 * What the presence, typing and conversation helpers need from the client: requests over its
 * connection, shared topic subscriptions, and a hook for every (re)connect. Keeps them out of the
 * client's internals and the client's file small.
 */
export interface ClientLink {
  /**
   * Send a request; resolves with the reply. With `resend`, the request survives a reconnect
   * (sent again: it must be idempotent); otherwise it fails when the connection drops.
   */
  request<T extends ServerMessage = ServerMessage>(
    frame: Request,
    options?: { resend?: boolean; timeoutMs?: number },
  ): Promise<T>;
  /** The connection's subject (its member id), once connected. */
  subject(): string | undefined;
  /** A subscription to `topic` shared by every helper (and the app); release it when done. */
  share(topic: string, since?: { epoch: string; offset: number }): Subscription;
  release(sub: Subscription): void;
  /** Run `fn` on every connect, including the current one if connected; returns an unhook. */
  onConnected(fn: () => void): () => void;
  /** Run `fn` whenever a live connection is lost (not on failed attempts); returns an unhook. */
  onDisconnected(fn: () => void): () => void;
  /** Whether the connection is live now. */
  connected(): boolean;
  /** Authorized HTTP call against the node. */
  http<T>(method: string, path: string, body?: unknown): Promise<T>;
}
