import { html, nothing } from 'lit';
import type { ConsoleBudget, Histo } from '@inloop/protocol';
import { api } from '../api.js';
import { count, ms, pct } from '../format.js';
import { Page } from '../page.js';

/** Share of a histogram's count at or under `limit` seconds (bucket bounds as they fall). */
function within(h: Histo, limit: number): number | null {
  if (h.count === 0) return null;
  let n = 0;
  h.le.forEach((le, i) => {
    if (le <= limit + 1e-9) n += h.counts[i]!;
  });
  return n / h.count;
}

/** A histogram as evenly spaced bars, one per bucket, named by its upper bound. */
function bars(h: Histo): { data: [number[], number[]]; categories: string[] } {
  return {
    data: [h.counts.map((_, i) => i), h.counts],
    categories: [...h.le.map((le) => `≤${le}`), `>${h.le.at(-1) ?? 0}`],
  };
}

/** Where `seconds` falls among the bars: the first bucket whose bound reaches it. */
function at(h: Histo, seconds: number): number {
  const i = h.le.findIndex((le) => le >= seconds - 1e-9);
  return i < 0 ? h.le.length : i;
}

/**
 * `<ic-budget>`: the interactivity budget over all nodes: the longest silence each job watcher
 * had (with the cadence marked), every gap between updates, and the first event after the 202.
 */
class IcBudget extends Page {
  static override properties = { ...Page.properties, b: { state: true } };
  b: ConsoleBudget | null = null;
  protected override refreshMs = 5000;

  protected async refresh(): Promise<void> {
    this.b = await api<ConsoleBudget>('/v1/console/budget');
  }

  // One template around every state: the heading stays the same element (and keeps focus).
  protected override render() {
    return html`<h1 tabindex="-1">Interactivity budget</h1>
      ${this.#content()}`;
  }

  #content() {
    const b = this.b;
    if (!b)
      return html`${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : html`<p>Loading…</p>`}`;
    const cadence = b.cadenceMs / 1000;
    const over = `Over ${b.nodes} node${b.nodes === 1 ? '' : 's'}`;
    const measured = b.longestSilence.count + b.gaps.count + b.firstEvent.count > 0;
    return html`<p data-testid="budget-summary">
        ${
          measured
            ? html`${over}: ${this.#silences(b)} ${this.#firstEvents(b)}`
            : html`${over}: no job watcher measured yet. The charts fill as people watch jobs: a watcher's longest
              silence counts once it leaves the job's stream, and the first event once someone who came with the 202
              hears it.`
        }
      </p>
      <div class="grid">
        <ic-chart
          label="Longest silence per watcher"
          empty=${b.longestSilence.count === 0 ? 'No watcher has left a job’s stream yet.' : ''}
          summary="${count(b.longestSilence.count, 'watcher')}, cadence ${ms(b.cadenceMs)}"
          x-label="seconds"
          .data=${bars(b.longestSilence).data}
          .categories=${bars(b.longestSilence).categories}
          .series=${[{ label: 'watchers', color: '#2b6cb0', kind: 'bars' }]}
          .marks=${[{ x: at(b.longestSilence, cadence), label: `cadence ${ms(b.cadenceMs)}`, color: '#c05621' }]}
        ></ic-chart>
        <ic-chart
          label="Gaps between updates"
          empty=${b.gaps.count === 0 ? 'No update has reached a job watcher yet.' : ''}
          summary="${b.gaps.count} gaps"
          x-label="seconds"
          .data=${bars(b.gaps).data}
          .categories=${bars(b.gaps).categories}
          .series=${[{ label: 'gaps', color: '#6b46c1', kind: 'bars' }]}
          .marks=${[{ x: at(b.gaps, cadence), label: `cadence ${ms(b.cadenceMs)}`, color: '#c05621' }]}
        ></ic-chart>
        <ic-chart
          label="First event after the 202"
          empty=${b.firstEvent.count === 0 ? 'No watcher who came with the 202 yet.' : ''}
          summary="${count(b.firstEvent.count, 'watcher')}"
          x-label="seconds"
          .data=${bars(b.firstEvent).data}
          .categories=${bars(b.firstEvent).categories}
          .series=${[{ label: 'watchers', color: '#2f855a', kind: 'bars' }]}
          .marks=${[{ x: at(b.firstEvent, 1), label: '1 s target', color: '#c05621' }]}
        ></ic-chart>
      </div>
      ${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : nothing}`;
  }

  #silences(b: ConsoleBudget): string {
    const n = b.longestSilence.count;
    if (n === 0) return 'no job watcher has left a job’s stream yet, so no longest silence is measured.';
    const kept = within(b.longestSilence, b.cadenceMs / 1000 + 0.25);
    return `${n} job watcher${n === 1 ? '' : 's'} measured; ${pct(kept)} never waited longer than the cadence (${ms(b.cadenceMs)}) plus 250 ms.`;
  }

  #firstEvents(b: ConsoleBudget): string {
    const n = b.firstEvent.count;
    if (n === 0) return 'No watcher came with the 202 yet.';
    return `${n} watcher${n === 1 ? '' : 's'} who came with the 202: ${pct(within(b.firstEvent, 1))} heard the first event within 1 s.`;
  }
}
customElements.define('ic-budget', IcBudget);
