import { css, html, LitElement, nothing, type TemplateResult } from 'lit';
import type { Occupancy, PresenceMember } from '@inloop/protocol';

// Each at least 4.5:1 against the white initials on it (WCAG AA for small text).
const COLORS = ['#3b5bdb', '#2b7a3b', '#c2410c', '#ae3ec9', '#0b7285', '#c2255c', '#4c7a0b', '#1864ab'];

/** The colour of every face while the view may be out of date (7:1 against the white initials). */
const STALE = '#495057';

function colorOf(id: string): string {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) | 0;
  return COLORS[Math.abs(h) % COLORS.length]!;
}

function nameOf(m: PresenceMember): string {
  const meta = m.meta as { name?: unknown } | null;
  return typeof meta?.name === 'string' ? meta.name : m.id;
}

function statusOf(m: PresenceMember): string {
  const meta = m.meta as { status?: unknown } | null;
  return typeof meta?.status === 'string' ? meta.status : 'online';
}

/**
 * `<inloop-presence>`: who is here, as a stack of avatars with an online dot, and how many.
 * Avatars come from `meta.avatar` (a URL) or are initials; `meta.status` `away` dims the dot.
 *
 * ```js
 * const el = document.querySelector('inloop-presence');
 * here.on('change', (members, occupancy) => { el.members = [...members.values()]; el.occupancy = occupancy; });
 * ```
 */
export class InloopPresence extends LitElement {
  static override properties = {
    members: { attribute: false },
    occupancy: { attribute: false },
    max: { type: Number },
    stale: { type: Boolean, reflect: true },
  };

  members: readonly PresenceMember[] = [];
  occupancy: Occupancy | undefined;
  /** Avatars shown before "+N". @default 5 */
  max = 5;
  /**
   * The view may be out of date (`PresenceChannel.stale`: our connection is lost): members are
   * shown greyed, without the online dot, and the count says "last seen here". @default false
   */
  stale = false;

  static override styles = css`
    :host {
      display: inline-flex;
      align-items: center;
      gap: 0.6rem;
    }
    ul {
      display: flex;
      list-style: none;
      margin: 0;
      padding: 0 0 0 0.4rem;
    }
    li {
      position: relative;
      width: 2rem;
      height: 2rem;
      margin-left: -0.4rem;
      border-radius: 50%;
      border: 2px solid var(--inloop-surface, #fff);
      color: #fff;
      font-size: 0.8rem;
      font-weight: 600;
      display: grid;
      place-items: center;
    }
    li img {
      width: 100%;
      height: 100%;
      border-radius: 50%;
      object-fit: cover;
    }
    li::after {
      content: '';
      position: absolute;
      right: -2px;
      bottom: -2px;
      width: 0.6rem;
      height: 0.6rem;
      border-radius: 50%;
      background: var(--inloop-ok, #2b8a3e);
      border: 2px solid var(--inloop-surface, #fff);
    }
    li.away::after {
      background: #adb5bd;
    }
    /* Stale: the last known faces in dark grey (white initials keep 7:1) behind a dashed ring, never faded. */
    :host([stale]) li {
      border-style: dashed;
      border-color: var(--inloop-muted, #555);
    }
    :host([stale]) li::after {
      display: none;
    }
    li.more {
      background: var(--inloop-track, #ced4da);
      color: #333;
    }
    li.more::after {
      display: none;
    }
    .count {
      color: var(--inloop-muted, #555);
      font-size: 0.9em;
    }
  `;

  protected override render(): TemplateResult {
    const shown = this.members.slice(0, this.max);
    const more = this.members.length - shown.length;
    const occ = this.occupancy ?? { members: this.members.length, connections: this.members.length };
    return html`
      <ul aria-label="Who is here">
        ${shown.map((m) => {
          const name = nameOf(m);
          const avatar = (m.meta as { avatar?: unknown } | null)?.avatar;
          const status = this.stale ? 'unknown' : statusOf(m);
          return html`<li
            class=${status}
            style="background:${this.stale ? STALE : colorOf(m.id)}"
            title="${name} (${status}${m.connections > 1 ? `, ${m.connections} devices` : ''})"
            data-member=${m.id}
          >
            ${
              typeof avatar === 'string'
                ? html`<img src=${avatar} alt=${name} />`
                : html`<span aria-label=${name}>${name.slice(0, 2).toUpperCase()}</span>`
            }
          </li>`;
        })}
        ${more > 0 ? html`<li class="more" title="${more} more">+${more}</li>` : nothing}
      </ul>
      ${
        this.stale
          ? html`<span class="count" data-occupancy="unknown">${occ.members} here when last connected</span>`
          : html`<span class="count" data-occupancy=${occ.members}
              >${occ.members} here${occ.connections > occ.members ? ` (${occ.connections} connections)` : ''}</span
            >`
      }
    `;
  }
}

if (!customElements.get('inloop-presence')) customElements.define('inloop-presence', InloopPresence);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-presence': InloopPresence;
  }
}
