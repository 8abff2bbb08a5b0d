import { html, nothing } from 'lit';
import type { JobTypeInfo, JobTypeStats } from '@inloop/protocol';
import { api } from '../api.js';
import { count, ms, pct } from '../format.js';
import { Page } from '../page.js';

/**
 * `<ic-types>`: every job type with its learned p50/p90 and calibration; for the selected one,
 * the durations histogram with p50/p90 marked, throughput and failures, the line, the wait in
 * line, and how the promised ETAs held.
 */
class IcTypes extends Page {
  static override properties = {
    ...Page.properties,
    selected: { attribute: false },
    types: { state: true },
    stats: { state: true },
  };
  selected = '';
  types: JobTypeInfo[] = [];
  stats: JobTypeStats | null = null;
  protected override refreshMs = 5000;

  protected async refresh(): Promise<void> {
    this.types = (await api<{ types: JobTypeInfo[] }>('/v1/job-types')).types;
    const type = this.selected || this.types[0]?.type;
    this.stats = type ? await api<JobTypeStats>(`/v1/job-types/${encodeURIComponent(type)}/stats`) : null;
  }

  protected override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('selected') && changed.get('selected') !== undefined) this.reload();
  }

  protected override render() {
    const s = this.stats;
    return html`<h1 tabindex="-1">Job types</h1>
      ${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : nothing}
      <table>
        <caption class="visually-hidden">
          Job types
        </caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">p50</th>
            <th scope="col">p90</th>
            <th scope="col">Runs learned</th>
            <th scope="col">Within p90</th>
            <th scope="col">p50 error</th>
            <th scope="col">Queued</th>
            <th scope="col">Running</th>
          </tr>
        </thead>
        <tbody>
          ${this.types.map(
            (t) =>
              html`<tr>
                <td>
                  <a href="#/types/${encodeURIComponent(t.type)}" aria-current=${s?.type === t.type ? 'true' : 'false'}
                    >${t.type}</a
                  >
                </td>
                <td>${ms(t.estimate.p50Ms)}</td>
                <td>${ms(t.estimate.p90Ms)}</td>
                <td>${t.estimate.samples}</td>
                <td>${pct(t.calibration.p90Coverage)}</td>
                <td>${pct(t.calibration.medianAbsP50Error)}</td>
                <td>${t.line.queued}</td>
                <td>${t.line.running}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${s ? this.#charts(s) : nothing}`;
  }

  #charts(s: JobTypeStats) {
    const bins = s.durations.counts.map((_, i) => ((i + 0.5) * s.durations.binMs) / 1000);
    const times = s.series.map((p) => p.at / 1000);
    const recent = s.recent.filter((r) => r.runMs !== null);
    // The nodes sample every 5 s: a point counts the jobs of one interval.
    const step = times.length > 1 ? times[1]! - times[0]! : 5;
    const every = step >= 60 ? `${Math.round(step / 60)} min` : `${Math.round(step)} s`;
    return html`<h2 id="type-charts">${s.type}</h2>
      <p data-testid="type-calibration">
        Learned from ${count(s.estimate.samples, 'run')} (${s.estimate.source}).
        ${
          s.calibration.runs === 0
            ? 'No run checked against its promise on this node yet.'
            : `${count(s.calibration.runs, 'run')} checked on this node: ${pct(s.calibration.p90Coverage)} ended within their promised p90 (target 90 %), median p50 error ${pct(s.calibration.medianAbsP50Error)}.`
        }
      </p>
      <div class="grid">
        <ic-chart
          id="durations"
          label="Durations of the last ${count(s.durations.samples, 'run')}"
          empty=${s.durations.samples === 0 ? 'No runs yet.' : ''}
          summary="p50 ${ms(s.estimate.p50Ms)}, p90 ${ms(s.estimate.p90Ms)}"
          x-label="seconds"
          .data=${[bins, s.durations.counts]}
          .series=${[{ label: 'runs', color: '#2b6cb0', kind: 'bars' }]}
          .marks=${[
            { x: s.estimate.p50Ms / 1000, label: `p50 ${ms(s.estimate.p50Ms)}`, color: '#2f855a' },
            { x: s.estimate.p90Ms / 1000, label: `p90 ${ms(s.estimate.p90Ms)}`, color: '#c05621' },
          ]}
        ></ic-chart>
        <ic-chart
          label="Throughput and failures per ${every}"
          empty=${s.series.length === 0 ? 'No jobs finished yet.' : ''}
          summary="jobs finished on all nodes"
          time
          .data=${[times, s.series.map((p) => p.succeeded), s.series.map((p) => p.failed + p.cancelled)]}
          .series=${[
            { label: 'succeeded', color: '#2f855a' },
            { label: 'failed or cancelled', color: '#c53030' },
          ]}
        ></ic-chart>
        <ic-chart
          label="Queue depth"
          summary="queued and running at each sample, all nodes"
          time
          .data=${[times, s.series.map((p) => p.queued), s.series.map((p) => p.running)]}
          .series=${[
            { label: 'queued', color: '#b7791f' },
            { label: 'running', color: '#2b6cb0' },
          ]}
        ></ic-chart>
        <ic-chart
          label="Wait in line"
          empty=${recent.length === 0 ? 'No runs yet.' : ''}
          summary="time from creation to start of the last ${count(recent.length, 'finished run')}"
          time
          .data=${[recent.map((r) => r.finishedAt / 1000), recent.map((r) => (r.waitMs ?? 0) / 1000)]}
          .series=${[{ label: 'wait (s)', color: '#6b46c1', points: true }]}
        ></ic-chart>
        <ic-chart
          label="ETA calibration"
          empty=${recent.length === 0 ? 'No runs yet.' : ''}
          summary="each run's time against the p50 and p90 it was promised"
          time
          .data=${[
            recent.map((r) => r.finishedAt / 1000),
            recent.map((r) => (r.runMs ?? 0) / 1000),
            recent.map((r) => r.promisedP50Ms / 1000),
            recent.map((r) => r.promisedP90Ms / 1000),
          ]}
          .series=${[
            { label: 'actual (s)', color: '#2b6cb0', points: true },
            { label: 'promised p50', color: '#2f855a' },
            { label: 'promised p90', color: '#c05621' },
          ]}
        ></ic-chart>
      </div>`;
  }
}
customElements.define('ic-types', IcTypes);
