import { html, nothing } from 'lit';
import type { JobChange, JobList, JobListStatus, JobTypeInfo } from '@inloop/protocol';
import { api, follow } from '../api.js';
import { ms, pct, time } from '../format.js';
import { Page } from '../page.js';

const STATUSES: readonly JobListStatus[] = [
  'queued',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'cancelled',
  'stuck',
];
const LIMIT = 50;
/** Rows remembered from the feed, to keep a later row over an older read of the list. */
const REMEMBERED = 1000;

/** A row of the list: a job's summary, its promise unknown when first seen at its end. */
type Row = JobChange['job'];

/** Status words with the flags that qualify them. */
export function statusText(j: { status: string; retrying?: boolean; likelyStuck?: boolean }): string {
  if (j.retrying) return 'retrying';
  if (j.likelyStuck && j.status === 'running') return 'running, likely stuck';
  return j.status;
}

/** Whether a row belongs under a status filter, as `GET /v1/jobs?status=` reads it. */
function hasStatus(row: Row, status: string): boolean {
  if (status === 'retrying') return row.retrying;
  if (status === 'stuck') return row.status === 'running' && row.likelyStuck;
  return row.status === status;
}

/** A pause that an abort cuts short. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/**
 * `<ic-jobs>`: the newest jobs, filtered by type and status; older pages by cursor. The first
 * page is live: it follows every job's changes (`GET /v1/jobs/stream`, all nodes), so a new job
 * appears and a row moves as its events happen; the list is read again after each (re)connect of
 * that stream and every 30 s, only to reconcile (a change missed while the stream was down).
 */
class IcJobs extends Page {
  static override properties = {
    ...Page.properties,
    jobs: { state: true },
    types: { state: true },
    next: { state: true },
    older: { state: true },
    feed: { state: true },
  };
  jobs: Row[] = [];
  types: string[] = [];
  next: string | null = null;
  /** Cursors of the pages shown before this one (empty on the first, live page). */
  older: string[] = [];
  /** The stream of changes: being opened, connected, or down (being opened again after a pause). */
  feed: 'connecting' | 'live' | 'down' = 'connecting';
  #type = '';
  #status = '';
  #typesRead = false;
  protected override refreshMs = 30_000;
  #stream: AbortController | undefined;
  /** The latest row the stream told of each job (bounded), to keep a later row over an older read. */
  readonly #pushed = new Map<string, Row>();
  /** Per read of the list on its way, the changes that arrived meanwhile: applied again over what it returns. */
  readonly #during = new Set<JobChange[]>();
  /** Running times move on between changes: the rows are drawn again every second while one runs. */
  #clock: ReturnType<typeof setInterval> | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#follow();
    this.#clock = setInterval(() => {
      if (this.older.length === 0 && this.jobs.some((j) => j.status === 'running')) this.requestUpdate();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#stream?.abort();
    clearInterval(this.#clock);
  }

  /** Follow the stream of changes, reconnecting with a growing pause; each `ready` reads the list again. */
  async #follow(): Promise<void> {
    this.#stream?.abort();
    const stream = (this.#stream = new AbortController());
    for (let failures = 0; !stream.signal.aborted; failures++) {
      await follow(
        '/v1/jobs/stream',
        (type, data) => {
          if (type === 'ready') {
            failures = -1;
            this.feed = 'live';
            this.reload();
          } else if (type === 'job') this.#change(data as JobChange);
        },
        stream.signal,
      ).catch(() => {});
      if (stream.signal.aborted) return;
      this.feed = 'down';
      await pause(Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)), stream.signal);
    }
  }

  protected async refresh(): Promise<void> {
    if (!this.#typesRead) {
      const read = (await api<{ types: JobTypeInfo[] }>('/v1/job-types')).types.map((t) => t.type);
      this.types = [...new Set([...read, ...this.types])];
      this.#typesRead = true;
    }
    const q = new URLSearchParams({ limit: String(LIMIT) });
    if (this.#type) q.set('type', this.#type);
    if (this.#status) q.set('status', this.#status);
    const cursor = this.older.at(-1);
    if (cursor) q.set('cursor', cursor);
    const first = !cursor;
    const during: JobChange[] = [];
    this.#during.add(during);
    let page: JobList;
    try {
      page = await api<JobList>(`/v1/jobs?${q}`);
    } finally {
      this.#during.delete(during);
    }
    // A row the stream told of later than this read (the record is saved after its event) is kept.
    const rows = page.jobs.map((j): Row => {
      const pushed = this.#pushed.get(j.id);
      return pushed && pushed.offset > j.offset ? { ...pushed, promised: pushed.promised ?? j.promised } : j;
    });
    this.jobs = first ? rows.filter((r) => this.#matches(r)) : rows;
    this.next = page.next;
    if (first) for (const c of during) this.#change(c);
  }

  /** One job changed: update its row, add it (newest first) or drop it when it no longer matches the filters. */
  #change(c: JobChange): void {
    for (const d of this.#during) d.push(c);
    const shown = this.jobs.findIndex((j) => j.id === c.job.id);
    const before = shown >= 0 ? this.jobs[shown] : this.#pushed.get(c.job.id);
    if (before && before.offset >= c.job.offset) return;
    const row: Row = { ...c.job, promised: c.job.promised ?? before?.promised ?? null };
    this.#pushed.delete(row.id);
    this.#pushed.set(row.id, row);
    if (this.#pushed.size > REMEMBERED) this.#pushed.delete(this.#pushed.keys().next().value!);
    if (!this.types.includes(row.type)) this.types = [...this.types, row.type];
    // An older page does not move.
    if (this.older.length > 0) return;
    const matches = this.#matches(row);
    const jobs = [...this.jobs];
    if (shown >= 0) {
      if (matches) jobs[shown] = row;
      else jobs.splice(shown, 1);
    } else if (matches) {
      // Ids are in creation order: a job older than a full page's last row belongs to a later page.
      let at = jobs.findIndex((j) => j.id < row.id);
      if (at < 0) at = this.next === null && jobs.length < LIMIT ? jobs.length : -1;
      if (at < 0) return;
      jobs.splice(at, 0, row);
      if (jobs.length > LIMIT) {
        jobs.length = LIMIT;
        this.next = jobs.at(-1)!.id;
      }
    } else return;
    this.jobs = jobs;
  }

  #matches(row: Row): boolean {
    return (!this.#type || row.type === this.#type) && (!this.#status || hasStatus(row, this.#status));
  }

  #filter(e: Event): void {
    const form = (e.target as HTMLElement).closest('form')!;
    this.#type = (form.elements.namedItem('type') as HTMLSelectElement).value;
    this.#status = (form.elements.namedItem('status') as HTMLSelectElement).value;
    this.older = [];
    this.reload();
  }

  #hint() {
    if (this.older.length > 0) return 'An older page (not updated).';
    if (this.feed === 'live') return 'Newest first, updated as jobs change.';
    if (this.feed === 'connecting') return 'Newest first. Connecting to the node’s stream of job changes…';
    return 'Newest first. Not live: the stream of job changes was cut; reconnecting (the list is read again every 30 s).';
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
        <span class="hint" data-testid="jobs-live">${this.#hint()}</span>
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
                <td>${j.promised ? html`${ms(j.promised.p50Ms)} / ${ms(j.promised.p90Ms)}` : '–'}</td>
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
