// Loss charts: uPlot for the full curves (live and in the details), a small SVG line for the history list.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom.ts';
import { formatLoss, type LossStep } from './model.ts';

export interface SeriesSpec {
  label: string;
  color: string;
  width?: number;
}

const GRID = 'rgba(0, 0, 0, 0.045)';

/** The four terms of a Gatys step; total last so it is drawn on top. */
export const LOSS_SERIES: SeriesSpec[] = [
  { label: 'content', color: '#2a9d8f' },
  { label: 'style', color: '#e76f51' },
  { label: 'TV', color: '#8d99ae' },
  { label: 'total', color: '#1d3557', width: 2.5 },
];

/** Columns for LOSS_SERIES. A log scale cannot show 0 (a term with weight 0): such points become gaps. */
export function lossColumns(steps: readonly LossStep[]): [number[], (number | null)[][]] {
  const positive = (v: number) => (v > 0 && Number.isFinite(v) ? v : null);
  return [
    steps.map((s) => s.step),
    [
      steps.map((s) => positive(s.contentLoss)),
      steps.map((s) => positive(s.styleLoss)),
      steps.map((s) => positive(s.tvLoss)),
      steps.map((s) => positive(s.totalLoss)),
    ],
  ];
}

/**
 * A uPlot line chart over steps with a log y axis (Gatys losses fall over orders of magnitude). It follows its
 * container's width, and redraws at most once per frame however fast steps arrive. `data-points` on the element
 * says how many steps are plotted (tests and tools can wait on it).
 */
export class Chart {
  readonly element: HTMLDivElement;
  private plot: uPlot | null = null;
  private data: uPlot.AlignedData = [[]];
  private frame = 0;
  private pending: (() => [number[], (number | null)[][]]) | null = null;
  private destroyed = false;
  private readonly resize: ResizeObserver;

  constructor(
    private readonly series: SeriesSpec[],
    private readonly height = 260,
  ) {
    this.element = h('div', { class: 'chart', dataset: { role: 'loss-chart', points: '0' } });
    this.data = [[], ...series.map(() => [])];
    // uPlot needs a width: create it once the element is laid out, then follow its size.
    this.resize = new ResizeObserver(() => {
      const width = Math.floor(this.element.clientWidth);
      if (width <= 0) return;
      if (this.plot) this.plot.setSize({ width, height: this.height });
      else this.create(width);
    });
    this.resize.observe(this.element);
  }

  private create(width: number): void {
    // The legend shows the last step's values unless the cursor points at another one.
    const showLast = (u: uPlot) => {
      if (u.cursor.idx == null && u.data[0].length > 0) u.setLegend({ idx: u.data[0].length - 1 }, false);
    };
    const options: uPlot.Options = {
      width,
      height: this.height,
      scales: {
        x: { time: false },
        // Whole decades, at most 7 of them: a term that starts near 0 (content loss at step 1, when the image is
        // the content) would otherwise squeeze the curves that matter into a thin band.
        y: {
          distr: 3,
          log: 10,
          range: (_u, min, max) => (max > 0 ? uPlot.rangeLog(Math.max(min, max * 1e-6), max, 10, true) : [1, 10]),
        },
      },
      axes: [
        // Steps are whole numbers: no ticks between them.
        {
          label: 'step',
          labelSize: 18,
          size: 34,
          grid: { stroke: GRID },
          incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000],
        },
        { size: 50, grid: { stroke: GRID }, ticks: { stroke: GRID }, values: (_u, ticks) => ticks.map(formatTick) },
      ],
      series: [
        { label: 'step' },
        ...this.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          spanGaps: true,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => formatLoss(v),
        })),
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      hooks: { setData: [showLast], setCursor: [showLast] },
    };
    this.plot = new uPlot(options, this.data, this.element);
    showLast(this.plot);
  }

  /** Replaces the plotted columns (x, then one array per series). */
  setData(x: number[], ys: (number | null)[][]): void {
    this.setColumns(() => [x, ys]);
  }

  /**
   * Replaces the plotted columns with what `columns` returns when the frame is drawn: however many updates arrive
   * within a frame, the columns are built once.
   */
  protected setColumns(columns: () => [number[], (number | null)[][]]): void {
    if (this.destroyed) return;
    this.pending = columns;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const [x, ys] = this.pending!();
      this.data = [x, ...ys];
      this.plot?.setData(this.data);
      this.element.dataset.points = String(x.length);
    });
  }

  /** Stops drawing for good; later updates (a request answered after the view closed) are ignored. */
  destroy(): void {
    this.destroyed = true;
    cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

/** A chart of a run's four loss terms. */
export class LossChart extends Chart {
  constructor(height?: number) {
    super(LOSS_SERIES, height);
  }

  setSteps(steps: readonly LossStep[]): void {
    this.setColumns(() => lossColumns(steps));
  }
}

/** Axis labels: 250, 0.05, 1e6, 2e-3. uPlot passes null for ticks it leaves unlabelled on a crowded log axis. */
function formatTick(value: number | null): string {
  if (value === null) return '';
  if (value === 0) return '0';
  const exponent = Math.floor(Math.log10(Math.abs(value)) + 1e-9);
  if (exponent >= -2 && exponent <= 3) return String(Number(value.toPrecision(2)));
  const mantissa = Number((value / 10 ** exponent).toPrecision(2));
  return `${mantissa}e${exponent}`;
}

/** A small line of the total loss (log scale) for lists: plain SVG, since a list may hold dozens. */
export function sparkline(values: readonly number[], width = 140, height = 36): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.classList.add('sparkline');
  const logs = values.filter((v) => v > 0).map(Math.log10);
  if (logs.length < 2) return svg;
  const min = Math.min(...logs);
  const span = Math.max(...logs) - min || 1;
  const points = logs.map((v, i) => {
    const x = (i / (logs.length - 1)) * (width - 2) + 1;
    const y = height - 2 - ((v - min) / span) * (height - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.append(line);
  return svg;
}
