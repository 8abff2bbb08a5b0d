import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import type { Json, JobSnapshot } from '@inloop/protocol';
import { FRAME_MS, ProgressClock, REDUCED_FRAME_MS } from './job-progress-clock.js';
import { jobProgressStyles } from './job-progress-styles.js';
import { Announcer, outcomeInWords, slowInWords } from './job-progress-words.js';
import { timeLeftInWords, type LocalView } from './local-progress.js';
import { lineInWords } from './words.js';

/**
 * `<inloop-job-progress>`: a job's stages, a progress bar, the ETA in words, "taking longer than
 * usual", partial results and the outcome. Measured progress (the worker reported it) is drawn
 * solid; estimated progress (from elapsed time and the learned ETA) is drawn striped and labelled
 * as an estimate, so nobody mistakes a guess for a measurement. Between the node's updates the
 * bar and the time left move on with the local clock (every 250 ms, every second with
 * `prefers-reduced-motion`) by the node's own rules (see {@link localView}), so they never run
 * ahead of its next update: an estimate at the rate the node's estimate moves, measured progress
 * no further than its next expected step. Measured progress is the truth: the bar moves to it when
 * it arrives, back if it must. Past the slow duration the bar creeps on below 100 % and the time
 * left says "taking longer than usual", and nothing else from then on. A polite live region reads
 * out stage changes, the outcome, and progress (the value the bar shows) at most every 15 s.
 *
 * `compact`: a status line of fixed height for the top of a page (label and time left, the bar,
 * one line for the stage, and partial results in a strip that scrolls sideways inside itself), so
 * nothing below it moves while the job runs.
 *
 * This file renders. The local clock between the node's updates is `job-progress-clock.ts` (its
 * maths, the node's rules, in `local-progress.ts`); the outcome, the warning and what the live
 * region reads out are in `job-progress-words.ts`; the looks are in `job-progress-styles.ts`.
 *
 * ```html
 * <inloop-job-progress></inloop-job-progress>
 * <script type="module">
 *   const el = document.querySelector('inloop-job-progress');
 *   const watch = await client.watchJob(job.id, { token: job.token });
 *   el.snapshot = watch.snapshot;
 *   watch.on('update', (s) => (el.snapshot = s));
 *   el.renderPartial = (p) => p.text; // optional: how to show each partial result
 * </script>
 * ```
 */
export class InloopJobProgress extends LitElement {
  static override properties = {
    snapshot: { attribute: false },
    renderPartial: { attribute: false },
    label: { type: String },
    compact: { type: Boolean, reflect: true },
    _announcement: { state: true },
    _frame: { state: true },
  };

  /** The job's live snapshot (from `JobWatch.snapshot` or `useJob`); `null` or unset: nothing to show yet. */
  snapshot: JobSnapshot | null | undefined;
  /** Render one partial result; by default partials are counted, not shown. */
  renderPartial: ((partial: Json, index: number) => TemplateResult | string) | undefined;
  /** What the job is, for people: "Writing your book". */
  label = 'Working on it';
  /** The fixed-height status-line form. @default false */
  compact = false;
  _announcement = '';
  _frame = 0;
  /** The local clock between the node's updates (job-progress-clock.ts). */
  readonly #clock = new ProgressClock();
  /** What the live region reads out (job-progress-words.ts). */
  readonly #announcer = new Announcer();
  #timer: ReturnType<typeof setInterval> | undefined;
  #partialsSeen = 0;
  #stages: string[] = [];

  static override styles = jobProgressStyles;

  override connectedCallback(): void {
    super.connectedCallback();
    const reduced = globalThis.matchMedia?.('(prefers-reduced-motion: reduce)').matches ?? false;
    this.#timer = setInterval(() => this.#onFrame(), reduced ? REDUCED_FRAME_MS : FRAME_MS);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.#timer);
  }

  /** Redraw with the local clock while the job is under way; nothing to do otherwise. */
  #onFrame(): void {
    const status = this.snapshot?.status;
    if (status === 'running' || status === 'queued') this._frame++;
  }

  protected override willUpdate(changed: PropertyValues): void {
    if (!changed.has('snapshot') || !this.snapshot) return;
    const s = this.snapshot;
    if (this.#clock.arrive(s)) this.#partialsSeen = 0;
    if (s.stage?.plan) this.#stages = [...s.stage.plan];
    else if (s.stage && !this.#stages.includes(s.stage.name)) this.#stages.push(s.stage.name);
    const text = this.#announcer.next(s, () => this.#clock.now(s));
    if (text !== undefined) this._announcement = text;
  }

  protected override updated(): void {
    // A new partial result: bring the end of the strip into view (scrolling is not a layout shift).
    const count = this.snapshot?.partials.length ?? 0;
    if (count > this.#partialsSeen) {
      this.#partialsSeen = count;
      const strip = this.renderRoot.querySelector<HTMLElement>('.strip');
      if (strip) strip.scrollLeft = strip.scrollWidth;
    }
  }

  protected override render(): TemplateResult {
    const s = this.snapshot;
    if (!s) return this.compact ? this.#renderCompactEmpty() : this.#renderEmpty();
    const finished = s.status === 'succeeded' || s.status === 'failed' || s.status === 'cancelled';
    // A failed or cancelled job keeps the bar where it stopped.
    const { fraction, view } = this.#clock.now(s);
    const pct = Math.floor(fraction * 100);
    // The bar's width to a hundredth of a percent, so an overrun visibly creeps on between whole percents.
    const width = `${(fraction * 100).toFixed(2)}%`;
    const measured = s.progress.measured || finished;
    const right = finished
      ? html`<span class="outcome ${s.status}" data-outcome=${s.status}>${outcomeInWords(s)}</span>`
      : s.status === 'queued'
        ? html`<span class="eta" data-line
            >${s.queue ? lineInWords(s.queue.position, s.queue.startsInMs, this.compact) : 'waiting for a worker…'}</span
          >`
        : html`<span class="eta" data-eta>${timeLeftInWords(view)}</span>`;
    const bar = html`<div
      class="bar"
      role="progressbar"
      aria-label=${this.label}
      aria-valuemin="0"
      aria-valuemax="100"
      aria-valuenow=${pct}
      aria-valuetext=${`${pct}%${measured ? '' : ' (estimated)'}`}
    >
      <div
        class="fill ${measured ? 'measured' : 'estimated'}"
        data-kind=${measured ? 'measured' : 'estimated'}
        style="width:${width}"
      ></div>
    </div>`;
    const slow = slowInWords(s, view, finished);
    // The right-hand words are a new node whenever they change: right-aligned text of a new
    // width would otherwise count as moved (a layout shift) every time the time left ticks.
    const head = html`<div class="head">
      <span class="label">${this.label}</span><span class="right">${keyed(this.#rightKey(s, view), right)}</span>
    </div>`;
    const live = html`<div class="sr" aria-live="polite" role="status">${this._announcement}</div>`;
    if (this.compact)
      return html`${head}${bar}${this.#renderDetail(s, pct, finished, slow)}${this.#renderStrip(s)}${live}`;
    const stageCount = s.stage?.count ?? 0;
    return html`
      ${head}${bar}
      <div class="kind">${pct}% ${measured ? '' : html`<span data-estimated>estimated from similar jobs</span>`}</div>
      ${
        this.#stages.length > 0
          ? html`<ol class="stages" aria-label="Stages">
              ${this.#stages.map((name, i) => {
                const state = this.#stageState(s, i, finished);
                return html`<li class=${state} data-stage=${name} data-state=${state}>${name}</li>`;
              })}
              ${
                stageCount > this.#stages.length
                  ? html`<li class="later">${stageCount - this.#stages.length} more</li>`
                  : nothing
              }
            </ol>`
          : nothing
      }
      <p class="note">
        ${
          slow
            ? html`<span class="slow" data-slow>${slow}</span>`
            : s.message && !finished
              ? html`<span class="message">${s.message}</span>`
              : nothing
        }
      </p>
      ${
        s.partials.length > 0
          ? this.renderPartial
            ? html`<div class="partials">${s.partials.map((p, i) => this.renderPartial!(p, i))}</div>`
            : html`<p class="kind">${s.partials.length} partial result${s.partials.length === 1 ? '' : 's'} so far</p>`
          : nothing
      }
      ${live}
    `;
  }

  #rightKey(s: JobSnapshot, view: LocalView): string {
    if (s.status !== 'running') return `${s.status}:${s.queue?.position ?? ''}:${s.queue?.startsInMs ?? ''}`;
    return timeLeftInWords(view);
  }

  #stageState(s: JobSnapshot, i: number, finished: boolean): 'done' | 'current' | 'later' {
    const at = s.stage ? this.#stages.indexOf(s.stage.name) : -1;
    return finished && s.status === 'succeeded' ? 'done' : i < at ? 'done' : i === at ? 'current' : 'later';
  }

  #renderEmpty(): TemplateResult {
    return html`<div class="head"><span class="label">${this.label}</span><span class="eta">starting…</span></div>`;
  }

  /** The compact form holds its full height from the first frame: the same lines, empty. */
  #renderCompactEmpty(): TemplateResult {
    return html`${this.#renderEmpty()}
      <div
        class="bar"
        role="progressbar"
        aria-label=${this.label}
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow="0"
      >
        <div class="fill" style="width:0%"></div>
      </div>
      <div class="detail">&nbsp;</div>
      <div class="strip"></div>`;
  }

  /** One line: the percentage, the stage ("2 of 3: Writing"), or "taking longer than usual". */
  #renderDetail(s: JobSnapshot, pct: number, finished: boolean, slow: string): TemplateResult {
    const stage =
      s.stage && !finished
        ? html` ·
            <span data-stage=${s.stage.name} data-state="current"
              >${s.stage.count ? `${s.stage.index + 1} of ${s.stage.count}: ` : ''}${s.stage.name}</span
            >`
        : nothing;
    return html`<div class="detail">
      <span class="pct">${pct}%</span>${stage}${slow ? html` · <span class="slow" data-slow>${slow}</span>` : nothing}${
        s.progress.measured || finished ? nothing : html` · <span data-estimated>estimated</span>`
      }
    </div>`;
  }

  /** Partial results side by side in a strip of fixed height that scrolls inside itself. */
  #renderStrip(s: JobSnapshot): TemplateResult {
    const items =
      s.partials.length === 0
        ? html`<span class="empty">${this.renderPartial ? 'Results appear here as they are ready.' : ''}</span>`
        : this.renderPartial
          ? s.partials.map((p, i) => this.renderPartial!(p, i))
          : html`<span class="empty"
              >${s.partials.length} partial result${s.partials.length === 1 ? '' : 's'} so far</span
            >`;
    return html`<div
      class="strip"
      role="region"
      aria-label="Results so far"
      tabindex="0"
      data-partials=${s.partials.length}
    >
      ${items}
    </div>`;
  }
}

if (!customElements.get('inloop-job-progress')) customElements.define('inloop-job-progress', InloopJobProgress);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-job-progress': InloopJobProgress;
  }
}
