import { html, nothing } from 'lit';
import type { ConsoleNodes } from '@inloop/protocol';
import { api } from '../api.js';
import { bytes, ms } from '../format.js';
import { Page } from '../page.js';

/**
 * `<ic-nodes>`: every node with its connections and health (posted to the shared backend), and
 * how old its last report is: a node that stopped reporting says so before it drops out.
 */
class IcNodes extends Page {
  static override properties = { ...Page.properties, n: { state: true } };
  n: ConsoleNodes | null = null;
  protected override refreshMs = 5000;

  protected async refresh(): Promise<void> {
    this.n = await api<ConsoleNodes>('/v1/console/nodes');
  }

  protected override render() {
    const n = this.n;
    return html`<h1 tabindex="-1">Nodes</h1>
      ${this.error ? html`<p class="refusal" role="alert">${this.error}</p>` : nothing}
      ${
        n
          ? html`<table class="nodes">
              <caption class="visually-hidden">
                Nodes
              </caption>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Health</th>
                  <th scope="col">Connections</th>
                  <th scope="col">Subscriptions</th>
                  <th scope="col">Memory (RSS)</th>
                  <th scope="col">Load (1 min)</th>
                  <th scope="col">Up for</th>
                  <th scope="col">Reported</th>
                </tr>
              </thead>
              <tbody>
                ${n.nodes.map(
                  (x) =>
                    html`<tr data-node=${x.node}>
                      <td>${x.node}${x.node === n.self ? html` <small>(this one)</small>` : nothing}</td>
                      <td>
                        <span
                          class="status ${x.reporting && x.ready ? 'succeeded' : 'failed'}"
                          data-testid="node-health"
                          >${!x.reporting ? 'not reporting' : x.ready ? 'ready' : 'not ready'}</span
                        >
                      </td>
                      <td>
                        ${
                          Object.entries(x.connections)
                            .map(([t, c]) => `${c} ${t}`)
                            .join(', ') || '0'
                        }
                      </td>
                      <td>${x.subscriptions}</td>
                      <td>${bytes(x.rssBytes)}</td>
                      <td>${x.loadAverage.toFixed(2)}</td>
                      <td>${ms(x.at - x.startedAt)}</td>
                      <td data-testid="node-report-age">${ms(x.reportAgeMs)} ago</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
          : html`<p>Loading…</p>`
      }`;
  }
}
customElements.define('ic-nodes', IcNodes);
