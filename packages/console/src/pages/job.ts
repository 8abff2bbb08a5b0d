import { html, nothing, type PropertyValues } from 'lit';
import type { JobTimeline } from '@inloop/protocol';
import { api, ApiError, follow } from '../api.js';
import { ms, pct, time } from '../format.js';
import { Page } from '../page.js';
import { statusText } from './jobs.js';

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * `<ic-job>`: one job's page. Follows the event stream of the job it shows (with the key in a
 * header; a new `jobId`, as after Retry, closes the old stream and opens the new one) and reads
 * the timeline again as events arrive; Cancel and Retry call the public APIs, one request at a
 * time, and say in the page when the node refuses.
 */
class IcJob extends Page {
  static override properties = {
    ...Page.properties,
    jobId: { attribute: false },
    t: { state: true },
    note: { state: true },
    refusal: { state: true },
    busy: { state: true },
  };
  jobId = '';
  t: JobTimeline | null = null;
  note = '';
  refusal = '';
  busy = false;
  #stream: AbortController | undefined;
  #pending: ReturnType<typeof setTimeout> | undefined;
  /** Sent with Retry: pressing it again for the same job (a double click, a resend) starts one job. */
  #retryKey = '';
  // The stream drives updates; the timer only catches what a dropped stream missed.
  protected override refreshMs = 5000;

  override connectedCallback(): void {
    super.connectedCallback();
    this.#follow();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    // The same element shows the next job when the route moves from one job to another.
    if (changed.has('jobId') && changed.get('jobId') !== undefined && this.isConnected) {
      this.t = null;
      this.note = '';
      this.refusal = '';
      this.error = '';
      this.#retryKey = '';
      clearTimeout(this.#pending);
      this.#pending = undefined;
      this.#follow();
      this.reload();
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#stream?.abort();
    clearTimeout(this.#pending);
  }

  #follow(): void {
    this.#stream?.abort();
    const stream = (this.#stream = new AbortController());
    void follow(
      `/v1/jobs/${encodeURIComponent(this.jobId)}/stream`,
      (type) => {
        if (type === 'job.tick') return;
        // Bursts of events become one read.
        this.#pending ??= setTimeout(() => {
          this.#pending = undefined;
          this.reload();
        }, 100);
      },
      stream.signal,
    ).catch(() => {});
  }

  protected async refresh(): Promise<void> {
    const id = this.jobId;
    const t = await api<JobTimeline>(`/v1/jobs/${encodeURIComponent(id)}/timeline`);
    // A read of the job shown before is dropped.
    if (id === this.jobId) this.t = t;
  }

  /** One action at a time: its refusal goes in an alert that takes focus (its button may be gone). */
  async #act(what: string, action: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.refusal = '';
    try {
      await action();
    } catch (err) {
      const why = err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
      this.note = '';
      this.refusal = `${what} refused: ${why}`;
      this.reload();
      await this.updateComplete;
      this.querySelector<HTMLElement>('[data-testid="job-refusal"]')?.focus();
    } finally {
      this.busy = false;
    }
  }

  #cancel(): Promise<void> {
    return this.#act('Cancel', async () => {
      await api(`/v1/jobs/${encodeURIComponent(this.jobId)}/cancel`, { method: 'POST' });
      this.note = 'Cancellation requested.';
      this.reload();
      await this.updateComplete;
      this.querySelector<HTMLElement>('main h1')?.focus();
    });
  }

  #retry(): Promise<void> {
    return this.#act('Retry', async () => {
      this.#retryKey ||= `console-retry-${this.jobId}-${crypto.randomUUID()}`;
      const created = await api<{ id: string }>(`/v1/jobs/${encodeURIComponent(this.jobId)}/retry`, {
        method: 'POST',
        headers: { 'idempotency-key': this.#retryKey },
      });
      location.hash = `#/jobs/${created.id}`;
    });
  }

  // One template around every state: the heading stays the same element (and keeps focus).
  protected override render() {
    return html`<h1 tabindex="-1">Job ${this.jobId}</h1>
      ${this.#content()}`;
  }

  #content() {
    const t = this.t;
    if (!t)
      return html`${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : html`<p>Loading…</p>`}`;
    const j = t.job;
    const ended = ENDED.has(j.status);
    return html` <p class="actions">
        <button @click=${() => void this.#cancel()} ?disabled=${this.busy || ended || j.cancelRequested}>Cancel</button>
        <button @click=${() => void this.#retry()} ?disabled=${this.busy || !ended}>Retry</button>
        <a href="#/jobs">All jobs</a>
      </p>
      <p role="status" class="note">${this.note}</p>
      ${
        this.refusal
          ? html`<p class="refusal" role="alert" tabindex="-1" data-testid="job-refusal">${this.refusal}</p>`
          : nothing
      }
      ${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : nothing}
      <div class="cards">
        <dl>
          <dt>Status</dt>
          <dd>
            <span class="status ${j.status}" data-testid="job-status"
              >${statusText({ status: j.status, likelyStuck: j.flags.likelyStuck })}</span
            >
          </dd>
          <dt>Type</dt>
          <dd><a href="#/types/${encodeURIComponent(j.type)}">${j.type}</a></dd>
          <dt>Attempt</dt>
          <dd>${j.attempt} of ${j.maxAttempts}</dd>
          <dt>Stage</dt>
          <dd>${j.stage?.name ?? '–'}</dd>
          <dt>Progress</dt>
          <dd>
            <progress max="1" .value=${j.progress.fraction} aria-label="Progress"></progress>
            ${pct(j.progress.fraction)} ${j.progress.measured ? '(measured)' : '(estimated from time)'}
          </dd>
        </dl>
        <dl>
          <dt>Created</dt>
          <dd>${time(j.createdAt)}</dd>
          <dt>Started</dt>
          <dd>${time(j.startedAt)}</dd>
          <dt>Ended</dt>
          <dd>${time(j.finishedAt)}</dd>
          <dt>ETA told with the 202 (p50 / p90)</dt>
          <dd>${ms(t.eta.promisedP50Ms)} / ${ms(t.eta.promisedP90Ms)}</dd>
          <dt>Actual</dt>
          <dd data-testid="job-actual">
            ${t.eta.actualMs === null ? `${ms(j.elapsedMs)} so far` : ms(t.eta.actualMs)}
          </dd>
        </dl>
      </div>
      ${j.error ? html`<p class="refusal">Error: ${j.error.code}: ${j.error.message}</p>` : nothing}
      ${j.message ? html`<p>Message: ${j.message}</p>` : nothing}
      <h2>Timeline</h2>
      ${t.truncated ? html`<p class="hint">History no longer holds every event of this job.</p>` : nothing}
      <table class="timeline">
        <caption class="visually-hidden">
          Events of the job, oldest first
        </caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Stage</th>
            <th scope="col">Progress</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          ${t.events.map(
            (e) =>
              html`<tr>
                <td>${e.offset}</td>
                <td>${time(e.at)} <small>+${ms(e.at - j.createdAt)}</small></td>
                <td>${e.type}</td>
                <td>${e.stage ?? '–'}</td>
                <td>${pct(e.progress)}</td>
                <td>
                  ${e.partial !== undefined ? html`<code>${JSON.stringify(e.partial).slice(0, 120)}</code>` : nothing}
                  ${e.retry ? `retry in ${ms(e.retry.inMs)}: ${e.retry.reason}` : nothing}
                  ${e.error && !e.retry ? `${e.error.code}: ${e.error.message}` : nothing}
                  ${e.type === 'job.message' && e.message ? e.message : nothing}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Attempts</h2>
      ${
        t.attempts.length === 0
          ? html`<p>Not started yet.</p>`
          : html`<table>
              <caption class="visually-hidden">
                Attempts
              </caption>
              <thead>
                <tr>
                  <th scope="col">Attempt</th>
                  <th scope="col">Started</th>
                  <th scope="col">Ran</th>
                  <th scope="col">Ended by</th>
                </tr>
              </thead>
              <tbody>
                ${t.attempts.map(
                  (a) =>
                    html`<tr>
                      <td>${a.attempt}</td>
                      <td>${time(a.startedAt)}</td>
                      <td>${ms(a.endedAt && a.startedAt ? a.endedAt - a.startedAt : null)}</td>
                      <td>${a.error ?? (a.endedAt ? 'end' : 'running')}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      ${
        j.partials.length > 0
          ? html`<h2>Partial results</h2>
              <ol class="partials">
                ${j.partials.map((p) => html`<li><code>${JSON.stringify(p).slice(0, 300)}</code></li>`)}
              </ol>`
          : nothing
      }
      ${
        j.result !== undefined
          ? html`<h2>Result</h2>
              <pre>${JSON.stringify(j.result, null, 2).slice(0, 4000)}</pre>`
          : nothing
      }`;
  }
}
customElements.define('ic-job', IcJob);
