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
    data: { attribute: false },
    series: { attribute: false },
    marks: { attribute: false },
    time: { type: Boolean },
    xLabel: { attribute: 'x-label' },
    categories: { attribute: false },
  };

  label = '';
  summary = '';
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
    return html`<figure>
      <figcaption>
        ${this.label}${this.summary ? html`<span class="summary"> — ${this.summary}</span>` : nothing}
      </figcaption>
      <div class="plot" role="img" aria-label=${`${this.label}. ${this.summary}`}></div>
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
          x: categories ? { time: false, range: [-0.5, categories.length - 0.5] } : { time: this.time },
          y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
        },
        axes: [
          {
            label: this.xLabel || undefined,
            stroke: '#333',
            grid: { stroke: '#e5e5e5' },
            ...(categories
              ? {
                  splits: () => categories.map((_, i) => i),
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
