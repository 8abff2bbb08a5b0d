import type { Broker, HistoryPage, StoredPublication } from '../ports/broker.js';

/** A page of history bounded in bytes as well as count, with the cursor to the next one. */
export interface BoundedPage extends HistoryPage {
  /** The offset to pass as `after` for the next page: the last one returned (or `after`). */
  next: number;
  /** Whether publications after `next` exist now: read again from `next` to get them. */
  more: boolean;
}

/** Reads per page at most: a page of 1,000 small publications is still a few queries. */
const FIRST_READ = 8;

/** The size a publication counts for: its data as JSON, plus a little for the envelope. */
export function publicationBytes(p: StoredPublication): number {
  return (JSON.stringify(p.data)?.length ?? 4) + p.from.length + 64;
}

/**
 * Read up to `limit` publications after `after`, stopping once they reach `maxBytes` (at least
 * one publication is always returned, however large). The history is read in short steps sized
 * from the publications already seen, so a request for 1,000 publications of 60 KB holds about
 * `maxBytes`, never 60 MB.
 */
export async function readBoundedPage(
  broker: Broker,
  topic: string,
  after: number,
  limit: number,
  maxBytes: number,
): Promise<BoundedPage> {
  const publications: StoredPublication[] = [];
  let bytes = 0;
  let cursor = after;
  let step = Math.min(limit, FIRST_READ);
  for (;;) {
    const page = await broker.history(topic, cursor, step);
    for (const p of page.publications) {
      const size = publicationBytes(p);
      if (publications.length > 0 && bytes + size > maxBytes) return done(page, true);
      publications.push(p);
      bytes += size;
      cursor = p.offset;
      if (publications.length >= limit) return done(page, cursor < page.latest);
    }
    if (page.publications.length < step || cursor >= page.latest) return done(page, false);
    const average = bytes / publications.length;
    step = Math.max(1, Math.min(limit - publications.length, Math.floor((maxBytes - bytes) / average) + 1));
  }

  function done(page: HistoryPage, more: boolean): BoundedPage {
    return { epoch: page.epoch, earliest: page.earliest, latest: page.latest, publications, next: cursor, more };
  }
}
