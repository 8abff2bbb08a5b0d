import { html, nothing } from 'lit';
import type { ConsoleActivity } from '@inloop/protocol';
import { api } from '../api.js';
import { Page } from '../page.js';

/**
 * `<ic-topics>`: topics and people over all nodes: connections by transport, the busiest topics,
 * presence occupancy, and slow-consumer cut-offs and rate-limit refusals over time.
 */
class IcTopics extends Page {
  static override properties = { ...Page.properties, a: { state: true } };
  a: ConsoleActivity | null = null;
  protected override refreshMs = 5000;

  protected async refresh(): Promise<void> {
    this.a = await api<ConsoleActivity>('/v1/console/activity');
  }

  // One template around every state: the heading stays the same element (and keeps focus).
  protected override render() {
    return html`<h1 tabindex="-1">Topics and people</h1>
      ${this.#content()}`;
  }

  #content() {
    const a = this.a;
    if (!a)
      return html`${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : html`<p>Loading…</p>`}`;
    const transports = [...new Set(a.series.flatMap((p) => Object.keys(p.connections)))].sort();
    const times = a.series.map((p) => p.at / 1000);
    const every = a.sampleMs >= 60_000 ? `${a.sampleMs / 60_000} min` : `${a.sampleMs / 1000} s`;
    const colors = ['#2b6cb0', '#2f855a', '#b7791f', '#6b46c1'];
    return html` <p>
        ${a.nodes} node${a.nodes === 1 ? '' : 's'}:
        ${
          Object.entries(a.connections)
            .map(([t, n]) => `${n} ${t}`)
            .join(', ') || 'no'
        }
        connections, ${a.subscriptions} subscriptions. Samples every ${a.sampleMs / 1000} s over the last ten minutes.
      </p>
      <div class="grid">
        <ic-chart
          label="Connections by transport"
          summary=${Object.entries(a.connections)
            .map(([t, n]) => `${t} ${n}`)
            .join(', ')}
          time
          .data=${[times, ...transports.map((t) => a.series.map((p) => p.connections[t] ?? 0))]}
          .series=${transports.map((t, i) => ({ label: t, color: colors[i % colors.length]! }))}
        ></ic-chart>
        <ic-chart
          label="Publications per ${every}"
          summary="made on all nodes"
          time
          .data=${[times, a.series.map((p) => p.publications)]}
          .series=${[{ label: 'publications', color: '#2b6cb0' }]}
        ></ic-chart>
        <ic-chart
          id="slow-consumers"
          label="Slow-consumer cut-offs per ${every}"
          summary="subscribers cut off for falling behind, all nodes"
          time
          .data=${[times, a.series.map((p) => p.slowConsumerDrops)]}
          .series=${[{ label: 'slow-consumer cut-offs', color: '#c53030' }]}
        ></ic-chart>
        <ic-chart
          id="rate-limited"
          label="Rate-limit refusals per ${every}"
          summary="requests refused rate_limited, all nodes"
          time
          .data=${[times, a.series.map((p) => p.rateLimited)]}
          .series=${[{ label: 'rate-limit refusals', color: '#b7791f' }]}
        ></ic-chart>
      </div>
      <div class="cards">
        <section aria-labelledby="busiest">
          <h2 id="busiest">Busiest topics</h2>
          <table>
            <caption class="visually-hidden">
              Busiest topics in the last minute
            </caption>
            <thead>
              <tr>
                <th scope="col">Topic</th>
                <th scope="col">Publications (last minute)</th>
                <th scope="col">Subscribers</th>
              </tr>
            </thead>
            <tbody>
              ${a.topics.map(
                (t) =>
                  html`<tr>
                    <td>${t.topic}</td>
                    <td>${t.publications}</td>
                    <td>${t.subscribers}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${a.topics.length === 0 ? html`<p>No publications lately.</p>` : nothing}
        </section>
        <section aria-labelledby="occupancy">
          <h2 id="occupancy">Presence occupancy</h2>
          <table>
            <caption class="visually-hidden">
              Topics with members present
            </caption>
            <thead>
              <tr>
                <th scope="col">Topic</th>
                <th scope="col">Members</th>
                <th scope="col">Connections</th>
              </tr>
            </thead>
            <tbody>
              ${a.presence.map(
                (p) =>
                  html`<tr>
                    <td>${p.topic}</td>
                    <td>${p.members}</td>
                    <td>${p.connections}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${a.presence.length === 0 ? html`<p>Nobody is present on any topic.</p>` : nothing}
        </section>
      </div>`;
  }
}
customElements.define('ic-topics', IcTopics);
