import { css, html, LitElement, type PropertyValues, type TemplateResult } from 'lit';
import type { ConnectionState, InloopClient } from '@inloop/client';

/** What the element says, by what it shows. */
type Shown = 'none' | 'reconnecting' | 'offline' | 'back' | 'closed';

const TEXT: Record<Exclude<Shown, 'none'>, string> = {
  reconnecting: 'Reconnecting…',
  offline: 'Offline. Waiting for the network…',
  back: 'Back online',
  closed: 'Disconnected',
};

/**
 * `<inloop-connection>`: says when the connection is lost, and when it is back. Nothing shows
 * while connected, nor for a blip: "Reconnecting…" (or "Offline…" when the browser says so) only
 * once the connection has been gone for `grace` ms, then "Back online" for a moment when it
 * returns. A polite live region (`role="status"`), so screen readers hear it without being
 * interrupted. Give it the client:
 *
 * ```js
 * document.querySelector('inloop-connection').client = client;
 * ```
 *
 * The host carries `data-shown` (`none`, `reconnecting`, `offline`, `back`, `closed`) for styling.
 */
export class InloopConnection extends LitElement {
  static override properties = {
    client: { attribute: false },
    grace: { type: Number },
    shown: { state: true },
  };

  client: InloopClient | undefined;
  /** How long the connection must be gone before it is shown (a blip is not). @default 1000 */
  grace = 1000;
  /** How long "Back online" stays. @default 2000 */
  backMs = 2000;
  protected shown: Shown = 'none';
  #off: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  static override styles = css`
    :host {
      display: inline-block;
      font-size: 0.85rem;
    }
    span {
      display: inline-flex;
      align-items: center;
      gap: 0.35rem;
      padding: 0.15rem 0.55rem;
      border-radius: 999px;
      white-space: nowrap;
    }
    /* Empty, but never display: none: a live region that is not rendered is not announced. */
    span:empty {
      padding: 0;
    }
    span.reconnecting,
    span.offline,
    span.closed {
      background: #fff3bf;
      color: #5c3c00;
    }
    span.closed {
      background: #ffe3e3;
      color: #7d1a1a;
    }
    span.back {
      background: #d3f9d8;
      color: #1b4d24;
    }
  `;

  protected override updated(changed: PropertyValues<this>): void {
    if (!changed.has('client')) return;
    this.#off?.();
    this.#off = this.client?.on('state', (c) => this.#follow(c.to));
    if (this.client) this.#follow(this.client.state);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#off?.();
    this.#off = undefined;
    clearTimeout(this.#timer);
  }

  #follow(state: ConnectionState): void {
    const lost = state === 'reconnecting' || state === 'offline';
    if (state === 'closed') return this.#show(this.client?.error ? 'closed' : 'none');
    if (lost) {
      // Already showing the loss: say which kind at once. Otherwise wait out the grace.
      if (this.shown === 'reconnecting' || this.shown === 'offline') return this.#show(state);
      if (this.#timer !== undefined && this.shown !== 'back') return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        const now = this.client?.state;
        if (now === 'reconnecting' || now === 'offline') this.#show(now);
      }, this.grace);
      return;
    }
    if (state !== 'connected') return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.shown !== 'reconnecting' && this.shown !== 'offline') return this.#show('none');
    this.#show('back');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#show('none');
    }, this.backMs);
  }

  #show(shown: Shown): void {
    this.shown = shown;
    this.dataset.shown = shown;
  }

  protected override render(): TemplateResult {
    const text = this.shown === 'none' ? '' : TEXT[this.shown];
    // The live region is always there, so a change of its text is announced.
    return html`<span role="status" aria-live="polite" class=${this.shown} data-status=${this.shown}>${text}</span>`;
  }
}

if (!customElements.get('inloop-connection')) customElements.define('inloop-connection', InloopConnection);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-connection': InloopConnection;
  }
}
