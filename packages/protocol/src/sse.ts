/** One Server-Sent Event as dispatched (WHATWG HTML, "event stream interpretation"). */
export interface SseEvent {
  /** The `event:` field; `message` when the block had none. */
  event: string;
  /** The `data:` lines joined by `\n`. */
  data: string;
  /** The `id:` field, when the block had one. */
  id?: string;
}

/**
 * An incremental parser of `text/event-stream`: feed it text as it arrives, in chunks split
 * anywhere, and it returns the events completed so far. The one parser of the client SDK, the
 * server's tests and the benches, so all three read the stream as a browser's EventSource does:
 * CRLF, CR or LF line ends; comments (`:`) skipped; one leading space after the colon dropped;
 * a block without data dispatches nothing.
 *
 * @example
 * const parser = new SseParser();
 * for (const e of parser.feed('event: pub\ndata: {"n":1}\n\n')) handle(e.event, JSON.parse(e.data));
 */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  /** Parse `chunk` (text, decoded with `{ stream: true }`) and return the events it completed. */
  feed(chunk: string): SseEvent[] {
    const events: SseEvent[] = [];
    let text = this.#buffer + chunk;
    let start = 0;
    for (;;) {
      const lf = text.indexOf('\n', start);
      const cr = text.indexOf('\r', start);
      const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      if (end < 0) break;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (end === cr && end === text.length - 1) break;
      const line = text.slice(start, end);
      start = end + (end === cr && text[end + 1] === '\n' ? 2 : 1);
      if (line === '') {
        if (this.#data.length > 0) {
          const event: SseEvent = { event: this.#event || 'message', data: this.#data.join('\n') };
          if (this.#id !== undefined) event.id = this.#id;
          events.push(event);
        }
        this.#event = '';
        this.#data = [];
        this.#id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.#event = value;
      else if (field === 'data') this.#data.push(value);
      else if (field === 'id' && !value.includes('\0')) this.#id = value;
    }
    text = text.slice(start);
    this.#buffer = text;
    return events;
  }
}
