import { css, html, LitElement, type TemplateResult } from 'lit';

/**
 * `<inloop-silence-meter>`: the longest the user has waited without a sign of life, so the
 * cadence guarantee is visible. Call `waiting()` when something starts that the user waits for,
 * `beat()` on every update they can see, and `idle()` when nothing is pending.
 *
 * ```js
 * meter.waiting();
 * watch.on('update', () => meter.beat());
 * await watch.done; meter.idle();
 * ```
 */
export class InloopSilenceMeter extends LitElement {
  static override properties = { _longest: { state: true }, _current: { state: true } };

  _longest = 0;
  _current = 0;
  #since: number | null = null;
  #pending = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  static override styles = css`
    :host {
      display: inline-block;
      font-size: 0.85em;
      color: var(--inloop-muted, #555);
      font-variant-numeric: tabular-nums;
    }
    b {
      color: var(--inloop-text, #222);
    }
    .now.idle {
      visibility: hidden;
    }
    /* A phone's header has one line: the words are for screen readers there, the figures stay. */
    @media (max-width: 30rem) {
      .words {
        position: absolute;
        width: 1px;
        height: 1px;
        overflow: hidden;
        clip: rect(0 0 0 0);
        white-space: nowrap;
      }
    }
  `;

  /** The longest silence so far, ms. */
  get longestMs(): number {
    return this._longest;
  }

  /** Something the user waits for began (nest freely: one `idle()` per `waiting()`). */
  waiting(): void {
    this.#pending++;
    if (this.#since === null) this.#since = performance.now();
    this.#timer ??= setInterval(() => this.#measure(), 200);
  }

  /** The user saw an update. */
  beat(): void {
    this.#measure();
    if (this.#since !== null) this.#since = performance.now();
    this._current = 0;
  }

  /** What the user waited for is over. */
  idle(): void {
    this.#measure();
    this.#pending = Math.max(0, this.#pending - 1);
    if (this.#pending > 0) return;
    this.#since = null;
    this._current = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.#timer);
  }

  #measure(): void {
    if (this.#since === null) return;
    this._current = performance.now() - this.#since;
    if (this._current > this._longest) this._longest = this._current;
  }

  protected override render(): TemplateResult {
    const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    return html`<span title="The longest you have waited without an update on this page"
      ><span class="words">Longest silence: </span
      ><b data-longest-ms=${Math.round(this._longest)}>${fmt(this._longest)}</b
      ><span class="now ${this.#since === null ? 'idle' : ''}" aria-hidden=${this.#since === null ? 'true' : 'false'}>
        · now ${fmt(this._current)}</span
      ></span
    >`;
  }
}

if (!customElements.get('inloop-silence-meter')) customElements.define('inloop-silence-meter', InloopSilenceMeter);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-silence-meter': InloopSilenceMeter;
  }
}
