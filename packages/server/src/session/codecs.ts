import { formatEventId, type PublicationMessage, type ServerMessage, type StreamServerMessage } from '@inloop/protocol';
import { isStored, type Publication } from '../ports/broker.js';
import type { PublicationCodec } from '../domain/outlet.js';

const NEWLINE = Buffer.from('\n');

/** The wire form of a publication (protocol `pub`). */
export function publicationMessage(p: Publication): PublicationMessage {
  return isStored(p)
    ? { type: 'pub', topic: p.topic, epoch: p.epoch, offset: p.offset, data: p.data, from: p.from, ts: p.ts }
    : {
        type: 'pub',
        topic: p.topic,
        data: p.data,
        from: p.from,
        ts: p.ts,
        ephemeral: true,
        ...(p.kind === undefined ? {} : { kind: p.kind }),
      };
}

/** WebSocket: one JSON line per publication, lines joined by `\n` into one frame. */
export const wsCodec: PublicationCodec = {
  encode(publications) {
    if (publications.length === 1) return Buffer.from(JSON.stringify(publicationMessage(publications[0]!)));
    return Buffer.from(publications.map((p) => JSON.stringify(publicationMessage(p))).join('\n'));
  },
  message: (message) => encodeWs(message),
};

/** Join queued WebSocket chunks into one frame payload. */
export function joinLines(chunks: readonly Buffer[]): Buffer {
  if (chunks.length === 1) return chunks[0]!;
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(c, NEWLINE);
  parts.pop();
  return Buffer.concat(parts);
}

/** Encode one control message for a WebSocket. */
export function encodeWs(message: ServerMessage | StreamServerMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/** One SSE event. `data` must not contain newlines (JSON never does). */
export function sseEvent(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * SSE: one `pub` event per publication; stored ones carry `id: epoch:offset` so the browser's
 * `Last-Event-ID` resumes exactly. Ephemeral ones carry no id and so do not move it. Signals go
 * out under their kind (`event: typing.start`), so a plain `pub` listener never mistakes them.
 */
export const sseCodec: PublicationCodec = {
  encode(publications) {
    let out = '';
    for (const p of publications)
      out += sseEvent(
        isStored(p) ? 'pub' : (p.kind ?? 'pub'),
        publicationMessage(p),
        isStored(p) ? formatEventId(p) : undefined,
      );
    return Buffer.from(out);
  },
  message: (message) => Buffer.from(sseEvent(message.type, message)),
};

/**
 * SSE for job streams: each job event under its own event name (`job.progress`, ...), its data
 * the job event itself; stored ones carry `id: epoch:offset`, ticks none.
 */
export const jobSseCodec: PublicationCodec = {
  encode(publications) {
    let out = '';
    for (const p of publications) {
      const event = (p.data as { type?: unknown } | null)?.type;
      out += sseEvent(typeof event === 'string' ? event : 'pub', p.data, isStored(p) ? formatEventId(p) : undefined);
    }
    return Buffer.from(out);
  },
  message: (message) => Buffer.from(sseEvent(message.type, message)),
};
