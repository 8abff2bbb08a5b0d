import { css, html, LitElement, type TemplateResult } from 'lit';
import { typingInWords } from './words.js';

/**
 * `<inloop-typing>`: "Ana is typing…". Give it who is typing (member ids, from
 * `TypingChannel.typers`) and, optionally, how to name them.
 *
 * ```js
 * const el = document.querySelector('inloop-typing');
 * el.names = { ana: 'Ana', eliza: 'Eliza' };
 * chat.typing.on('change', (who) => (el.typers = who));
 * ```
 */
export class InloopTyping extends LitElement {
  static override properties = { typers: { attribute: false }, names: { attribute: false } };

  typers: readonly string[] = [];
  names: Record<string, string> = {};

  static override styles = css`
    :host {
      display: block;
      min-height: 1.4em;
      color: var(--inloop-muted, #555);
      font-style: italic;
    }
    .dots span {
      animation: blink 1.2s infinite;
    }
    .dots span:nth-child(2) {
      animation-delay: 0.2s;
    }
    .dots span:nth-child(3) {
      animation-delay: 0.4s;
    }
    @keyframes blink {
      50% {
        opacity: 0.2;
      }
    }
    @media (prefers-reduced-motion: reduce) {
      .dots span {
        animation: none;
      }
    }
  `;

  protected override render(): TemplateResult {
    const text = typingInWords(this.typers.map((id) => this.names[id] ?? id));
    return html`<span aria-live="polite" data-typing=${this.typers.join(',')}>${text}</span>`;
  }
}

if (!customElements.get('inloop-typing')) customElements.define('inloop-typing', InloopTyping);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-typing': InloopTyping;
  }
}
