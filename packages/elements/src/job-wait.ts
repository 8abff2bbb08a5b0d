import { css, html, LitElement, type TemplateResult } from 'lit';
import type { Json, JobSnapshot, WaitStrategy } from '@inloop/protocol';
import './job-progress.js';
import './waiting-game.js';

/** Instant jobs show nothing at all for this long: no spinner flash. */
const INSTANT_GRACE_MS = 1000;

/**
 * `<inloop-job-wait>`: waits for a job the way its suggested strategy says. `instant`: nothing
 * for the first second (no spinner flash), then progress if it is still going. `progress`: the
 * progress panel. `engage`: the compact status line (fixed height; partial results scroll
 * sideways inside it) and Continue, kept in view together at the top, and the waiting game below.
 * Continue is there from the start, disabled, in the place and at the size it keeps; it lights up
 * when the job ends and fires `continue`. Nothing jumps away from under the player's hand.
 * `focus()` puts the keyboard on the game's first answer (or on Continue once the job has ended).
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
    /* The status line and Continue stay in view together; both keep their size for the whole job. */
    .dock {
      position: sticky;
      top: 0;
      z-index: 1;
      background: var(--inloop-surface, #fff);
      padding: 0.5rem 0 0;
      border-bottom: 1px solid var(--inloop-track, #e6e8ee);
    }
    .actions {
      display: flex;
      justify-content: center;
      margin: 0.6rem 0;
    }
    .continue {
      font: inherit;
      font-size: 1.1rem;
      box-sizing: border-box;
      width: min(100%, 16rem);
      height: 3rem;
      padding: 0 1rem;
      border-radius: 0.6rem;
      border: 2px solid var(--inloop-track, #d0d4de);
      background: var(--inloop-track, #e6e8ee);
      color: var(--inloop-muted, #555);
      white-space: nowrap;
    }
    .continue:not([disabled]) {
      background: var(--inloop-accent, #3b5bdb);
      border-color: var(--inloop-accent, #3b5bdb);
      color: #fff;
      cursor: pointer;
      box-shadow: 0 0 0 4px var(--inloop-accent-soft, #bac8ff);
    }
    /* A job that failed or was stopped: the way back, not a success's call to action. */
    .continue.ended:not([disabled]) {
      background: var(--inloop-surface, #fff);
      border-color: var(--inloop-accent, #3b5bdb);
      color: var(--inloop-accent, #3b5bdb);
      box-shadow: none;
    }
    .continue:focus-visible {
      outline: 3px solid var(--inloop-ok, #2b7a3b);
      outline-offset: 2px;
    }
    .game {
      margin-top: 0.75rem;
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

  /**
   * Keyboard focus where the person's next move is: the game's first answer while it plays, else
   * Continue once the job has ended (call it after starting the job, so focus is not lost).
   */
  override focus(options?: FocusOptions): void {
    void this.updateComplete.then(async () => {
      const game = this.renderRoot.querySelector('inloop-waiting-game');
      if (game && !this.#finished) {
        await game.updateComplete;
        game.focus(options);
        return;
      }
      const button = this.renderRoot.querySelector<HTMLButtonElement>('button.continue');
      if (button && !button.disabled) button.focus(options);
    });
  }

  get #finished(): boolean {
    const status = this.snapshot?.status;
    return status === 'succeeded' || status === 'failed' || status === 'cancelled';
  }

  protected override render(): TemplateResult {
    const strategy = this.snapshot?.strategy ?? this.strategy;
    const finished = this.#finished;
    if (strategy === 'instant' && !this._graceOver && !finished) return html``;
    const engage = strategy === 'engage';
    const progress = html`<inloop-job-progress
      ?compact=${engage}
      .snapshot=${this.snapshot}
      .label=${this.label}
      .renderPartial=${this.renderPartial}
    ></inloop-job-progress>`;
    // The same button from the start, the same size lit or not: only its colour and words change.
    const button = html`<div class="actions">
      <button
        class="continue ${finished && this.snapshot?.status !== 'succeeded' ? 'ended' : ''}"
        ?disabled=${!finished}
        aria-disabled=${String(!finished)}
        @click=${() => this.dispatchEvent(new CustomEvent('continue', { bubbles: true, composed: true }))}
      >
        ${finished ? (this.snapshot?.status === 'succeeded' ? 'Continue' : 'Back') : 'Continue (when ready)'}
      </button>
    </div>`;
    if (!engage) return html`${progress}${button}`;
    return html`
      <div class="dock">${progress}${button}</div>
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
