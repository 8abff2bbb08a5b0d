import type { ErrorCode, ServerMessage, StreamServerMessage } from '@inloop/protocol';
import type { Publication } from '../ports/broker.js';

/**
 * Turns publications into a transport's bytes. The hub asks each codec once per batch of
 * publications and hands the same buffer to every connection of that transport: serialization
 * is per publication, never per subscriber.
 */
export interface PublicationCodec {
  encode(publications: readonly Publication[]): Buffer;
  /** A control message the hub fans out like publications (a presence diff, a stream's text), in this encoding. */
  message(message: ServerMessage | StreamServerMessage): Buffer;
}

/** What a subscriber learns when its subscription is in sync (see protocol `subscribed`). */
export interface SubscribedInfo {
  id: number | undefined;
  topic: string;
  epoch: string;
  offset: number;
  recovered: boolean;
  replayed: number;
}

/**
 * A connection as the hub sees it: somewhere to push encoded publications. Implemented by the
 * connection core (`session/connection.ts`), whatever the transport; the hub never touches sockets.
 */
export interface Outlet {
  readonly codec: PublicationCodec;
  /**
   * Queue encoded bytes; written at the end of the tick, coalesced with everything else queued.
   * `publications` are the ones the bytes encode, for outlets that act on content (a job's SSE
   * stream ends after its terminal event).
   */
  push(chunk: Buffer, publications?: readonly Publication[]): void;
  /** The subscription is in sync: report it before any replayed publication is pushed. */
  subscribed(info: SubscribedInfo): void;
  /** Whether the connection is gone (subscriptions in progress stop quietly). */
  readonly closed: boolean;
  /** More than half the outbound bound is pending: stop pushing replay until {@link drain}. */
  readonly congested: boolean;
  /** Write what is queued and resolve once the connection is no longer congested (or closed). */
  drain(): Promise<void>;
  /**
   * The member whose rights the subscription to `topic` rests on (its token's subject), or null
   * when no member's rights can be withdrawn from it (an API key).
   */
  subjectFor(topic: string): string | null;
  /**
   * The node ended the subscription to `topic` (the hub has already let go of it): forget it and
   * tell the client why (`forbidden`: access withdrawn; `token_expired`).
   */
  revoked(topic: string, code: ErrorCode): void;
}
