// Two runs side by side: their images and quality scores (the better of each marked), both total-loss curves on one
// chart (same steps, same log scale), and their parameters with the differences marked.
import { execute } from './api.ts';
import { Chart } from './chart.ts';
import { h, img, replace } from './dom.ts';
import {
  describe,
  formatScore,
  readRun,
  runParameters,
  scoreOf,
  thumbnailOf,
  type LossStep,
  type Run,
} from './model.ts';
import { RunDetails } from '../../operations.ts';

const COLORS = ['#1d3557', '#e76f51'];

export class CompareView {
  readonly element: HTMLElement;
  private readonly chart = new Chart(
    ['A', 'B'].map((label, i) => ({ label: `total loss, ${label}`, color: COLORS[i]!, width: 2 })),
    280,
  );
  private readonly columns = h('div', { class: 'compare-columns' }, h('p', { class: 'muted' }, 'Loading…'));
  private readonly table = h('div', { class: 'card' });
  private readonly lossCard = h('div', { class: 'card' }, h('h3', {}, 'Total loss'), this.chart.element);

  constructor(ids: [string, string]) {
    this.element = h(
      'section',
      { class: 'compare', dataset: { role: 'compare' } },
      h('a', { class: 'back', href: '#/history' }, '← History'),
      h('h2', {}, 'Compare two runs'),
      this.columns,
      this.lossCard,
      this.table,
    );
    void this.load(ids);
  }

  private async load(ids: [string, string]): Promise<void> {
    try {
      const [a, b] = await Promise.all(ids.map((id) => execute(RunDetails, { id })));
      if (!a?.run || !b?.run)
        return replace(this.columns, h('p', { class: 'error' }, 'One of the runs no longer exists.'));
      const runs = [readRun(a.run), readRun(b.run)] as const;
      this.render(runs, [a.run.steps, b.run.steps]);
    } catch (error) {
      replace(this.columns, h('p', { class: 'error' }, `Could not load the runs: ${(error as Error).message}`));
    }
  }

  private render(runs: readonly [Run, Run], steps: [readonly LossStep[], readonly LossStep[]]): void {
    // Each score of a run, marked where it beats the other run's (lower is better).
    const score = (run: Run, other: Run, which: 'style' | 'content') => {
      const mine = scoreOf(run, which);
      const theirs = scoreOf(other, which);
      const better = mine !== null && theirs !== null && mine < theirs;
      return h(
        'span',
        { class: better ? 'score better' : 'score', dataset: { score: which } },
        `${which} ${formatScore(mine)}`,
      );
    };
    const quality = (run: Run, other: Run) =>
      h(
        'div',
        { class: 'quality', dataset: { role: 'quality' }, title: 'Quality score: lower is better' },
        ...(run.quality
          ? [
              h('span', { class: 'muted' }, 'Quality (lower is better): '),
              score(run, other, 'style'),
              ' · ',
              score(run, other, 'content'),
            ]
          : [h('span', { class: 'muted' }, 'Not scored')]),
      );
    const column = (run: Run, label: string) =>
      h(
        'div',
        { class: 'card compare-column' },
        h(
          'h3',
          {},
          h('span', { class: 'swatch', style: { background: COLORS[label === 'A' ? 0 : 1]! } }),
          `${label} · `,
          h('a', { href: `#/runs/${encodeURIComponent(run.id)}` }, describe(run)),
        ),
        h('span', { class: 'badge', dataset: { status: run.status } }, run.status),
        quality(run, run === runs[0] ? runs[1] : runs[0]),
        img(thumbnailOf(run).url, `${label}: ${run.result ? 'result' : 'content'}`, 'compare-image'),
      );
    // One table, one row per parameter either run has; rows that differ are marked.
    const [rowsA, rowsB] = runs.map((run) => new Map(runParameters(run)));
    const labels = [...new Set([...rowsA!.keys(), ...rowsB!.keys()])];
    const table = h(
      'table',
      { class: 'compare-table' },
      h('thead', {}, h('tr', {}, h('th', {}), h('th', {}, 'A'), h('th', {}, 'B'))),
      h(
        'tbody',
        {},
        ...labels.map((label) => {
          const va = rowsA!.get(label) ?? '–';
          const vb = rowsB!.get(label) ?? '–';
          return h('tr', { class: va === vb ? '' : 'differs' }, h('th', {}, label), h('td', {}, va), h('td', {}, vb));
        }),
      ),
    );
    replace(this.columns, column(runs[0], 'A'), column(runs[1], 'B'));
    replace(this.table, table);

    // A fast run is one pass with no loss curve: with two of them there is nothing to plot.
    this.lossCard.hidden = runs.every((run) => run.engine === 'FAST');
    // uPlot wants one x column: the union of both runs' steps, with gaps where a run has no such step.
    const byStep = steps.map((list) => new Map(list.map((s) => [s.step, s.totalLoss])));
    const x = [...new Set(steps.flatMap((list) => list.map((s) => s.step)))].sort((p, q) => p - q);
    this.chart.setData(
      x,
      byStep.map((m) => x.map((step) => m.get(step) ?? null)),
    );
  }

  dispose(): void {
    this.chart.destroy();
  }
}
