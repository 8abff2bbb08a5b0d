import { css, html, LitElement, type PropertyValues, type TemplateResult } from 'lit';

/** How a stream ended, or `streaming` while it grows (the wire's end reasons plus the live state). */
export type StreamTextStatus = 'streaming' | 'finished' | 'stopped' | 'failed';

/**
 * A sentence ends at `.`, `!`, `?` or `…` (with any closing quote or bracket) before a space, or at
 * a line break. Text after the last end waits until the next one, or until the stream ends.
 */
const SENTENCE_END = /[.!?…]+["”’)\]]*\s+|\n+/g;

const ENDED_IN_WORDS: Record<Exclude<StreamTextStatus, 'streaming'>, string> = {
  finished: '',
  stopped: 'Stopped.',
  failed: 'The text was cut short.',
};

/**
 * `<inloop-stream-text>`: a text that grows while it is generated (a model's answer, a story
 * page, a transcript), for people who read it and people who listen to it.
 *
 * - Appends without re-rendering: new text is added to one text node (`appendData`), so a long
 *   answer costs the same per delta as a short one, the selection stays put and nothing flickers.
 * - A polite live region, separate from the visible text, announces whole sentences, at most one
 *   announcement every `announceMs` (sentences that end meanwhile are read together), and the
 *   rest when the stream ends, with "Stopped." when it was stopped: a screen reader hears
 *   sentences, not tokens.
 * - No layout jumps: `reserve` keeps room for that many lines from the start, the caret takes no
 *   room in the line, and the text wraps long words instead of widening the page. Appending moves
 *   nothing already laid out (no layout shift, in Chromium's sense): one text run that only
 *   grows, an inline caret, nothing after it in the flow. To keep the newest words in view in a
 *   box of fixed height, make that box the scroll container and set its `scrollTop`; scrolling is
 *   not a layout shift, while pushing the text up by layout (`justify-content: flex-end`,
 *   `flex-direction: column-reverse`) shifts every line at each new one.
 * - With `prefers-reduced-motion: reduce` the caret does not blink.
 *
 * Give it the whole text so far (`text`; a text that extends the previous one is appended, any
 * other replaces it) or the deltas (`appendText(delta)`), and `status` when it ends:
 *
 * ```js
 * const el = document.querySelector('inloop-stream-text');
 * for await (const { delta } of watch.stream('answer')) el.appendText(delta);
 * el.status = 'finished';
 * ```
 */
export class InloopStreamText extends LitElement {
  static override properties = {
    text: { attribute: false },
    status: { reflect: true },
    label: {},
    reserve: { type: Number },
    announceMs: { type: Number, attribute: 'announce-ms' },
  };

  /** What is read out before the first sentence, and names the region ("Pip's answer"). */
  label = '';
  /** Lines of room to keep from the start, so the page below does not move while it fills. @default 0 */
  reserve = 0;
  /** The shortest gap between two announcements. @default 2000 */
  announceMs = 2000;
  status: StreamTextStatus = 'streaming';

  #text = '';
  /** The visible text: one node, grown in place. */
  #node: Text | null = null;
  /** How much of the text has been given to the live region. */
  #announced = 0;
  #announceTimer: ReturnType<typeof setTimeout> | undefined;
  #lastAnnouncedAt = -Infinity;

  static override styles = css`
    /* The host keeps white-space: normal, so the template's own line breaks stay out of the layout:
       preserved there, the whitespace after the caret was a text run that followed the newest word,
       and Chromium counted every word as a layout shift of that run, over the whole line's width. */
    :host {
      display: block;
      position: relative;
      overflow-wrap: anywhere;
      min-height: calc(var(--inloop-stream-reserve, 0) * 1lh);
    }
    .text {
      white-space: pre-wrap;
    }
    /* An empty inline box drawn by its border: it takes no room in the line, and unlike an
       inline-block (a box of its own) its moves along the line are not layout shifts. */
    .caret {
      border-inline-start: 0.5ch solid currentColor;
      margin-inline-end: -0.5ch;
      opacity: 0.6;
      animation: blink 1s steps(1) infinite;
    }
    :host(:not([status='streaming'])) .caret {
      visibility: hidden;
    }
    .ended {
      color: var(--inloop-muted, #555);
      font-style: italic;
    }
    /* Pinned to the host's corner rather than left at its static place after the last line. */
    .announcer {
      position: absolute;
      top: 0;
      left: 0;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip-path: inset(50%);
      white-space: nowrap;
    }
    @keyframes blink {
      50% {
        opacity: 0;
      }
    }
    @media (prefers-reduced-motion: reduce) {
      .caret {
        animation: none;
      }
    }
  `;

  /** The whole text so far. */
  get text(): string {
    return this.#text;
  }

  set text(value: string) {
    const old = this.#text;
    if (value === old) return;
    // The SDK only ever extends a text (or starts over after a reset); checking the seam rather
    // than the whole prefix keeps a long stream linear.
    const seam = Math.max(0, old.length - 64);
    if (value.length > old.length && value.slice(seam, old.length) === old.slice(seam)) {
      this.appendText(value.slice(old.length));
      return;
    }
    this.#text = value;
    this.#announced = 0;
    if (this.#node) this.#node.data = value;
    this.#scheduleAnnouncement();
    this.requestUpdate('text', old);
  }

  /** Add text at the end, without touching what is already shown. */
  appendText(delta: string): void {
    if (!delta) return;
    this.#text += delta;
    this.#node?.appendData(delta);
    this.#scheduleAnnouncement();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#announceTimer);
    this.#announceTimer = undefined;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('reserve')) this.style.setProperty('--inloop-stream-reserve', String(this.reserve));
  }

  protected override render(): TemplateResult {
    const ended = this.status === 'streaming' ? '' : ENDED_IN_WORDS[this.status];
    // No whitespace between the parts (see the note on :host in the styles), hence no prettier.
    // prettier-ignore
    return html`<span class="text" part="text" aria-busy=${this.status === 'streaming' ? 'true' : 'false'}></span
      ><span class="caret" aria-hidden="true"></span
      >${ended ? html` <span class="ended">${ended}</span>` : ''}<div
        class="announcer"
        role="status"
        aria-live="polite"
        aria-label=${this.label || 'Generated text'}
      ></div>`;
  }

  protected override firstUpdated(): void {
    this.#node = document.createTextNode(this.#text);
    this.renderRoot.querySelector('.text')!.append(this.#node);
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('status') && this.status !== 'streaming') {
      clearTimeout(this.#announceTimer);
      this.#announceTimer = undefined;
      this.#announce(true);
    }
  }

  /** Announce now if the last announcement is old enough, else once it is. */
  #scheduleAnnouncement(): void {
    if (this.#announceTimer !== undefined) return;
    const wait = this.#lastAnnouncedAt + this.announceMs - performance.now();
    if (wait <= 0) this.#announce(false);
    else
      this.#announceTimer = setTimeout(() => {
        this.#announceTimer = undefined;
        this.#announce(false);
      }, wait);
  }

  /** Read out every whole sentence not read yet (everything, when the stream has ended). */
  #announce(final: boolean): void {
    const region = this.renderRoot.querySelector<HTMLElement>('.announcer');
    if (!region) return;
    let upTo = this.#announced;
    if (final) upTo = this.#text.length;
    else {
      SENTENCE_END.lastIndex = this.#announced;
      for (let m = SENTENCE_END.exec(this.#text); m; m = SENTENCE_END.exec(this.#text)) {
        upTo = m.index + m[0].length;
      }
    }
    let words = this.#text.slice(this.#announced, upTo).trim();
    if (final && this.status !== 'streaming') words = `${words} ${ENDED_IN_WORDS[this.status]}`.trim();
    if (!words) return;
    this.#announced = upTo;
    this.#lastAnnouncedAt = performance.now();
    // Replacing the region's text makes a polite live region read the new text once.
    region.textContent = words;
  }
}

if (!customElements.get('inloop-stream-text')) customElements.define('inloop-stream-text', InloopStreamText);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-stream-text': InloopStreamText;
  }
}
