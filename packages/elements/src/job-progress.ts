import { css, html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import type { Json, JobSnapshot } from '@inloop/protocol';
import { durationInWords, etaInWords, lineInWords } from './words.js';

/** How often, at most, progress is read out to screen readers (stage changes and the end always are). */
const ANNOUNCE_EVERY_MS = 15_000;

/**
 * `<inloop-job-progress>`: a job's stages, a progress bar, the ETA in words, "taking longer than
 * usual", partial results and the outcome. Measured progress (the worker reported it) is drawn
 * solid; estimated progress (from elapsed time and the learned ETA) is drawn striped and labelled
 * as an estimate, so nobody mistakes a guess for a measurement. A polite live region reads out
 * stage changes, the outcome, and progress at most every 15 s.
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
    _announcement: { state: true },
  };

  /** The job's live snapshot (from `JobWatch.snapshot` or `useJob`); `null` or unset: nothing to show yet. */
  snapshot: JobSnapshot | null | undefined;
  /** Render one partial result; by default partials are counted, not shown. */
  renderPartial: ((partial: Json, index: number) => TemplateResult | string) | undefined;
  /** What the job is, for people: "Writing your book". */
  label = 'Working on it';
  _announcement = '';
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
      color: var(--inloop-ok, #2b8a3e);
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
      color: var(--inloop-ok, #2b8a3e);
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
  `;

  protected override willUpdate(changed: PropertyValues): void {
    if (!changed.has('snapshot') || !this.snapshot) return;
    const s = this.snapshot;
    if (s.stage?.plan) this.#stages = [...s.stage.plan];
    else if (s.stage && !this.#stages.includes(s.stage.name)) this.#stages.push(s.stage.name);
    this.#announce(s);
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
      text = `${Math.floor(s.progress.fraction * 100)} percent${s.eta ? `, ${etaInWords(s.eta.remainingMs)}` : ''}`;
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
    if (!s)
      return html`<div class="head"><span class="label">${this.label}</span><span class="eta">starting…</span></div>`;
    const finished = s.status === 'succeeded' || s.status === 'failed' || s.status === 'cancelled';
    const pct = finished && s.status === 'succeeded' ? 100 : Math.floor(s.progress.fraction * 100);
    const right = finished
      ? html`<span class="outcome ${s.status}" data-outcome=${s.status}>${this.#outcome(s)}</span>`
      : s.status === 'queued'
        ? html`<span class="eta" data-line
            >${s.queue ? lineInWords(s.queue.position, s.queue.startsInMs) : 'waiting for a worker…'}</span
          >`
        : html`<span class="eta" data-eta>${s.eta ? etaInWords(s.eta.remainingMs) : 'estimating…'}</span>`;
    const stageCount = s.stage?.count ?? 0;
    return html`
      <div class="head"><span class="label">${this.label}</span>${right}</div>
      <div
        class="bar"
        role="progressbar"
        aria-label=${this.label}
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow=${pct}
        aria-valuetext=${`${pct}%${s.progress.measured ? '' : ' (estimated)'}`}
      >
        <div
          class="fill ${s.progress.measured || finished ? 'measured' : 'estimated'}"
          data-kind=${s.progress.measured || finished ? 'measured' : 'estimated'}
          style="width:${pct}%"
        ></div>
      </div>
      <div class="kind">
        ${pct}%
        ${finished ? '' : s.progress.measured ? '' : html`<span data-estimated>estimated from similar jobs</span>`}
      </div>
      ${
        this.#stages.length > 0
          ? html`<ol class="stages" aria-label="Stages">
              ${this.#stages.map((name, i) => {
                const at = s.stage ? this.#stages.indexOf(s.stage.name) : -1;
                const state =
                  finished && s.status === 'succeeded' ? 'done' : i < at ? 'done' : i === at ? 'current' : 'later';
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
      ${
        s.flags.likelyStuck
          ? html`<p class="slow" data-slow>This is taking much longer than it should.</p>`
          : s.flags.slowerThanUsual
            ? html`<p class="slow" data-slow>Taking longer than usual.</p>`
            : nothing
      }
      ${s.message && !finished ? html`<p class="message">${s.message}</p>` : nothing}
      ${
        s.partials.length > 0
          ? this.renderPartial
            ? html`<div class="partials">${s.partials.map((p, i) => this.renderPartial!(p, i))}</div>`
            : html`<p class="kind">${s.partials.length} partial result${s.partials.length === 1 ? '' : 's'} so far</p>`
          : nothing
      }
      <div class="sr" aria-live="polite" role="status">${this._announcement}</div>
    `;
  }
}

if (!customElements.get('inloop-job-progress')) customElements.define('inloop-job-progress', InloopJobProgress);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-job-progress': InloopJobProgress;
  }
}
