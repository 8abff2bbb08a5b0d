import { css, html, LitElement, type TemplateResult } from 'lit';
import type { MessageStatus } from '@inloop/client';

const LABEL = { sent: 'Sent', delivered: 'Delivered', read: 'Read' } as const;

/**
 * `<inloop-receipt>`: a message's ticks. One tick: sent (stored). Two: delivered to every
 * recipient's device. Two coloured: read by every recipient. Hover or focus it for each
 * recipient's state; in groups it also says how many have read it.
 *
 * ```js
 * tick.status = chat.statusOf(message);
 * tick.names = { bob: 'Bob' };
 * chat.on('receipt', () => (tick.status = chat.statusOf(message)));
 * ```
 */
export class InloopReceipt extends LitElement {
  static override properties = { status: { attribute: false }, names: { attribute: false } };

  status: MessageStatus | undefined;
  names: Record<string, string> = {};

  static override styles = css`
    :host {
      display: inline-block;
      position: relative;
      font-size: 0.85em;
      color: var(--inloop-muted, #868e96);
    }
    .ticks {
      cursor: default;
      letter-spacing: -0.3em;
      padding-right: 0.3em;
    }
    .ticks.read {
      color: var(--inloop-accent, #1c7ed6);
    }
    .ticks:focus-visible {
      outline: 2px solid var(--inloop-accent, #3b5bdb);
      border-radius: 0.2rem;
    }
    .detail {
      display: none;
      position: absolute;
      right: 0;
      bottom: 1.6em;
      background: #212529;
      color: #fff;
      padding: 0.4rem 0.6rem;
      border-radius: 0.4rem;
      white-space: nowrap;
      z-index: 2;
      font-size: 0.9em;
      text-align: left;
      letter-spacing: normal;
    }
    :host(:hover) .detail,
    .ticks:focus + .detail {
      display: block;
    }
    .detail ul {
      margin: 0;
      padding: 0;
      list-style: none;
    }
  `;

  protected override render(): TemplateResult {
    const s = this.status;
    if (!s) return html``;
    const ticks = s.state === 'sent' ? '✓' : '✓✓';
    const summary =
      s.counts.recipients > 1
        ? `${LABEL[s.state]}: read by ${s.counts.read} of ${s.counts.recipients}, delivered to ${s.counts.delivered}`
        : LABEL[s.state];
    return html`<span class="ticks ${s.state}" tabindex="0" role="img" aria-label=${summary} data-state=${s.state}
        >${ticks}</span
      >
      <div class="detail" role="tooltip">
        <ul>
          ${s.recipients.map((r) => html`<li>${this.names[r.member] ?? r.member}: ${LABEL[r.state].toLowerCase()}</li>`)}
        </ul>
      </div>`;
  }
}

if (!customElements.get('inloop-receipt')) customElements.define('inloop-receipt', InloopReceipt);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-receipt': InloopReceipt;
  }
}
