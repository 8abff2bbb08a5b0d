import { createHash } from 'node:crypto';
import {
  CONVERSATION_TOPIC_PREFIX,
  JOB_TOPIC_PREFIX,
  STREAM_TOPIC_PREFIX,
  TERMINAL_EVENTS,
  isReservedTopic,
  type JobEvent,
  type Json,
} from '@inloop/protocol';
import { isStored, type Publication } from '../../ports/broker.js';

/** Event types an endpoint may subscribe to. */
export const WebhookEventTypes = [
  'job.succeeded',
  'job.failed',
  'job.cancelled',
  'job.stuck',
  'conversation.message',
  'presence.occupied',
  'presence.vacant',
  'topic.publication',
] as const;
export type WebhookEventType = (typeof WebhookEventTypes)[number];

/** One event, before it is fanned out to the endpoints that want it. */
export interface WebhookEvent {
  /** Stable for the same happening (derived from the topic position), so retries and a re-enqueue after a crash carry it unchanged. */
  id: string;
  type: WebhookEventType;
  /** The topic it happened on (endpoints filter on it). */
  topic: string;
  /** When it happened (ms). */
  at: number;
  data: Json;
}

/** A short, stable event id: `evt_` and 22 characters of a hash of what identifies the event. */
export function eventId(...parts: (string | number)[]): string {
  return 'evt_' + createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22);
}

const MAX_STUCK_REMEMBERED = 10_000;

/**
 * Turns publications into webhook events: terminal job events, a job newly flagged likely stuck
 * (its ticks are ephemeral, so the first tick with the flag of an attempt counts), conversation
 * messages, and stored publications on other topics.
 */
export class PublicationEvents {
  // Jobs already reported stuck in their current attempt (a stuck job ticks every cadence).
  readonly #stuck = new Set<string>();

  of(p: Publication): WebhookEvent | null {
    // A stream's appends and end are signals, never events: a job's streams end with the job
    // (`job.*`), a message's when it is sent (`conversation.message`); one delivery per append
    // would cost a backend one request per token.
    if (p.topic.startsWith(STREAM_TOPIC_PREFIX)) return null;
    if (p.topic.startsWith(JOB_TOPIC_PREFIX)) return this.#job(p);
    if (!isStored(p)) return null;
    if (p.topic.startsWith(CONVERSATION_TOPIC_PREFIX)) {
      const body = p.data as Record<string, Json> | null;
      if (typeof body !== 'object' || body === null || typeof body.id !== 'string') return null;
      return {
        id: eventId(p.topic, p.epoch, p.offset),
        type: 'conversation.message',
        topic: p.topic,
        at: p.ts,
        data: {
          conversation: p.topic.slice(CONVERSATION_TOPIC_PREFIX.length),
          message: { ...body, epoch: p.epoch, offset: p.offset, from: p.from, ts: p.ts },
        },
      };
    }
    if (isReservedTopic(p.topic)) return null;
    return {
      id: eventId(p.topic, p.epoch, p.offset),
      type: 'topic.publication',
      topic: p.topic,
      at: p.ts,
      data: { topic: p.topic, epoch: p.epoch, offset: p.offset, from: p.from, ts: p.ts, data: p.data },
    };
  }

  #job(p: Publication): WebhookEvent | null {
    const event = p.data as unknown as JobEvent | null;
    if (typeof event !== 'object' || event === null || typeof event.job !== 'object') return null;
    const job = event.job;
    const attemptKey = `${job.id}:${job.attempt}`;
    if (TERMINAL_EVENTS.includes(event.type) && isStored(p)) {
      this.#stuck.delete(attemptKey);
      return {
        id: eventId(p.topic, p.epoch, p.offset),
        type: event.type as 'job.succeeded' | 'job.failed' | 'job.cancelled',
        topic: p.topic,
        at: p.ts,
        data: { job: job as unknown as Json },
      };
    }
    if (!job.flags?.likelyStuck) {
      this.#stuck.delete(attemptKey);
      return null;
    }
    if (this.#stuck.has(attemptKey)) return null;
    if (this.#stuck.size >= MAX_STUCK_REMEMBERED) this.#stuck.clear();
    this.#stuck.add(attemptKey);
    return {
      id: eventId('stuck', job.id, job.attempt),
      type: 'job.stuck',
      topic: p.topic,
      at: p.ts,
      data: { job: job as unknown as Json },
    };
  }
}
