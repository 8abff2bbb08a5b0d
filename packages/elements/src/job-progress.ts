import { css, html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import type { Json, JobSnapshot } from '@inloop/protocol';
import { localView, timeLeftInWords, uneased, type LocalView, type ProgressHints } from './local-progress.js';
import { durationInWords, lineInWords } from './words.js';

/** How often, at most, progress is read out to screen readers (stage changes and the end always are). */
const ANNOUNCE_EVERY_MS = 15_000;
/** How often the bar and the time left move between the node's updates (every second with reduced motion). */
const FRAME_MS = 250;
const REDUCED_FRAME_MS = 1000;

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
  /** When the current snapshot arrived (performance.now()), for the local clock. */
  #arrivedAt = 0;
  /** The estimated fraction last drawn, so a late or rounded estimate never moves the bar backwards. */
  #shown = 0;
  /** What the node's updates said so far: the rate of its estimate, the size of its measured steps. */
  #hints: ProgressHints = {};
  #previous: { fraction: number; elapsedMs: number; measured: boolean; stage: string | undefined } | null = null;
  #shownJob: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #partialsSeen = 0;
  #stages: string[] = [];
  #lastAnnounced = 0;
  #lastStage: string | undefined;
  #lastStatus: string | undefined;

  static override styles = css`
    :host {
      display: block;
      font: inherit;
      color: inherit;
    }
    .head {
      display: flex;
      justify-content: space-between;
      gap: 1rem;
      align-items: baseline;
      flex-wrap: wrap;
    }
    .label {
      font-weight: 600;
    }
    .right {
      flex: 1 1 0;
      min-width: max-content;
      text-align: right;
    }
    .eta {
      color: var(--inloop-muted, #555);
      font-variant-numeric: tabular-nums;
    }
    .bar {
      position: relative;
      height: 0.75rem;
      border-radius: 0.375rem;
      background: var(--inloop-track, #e6e8ee);
      overflow: hidden;
      margin: 0.5rem 0;
    }
    .fill {
      position: absolute;
      inset: 0 auto 0 0;
      border-radius: inherit;
      background: var(--inloop-accent, #3b5bdb);
      transition: width 0.4s ease;
    }
    .fill.estimated {
      background: repeating-linear-gradient(
        -45deg,
        var(--inloop-accent, #3b5bdb) 0 8px,
        var(--inloop-accent-soft, #748ffc) 8px 16px
      );
      opacity: 0.8;
    }
    .kind {
      font-size: 0.8em;
      color: var(--inloop-muted, #555);
    }
    ol.stages {
      list-style: none;
      padding: 0;
      margin: 0.5rem 0;
      display: flex;
      flex-wrap: wrap;
      gap: 0.25rem 1rem;
    }
    .stages li::before {
      content: '○ ';
    }
    .stages li.done::before {
      content: '✓ ';
    }
    .stages li.current {
      font-weight: 600;
    }
    .stages li.later {
      color: var(--inloop-muted, #555);
    }
    .stages li.current::before {
      content: '● ';
      color: var(--inloop-accent, #3b5bdb);
    }
    .slow {
      color: var(--inloop-warn, #a61e4d);
    }
    .message {
      margin: 0.25rem 0;
    }
    .outcome.succeeded {
      color: var(--inloop-ok, #2b7a3b);
    }
    .note {
      min-height: 1.45em;
      margin: 0.25rem 0;
    }
    :host([compact]) .head {
      flex-wrap: nowrap;
      white-space: nowrap;
    }
    :host([compact]) .label {
      overflow: hidden;
      text-overflow: ellipsis;
      min-width: 0;
    }
    :host([compact]) .bar {
      margin: 0.35rem 0;
    }
    .detail {
      height: 1.45em;
      overflow: hidden;
      white-space: nowrap;
      text-overflow: ellipsis;
      font-size: 0.9em;
      color: var(--inloop-muted, #555);
    }
    /* As wide as "99%" (a hidden copy below it sets the width) with the number at its end, so the
       words after it never move while the job runs and no gap opens after "19%" (4.5ch left "7%    ·"). */
    .detail .pct {
      display: inline-flex;
      flex-direction: column;
      align-items: flex-end;
      font-variant-numeric: tabular-nums;
    }
    .detail .pct::after {
      content: '99%' / '';
      visibility: hidden;
      height: 0;
      overflow: hidden;
    }
    .detail .slow {
      font-weight: 600;
    }
    .strip {
      display: flex;
      gap: 0.4rem;
      align-items: flex-start;
      height: var(--inloop-strip-height, 5.25rem);
      overflow-x: auto;
      overflow-y: hidden;
      margin-top: 0.35rem;
      overscroll-behavior-x: contain;
    }
    .strip > * {
      flex: none;
    }
    .strip .empty {
      align-self: center;
      color: var(--inloop-muted, #555);
      font-size: 0.9em;
    }
    .outcome.failed,
    .outcome.cancelled {
      color: var(--inloop-warn, #a61e4d);
    }
    .sr {
      position: absolute;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip: rect(0 0 0 0);
      white-space: nowrap;
    }
    @media (prefers-reduced-motion: reduce) {
      .fill {
        transition: none;
      }
    }
    .stages li.done::before {
      color: var(--inloop-ok, #2b7a3b);
    }
  `;

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
    this.#arrivedAt = performance.now();
    if (s.id !== this.#shownJob) {
      this.#shownJob = s.id;
      this.#shown = 0;
      this.#partialsSeen = 0;
      this.#hints = {};
      this.#previous = null;
    }
    this.#learn(s);
    if (s.stage?.plan) this.#stages = [...s.stage.plan];
    else if (s.stage && !this.#stages.includes(s.stage.name)) this.#stages.push(s.stage.name);
    this.#announce(s);
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

  /**
   * From two updates in a row: how fast the node's estimate moves (same stage, both estimated),
   * and how big a step measured progress takes (the bar may move on that far before the next).
   */
  #learn(s: JobSnapshot): void {
    if (s.status !== 'running') return;
    const now = {
      fraction: s.progress.fraction,
      elapsedMs: s.elapsedMs,
      measured: s.progress.measured,
      stage: s.stage?.name,
    };
    const p = this.#previous;
    if (p && p.measured === now.measured && now.elapsedMs > p.elapsedMs) {
      if (!now.measured && p.stage === now.stage && now.fraction >= p.fraction)
        this.#hints.estimatedRatePerMs = (uneased(now.fraction) - uneased(p.fraction)) / (now.elapsedMs - p.elapsedMs);
      if (now.measured && now.fraction > p.fraction) this.#hints.measuredStep = now.fraction - p.fraction;
    }
    if (now.measured && (!p?.measured || now.fraction !== p.fraction))
      this.#hints.measuredSinceElapsedMs = now.elapsedMs;
    if (!now.measured) this.#hints.measuredStep = null;
    if (now.measured || p?.stage !== now.stage) this.#hints.estimatedRatePerMs = null;
    this.#previous = now;
  }

  /**
   * What the bar shows now, and the view it comes from. Measured progress is the truth (the bar
   * goes to it, back if it must); an estimate never moves the bar backwards while the job runs.
   */
  #current(s: JobSnapshot): { fraction: number; view: LocalView } {
    const view = localView(s, performance.now() - this.#arrivedAt, this.#hints);
    if (s.status === 'succeeded') return { fraction: 1, view };
    if (s.status !== 'running') return { fraction: view.fraction, view };
    this.#shown = s.progress.measured ? view.fraction : Math.max(this.#shown, view.fraction);
    return { fraction: this.#shown, view };
  }

  /** What a screen reader hears: stage changes and the end at once, progress now and then. */
  #announce(s: JobSnapshot): void {
    const now = Date.now();
    let text: string | undefined;
    if (
      s.status !== this.#lastStatus &&
      (s.status === 'succeeded' || s.status === 'failed' || s.status === 'cancelled')
    ) {
      text = this.#outcome(s);
    } else if (s.stage?.name !== undefined && s.stage.name !== this.#lastStage) {
      text = `${s.stage.name}`;
    } else if (now - this.#lastAnnounced >= ANNOUNCE_EVERY_MS && s.status === 'running') {
      // The value the bar shows, and the words beside it.
      const { fraction, view } = this.#current(s);
      text = `${Math.floor(fraction * 100)} percent, ${timeLeftInWords(view)}`;
    }
    this.#lastStatus = s.status;
    this.#lastStage = s.stage?.name;
    if (text !== undefined) {
      this.#lastAnnounced = now;
      this._announcement = text;
    }
  }

  #outcome(s: JobSnapshot): string {
    // Done in the time the person waited: since the job was created, its wait in line included.
    if (s.status === 'succeeded') return `Done in ${durationInWords((s.finishedAt ?? s.createdAt) - s.createdAt)}`;
    if (s.status === 'cancelled') return 'Cancelled';
    return `Failed: ${s.error?.message ?? 'something went wrong'}`;
  }

  protected override render(): TemplateResult {
    const s = this.snapshot;
    if (!s) return this.compact ? this.#renderCompactEmpty() : this.#renderEmpty();
    const finished = s.status === 'succeeded' || s.status === 'failed' || s.status === 'cancelled';
    // A failed or cancelled job keeps the bar where it stopped.
    const { fraction, view } = this.#current(s);
    const pct = Math.floor(fraction * 100);
    // The bar's width to a hundredth of a percent, so an overrun visibly creeps on between whole percents.
    const width = `${(fraction * 100).toFixed(2)}%`;
    const measured = s.progress.measured || finished;
    const right = finished
      ? html`<span class="outcome ${s.status}" data-outcome=${s.status}>${this.#outcome(s)}</span>`
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
    const slow = s.flags.likelyStuck
      ? 'This is taking much longer than it should.'
      : view.overdue && !finished
        ? 'Taking longer than usual.'
        : '';
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
