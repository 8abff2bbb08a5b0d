import { html, LitElement, nothing } from 'lit';
import uPlot from 'uplot';

/** A vertical line across a chart at `x`, with its label (p50, p90, the cadence). */
export interface Mark {
  x: number;
  label: string;
  color: string;
}

export interface ChartSeries {
  label: string;
  color: string;
  /** Bars (histograms) or a line. @default 'line' */
  kind?: 'bars' | 'line';
  /** Only dots (a scatter). */
  points?: boolean;
}

const bars = uPlot.paths.bars!({ size: [0.9, 60] });

/**
 * `<ic-chart>`: one uPlot chart. The canvas is an image to assistive technology, named by
 * `label`; `summary` says in words what it shows. `time` makes the x axis clock times.
 */
export class IcChart extends LitElement {
  static override properties = {
    label: {},
    summary: {},
    empty: {},
    data: { attribute: false },
    series: { attribute: false },
    marks: { attribute: false },
    time: { type: Boolean },
    xLabel: { attribute: 'x-label' },
    categories: { attribute: false },
  };

  label = '';
  summary = '';
  /** Said instead of a chart when set (no data yet): an empty plot would show a meaningless axis. */
  empty = '';
  data: uPlot.AlignedData = [[]];
  series: ChartSeries[] = [];
  marks: Mark[] = [];
  time = false;
  xLabel = '';
  /** Names of the x positions 0, 1, 2...: a histogram whose buckets are not evenly spaced. */
  categories: string[] | null = null;
  #plot: uPlot | undefined;
  #resize = new ResizeObserver(() => this.#fit());

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#resize.observe(this);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#resize.disconnect();
    this.#plot?.destroy();
    this.#plot = undefined;
  }

  protected override render() {
    if (this.empty) {
      this.#plot?.destroy();
      this.#plot = undefined;
      return html`<figure>
        <figcaption>${this.label}</figcaption>
        <p class="empty">${this.empty}</p>
      </figure>`;
    }
    return html`<figure>
      <figcaption>
        ${this.label}${this.summary ? html`<span class="summary"> — ${this.summary}</span>` : nothing}
      </figcaption>
      <div class="plot" role="img" aria-label=${`${this.label}. ${this.summary}`}></div>
      ${this.#table()}
      ${
        this.series.length > 1 || this.marks.length > 0
          ? html`<ul class="legend" aria-hidden="true">
              ${this.series.map((s) => html`<li><i style="background:${s.color}"></i>${s.label}</li>`)}
              ${this.marks.map((m) => html`<li><i class="mark" style="border-color:${m.color}"></i>${m.label}</li>`)}
            </ul>`
          : nothing
      }
    </figure>`;
  }

  /** The chart's numbers as a visually hidden table: its text alternative (the last 30 points). */
  #table() {
    const xs = (this.data[0] ?? []) as number[];
    const from = Math.max(0, xs.length - 30);
    const x = (v: number, i: number): string =>
      this.categories
        ? (this.categories[i] ?? String(v))
        : this.time
          ? new Date(v * 1000).toLocaleTimeString()
          : String(Math.round(v * 1000) / 1000);
    const cell = (v: number | null | undefined) =>
      v === null || v === undefined ? '–' : String(Math.round(v * 1000) / 1000);
    return html`<table
      class="visually-hidden"
      data-testid="chart-data"
      aria-label=${`Numbers of the chart: ${this.label}${this.marks.length ? `; ${this.marks.map((m) => m.label).join(', ')}` : ''}`}
    >
      <thead>
        <tr>
          <th scope="col">${this.time ? 'time' : this.xLabel || 'x'}</th>
          ${this.series.map((s) => html`<th scope="col">${s.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${xs.slice(from).map(
          (v, k) =>
            html`<tr>
              <th scope="row">${x(v, from + k)}</th>
              ${this.series.map((_, j) => html`<td>${cell((this.data[j + 1] as (number | null)[] | undefined)?.[from + k])}</td>`)}
            </tr>`,
        )}
      </tbody>
    </table>`;
  }

  protected override updated(): void {
    const target = this.querySelector<HTMLElement>('.plot');
    if (!target) return;
    const shape = `${this.series.map((s) => s.label).join()}|${this.time}|${this.categories?.join() ?? ''}`;
    if (this.#plot && this.#plot.series.length - 1 === this.series.length && target.dataset.shape === shape) {
      this.#plot.setData(this.data);
      this.#plot.redraw();
      return;
    }
    this.#plot?.destroy();
    target.dataset.shape = shape;
    const marks = () => this.marks;
    const categories = this.categories;
    this.#plot = new uPlot(
      {
        width: Math.max(240, target.clientWidth || 600),
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          // The marks (p50, p90, the cadence) stay on the axis even when every run is shorter.
          x: categories
            ? { time: false, range: [-0.5, categories.length - 0.5] }
            : this.time
              ? { time: true }
              : {
                  time: false,
                  range: (_u, min, max) => [
                    Math.min(0, min ?? 0),
                    Math.max(max ?? 0, ...marks().map((m) => m.x * 1.05), 0.001),
                  ],
                },
          y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
        },
        axes: [
          {
            label: this.xLabel || undefined,
            stroke: '#333',
            grid: { stroke: '#e5e5e5' },
            ...(categories
              ? {
                  // Every k-th bucket named, so the names (about 48 px each) never overlap.
                  splits: (u: uPlot) => {
                    const step = Math.max(
                      1,
                      Math.ceil((categories.length * 48) / Math.max(1, u.bbox.width / devicePixelRatio)),
                    );
                    return categories.map((_, i) => i).filter((i) => i % step === 0);
                  },
                  values: (_u: uPlot, splits: number[]) => splits.map((i) => categories[i] ?? ''),
                }
              : {}),
          },
          { stroke: '#333', grid: { stroke: '#e5e5e5' } },
        ],
        series: [
          {},
          ...this.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.points ? 0 : 2,
            ...(s.kind === 'bars' ? { fill: `${s.color}bb`, paths: bars, points: { show: false } } : {}),
            ...(s.points ? { paths: () => null, points: { show: true, size: 6, fill: s.color } } : {}),
          })),
        ],
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              for (const m of marks()) {
                const x = u.valToPos(m.x, 'x', true);
                ctx.save();
                ctx.strokeStyle = m.color;
                ctx.lineWidth = 2 * devicePixelRatio;
                ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
                ctx.beginPath();
                ctx.moveTo(x, u.bbox.top);
                ctx.lineTo(x, u.bbox.top + u.bbox.height);
                ctx.stroke();
                ctx.restore();
              }
            },
          ],
        },
      },
      this.data,
      target,
    );
  }

  #fit(): void {
    const target = this.querySelector<HTMLElement>('.plot');
    if (this.#plot && target && target.clientWidth > 0 && Math.abs(target.clientWidth - this.#plot.width) > 4)
      this.#plot.setSize({ width: target.clientWidth, height: 200 });
  }
}
customElements.define('ic-chart', IcChart);
