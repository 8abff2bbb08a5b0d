import { html, nothing } from 'lit';
import { api } from '../api.js';
import { ms, pct, time } from '../format.js';
import { Page } from '../page.js';
import type { JobSummary, TypeInfo } from '../types.js';

const STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'stuck'];

/** Status words with the flags that qualify them. */
export function statusText(j: { status: string; retrying?: boolean; likelyStuck?: boolean }): string {
  if (j.retrying) return 'retrying';
  if (j.likelyStuck && j.status === 'running') return 'running, likely stuck';
  return j.status;
}

/**
 * `<ic-jobs>`: the newest jobs, filtered by type and status, read again every second while
 * shown (so running jobs move and new ones appear); older pages by cursor.
 */
class IcJobs extends Page {
  static override properties = {
    ...Page.properties,
    jobs: { state: true },
    types: { state: true },
    next: { state: true },
    older: { state: true },
  };
  jobs: JobSummary[] = [];
  types: string[] = [];
  next: string | null = null;
  /** Cursors of the pages shown before this one (empty on the first, live page). */
  older: string[] = [];
  #type = '';
  #status = '';
  protected override refreshMs = 1000;

  protected async refresh(): Promise<void> {
    if (this.types.length === 0)
      this.types = (await api<{ types: TypeInfo[] }>('/v1/job-types')).types.map((t) => t.type);
    const q = new URLSearchParams({ limit: '50' });
    if (this.#type) q.set('type', this.#type);
    if (this.#status) q.set('status', this.#status);
    const cursor = this.older.at(-1);
    if (cursor) q.set('cursor', cursor);
    const page = await api<{ jobs: JobSummary[]; next: string | null }>(`/v1/jobs?${q}`);
    this.jobs = page.jobs;
    this.next = page.next;
  }

  #filter(e: Event): void {
    const form = (e.target as HTMLElement).closest('form')!;
    this.#type = (form.elements.namedItem('type') as HTMLSelectElement).value;
    this.#status = (form.elements.namedItem('status') as HTMLSelectElement).value;
    this.older = [];
    this.reload();
  }

  protected override render() {
    const live = this.older.length === 0;
    return html`<h1 tabindex="-1">Jobs</h1>
      <form class="filters" @change=${(e: Event) => this.#filter(e)} @submit=${(e: Event) => e.preventDefault()}>
        <label
          >Type
          <select name="type">
            <option value="">any</option>
            ${this.types.map((t) => html`<option>${t}</option>`)}
          </select>
        </label>
        <label
          >Status
          <select name="status">
            <option value="">any</option>
            ${STATUSES.map((s) => html`<option>${s}</option>`)}
          </select>
        </label>
        <span class="hint">${live ? 'Newest first, updated every second.' : 'An older page (not updated).'}</span>
      </form>
      ${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : nothing}
      <table class="jobs">
        <caption class="visually-hidden">
          Jobs, newest first
        </caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Stage</th>
            <th scope="col">Progress</th>
            <th scope="col">Created</th>
            <th scope="col">Run time</th>
            <th scope="col">Promised p50 / p90</th>
          </tr>
        </thead>
        <tbody>
          ${this.jobs.map(
            (j) =>
              html`<tr data-job=${j.id} data-status=${statusText(j)}>
                <td><a href="#/jobs/${j.id}">${j.id}</a></td>
                <td>${j.type}</td>
                <td>
                  <span class="status ${j.status} ${j.likelyStuck ? 'stuck' : ''}">${statusText(j)}</span
                  >${j.attempt > 1 ? html` <small>attempt ${j.attempt}/${j.maxAttempts}</small>` : nothing}
                </td>
                <td>${j.stage ?? '–'}</td>
                <td>${pct(j.progress)}</td>
                <td>${time(j.createdAt)}</td>
                <td>${ms(j.runMs ?? (j.startedAt && !j.finishedAt ? Date.now() - j.startedAt : null))}</td>
                <td>${ms(j.promised.p50Ms)} / ${ms(j.promised.p90Ms)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${this.jobs.length === 0 ? html`<p>No jobs match.</p>` : nothing}
      <p class="pager">
        ${
          live
            ? nothing
            : html`<button
                @click=${() => {
                  this.older = this.older.slice(0, -1);
                  this.reload();
                }}
              >
                Newer
              </button>`
        }
        ${
          this.next
            ? html`<button
                @click=${() => {
                  this.older = [...this.older, this.next!];
                  this.reload();
                }}
              >
                Older
              </button>`
            : nothing
        }
      </p>`;
  }

  protected override refreshAllowed(): boolean {
    return this.older.length === 0;
  }
}
customElements.define('ic-jobs', IcJobs);
