import { css, html, LitElement, nothing, type TemplateResult } from 'lit';
import type { Json, JobSnapshot, WaitStrategy } from '@inloop/protocol';
import './job-progress.js';
import './waiting-game.js';

/** Instant jobs show nothing at all for this long: no spinner flash. */
const INSTANT_GRACE_MS = 1000;

/**
 * `<inloop-job-wait>`: waits for a job the way its suggested strategy says. `instant`: nothing
 * for the first second (no spinner flash), then progress if it is still going. `progress`: the
 * progress panel. `engage`: the progress panel as a status line on top, and the waiting game
 * below until the job ends. When it ends, a "Continue" button, there from the start in the same
 * place, lights up; it fires `continue`. Nothing jumps away from under the player's hand.
 *
 * ```js
 * const wait = document.createElement('inloop-job-wait');
 * wait.strategy = started.strategy; // from client.startJob()
 * const watch = await client.watchJob(started.id, { token: started.token });
 * wait.snapshot = watch.snapshot;
 * watch.on('update', (s) => (wait.snapshot = s));
 * wait.addEventListener('continue', () => showResult(watch.snapshot.result));
 * ```
 */
export class InloopJobWait extends LitElement {
  static override properties = {
    snapshot: { attribute: false },
    strategy: { type: String },
    label: { type: String },
    renderPartial: { attribute: false },
    _graceOver: { state: true },
  };

  /** The job's live snapshot (from `JobWatch.snapshot` or `useJob`); `null` or unset: nothing yet. */
  snapshot: JobSnapshot | null | undefined;
  /** The job's suggested strategy (from the 202 reply); the snapshot's wins once known. */
  strategy: WaitStrategy = 'progress';
  label = 'Working on it';
  renderPartial: ((partial: Json, index: number) => TemplateResult | string) | undefined;
  _graceOver = false;
  #grace: ReturnType<typeof setTimeout> | undefined;

  static override styles = css`
    :host {
      display: block;
    }
    .status {
      position: sticky;
      top: 0;
      z-index: 1;
      background: var(--inloop-surface, #fff);
      padding: 0.75rem 0;
      border-bottom: 1px solid var(--inloop-track, #e6e8ee);
    }
    .actions {
      display: flex;
      justify-content: center;
      margin: 0.75rem 0;
    }
    .continue {
      font: inherit;
      font-size: 1.1rem;
      padding: 0.6rem 2rem;
      border-radius: 0.6rem;
      border: 2px solid var(--inloop-track, #d0d4de);
      background: var(--inloop-track, #e6e8ee);
      color: var(--inloop-muted, #555);
    }
    .continue:not([disabled]) {
      background: var(--inloop-accent, #3b5bdb);
      border-color: var(--inloop-accent, #3b5bdb);
      color: #fff;
      cursor: pointer;
      box-shadow: 0 0 0 4px var(--inloop-accent-soft, #bac8ff);
    }
    .continue:focus-visible {
      outline: 3px solid var(--inloop-ok, #2b8a3e);
      outline-offset: 2px;
    }
    .game {
      margin-top: 1rem;
    }
  `;

  override connectedCallback(): void {
    super.connectedCallback();
    this.#grace = setTimeout(() => (this._graceOver = true), INSTANT_GRACE_MS);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#grace);
  }

  get #finished(): boolean {
    const status = this.snapshot?.status;
    return status === 'succeeded' || status === 'failed' || status === 'cancelled';
  }

  protected override render(): TemplateResult {
    const strategy = this.snapshot?.strategy ?? this.strategy;
    const finished = this.#finished;
    if (strategy === 'instant' && !this._graceOver && !finished) return html``;
    const progress = html`<inloop-job-progress
      .snapshot=${this.snapshot}
      .label=${this.label}
      .renderPartial=${this.renderPartial}
    ></inloop-job-progress>`;
    const button = html`<div class="actions">
      <button
        class="continue"
        ?disabled=${!finished}
        aria-disabled=${String(!finished)}
        @click=${() => this.dispatchEvent(new CustomEvent('continue', { bubbles: true, composed: true }))}
      >
        ${finished ? 'Continue' : 'Continue (when ready)'}
      </button>
    </div>`;
    if (strategy !== 'engage') return html`${progress}${finished ? button : nothing}`;
    return html`
      <div class="status">${progress}</div>
      ${button}
      <div class="game"><inloop-waiting-game></inloop-waiting-game></div>
    `;
  }
}

if (!customElements.get('inloop-job-wait')) customElements.define('inloop-job-wait', InloopJobWait);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-job-wait': InloopJobWait;
  }
}
