// Past runs, newest first, a page at a time: thumbnail (result, else content), status, parameters and a small loss
// curve. Open one for its details; tick two to compare them.
import { execute } from './api.ts';
import { sparkline } from './chart.ts';
import { h, img, replace } from './dom.ts';
import { describe, formatDate, formatLoss, qualityLabel, readRun, thumbnailOf, type Run } from './model.ts';
import { HistoryWithCurves } from '../../operations.ts';

const PAGE = 12;

export class HistoryView {
  readonly element: HTMLElement;
  private cursor: string | null = null;
  private readonly selected: string[] = [];
  private readonly list = h('div', { class: 'history-list', dataset: { role: 'history' } });
  private readonly more = h('button', { type: 'button', textContent: 'Load more', hidden: true });
  private readonly count = h('span', { class: 'muted' });
  private readonly compare = h('a', {
    class: 'button primary disabled',
    href: '#/history',
    textContent: 'Compare the two ticked',
  });

  constructor() {
    this.element = h(
      'section',
      { class: 'history' },
      h(
        'header',
        { class: 'history-header' },
        h('h2', {}, 'History'),
        this.count,
        h('span', { class: 'spacer' }),
        this.compare,
      ),
      this.list,
      h('div', { class: 'center' }, this.more),
    );
    this.more.addEventListener('click', () => void this.loadPage());
    void this.loadPage();
  }

  private async loadPage(): Promise<void> {
    this.more.disabled = true;
    try {
      const { runs } = await execute(HistoryWithCurves, { first: PAGE, after: this.cursor });
      this.count.textContent = `${runs.totalCount} run${runs.totalCount === 1 ? '' : 's'}`;
      for (const edge of runs.edges) {
        this.list.append(
          this.row(
            readRun(edge.node),
            edge.node.steps.map((s) => s.totalLoss),
          ),
        );
      }
      if (runs.totalCount === 0)
        replace(this.list, h('p', { class: 'muted' }, 'No runs yet. Start one from “New transfer”.'));
      this.cursor = runs.pageInfo.endCursor ?? null;
      this.more.hidden = !runs.pageInfo.hasNextPage;
    } catch (error) {
      this.list.append(h('p', { class: 'error' }, `Could not load the history: ${(error as Error).message}`));
    } finally {
      this.more.disabled = false;
    }
  }

  private row(run: Run, losses: number[]): HTMLElement {
    const thumb = thumbnailOf(run);
    const tick = h('input', { type: 'checkbox', title: 'compare', name: 'compare' });
    tick.addEventListener('change', () => this.toggle(run.id, tick));
    const facts = [
      run.width && run.height ? `${run.width}×${run.height}` : null,
      run.params ? `${run.params.steps} steps` : null,
      run.preset?.name ?? null,
    ]
      .filter(Boolean)
      .join(' · ');
    return h(
      'article',
      { class: 'history-row card', dataset: { runId: run.id, status: run.status } },
      h(
        'a',
        { href: `#/runs/${encodeURIComponent(run.id)}`, class: 'history-thumb' },
        img(thumb.url, run.result ? 'result' : 'content'),
      ),
      h(
        'div',
        { class: 'history-info' },
        h('a', { href: `#/runs/${encodeURIComponent(run.id)}`, class: 'history-title' }, describe(run)),
        h(
          'div',
          {},
          h('span', { class: 'badge', dataset: { status: run.status } }, run.status),
          ' ',
          h('span', { class: 'muted' }, formatDate(run.queuedAt)),
        ),
        h('div', { class: 'muted' }, facts),
        run.error ? h('div', { class: 'error small' }, run.error.message) : null,
      ),
      h(
        'div',
        { class: 'history-curve' },
        run.engine === 'GATYS' ? sparkline(losses) : null,
        h('span', { class: 'muted' }, run.losses ? `loss ${formatLoss(run.losses.total)}` : ''),
        run.quality
          ? h(
              'span',
              { class: 'muted quality', dataset: { role: 'quality' }, title: 'Quality score: lower is better' },
              qualityLabel(run),
            )
          : null,
      ),
      h('label', { class: 'compare-tick' }, tick, 'compare'),
    );
  }

  /** Keeps at most two ticked: ticking a third unticks the oldest. */
  private toggle(runId: string, tick: HTMLInputElement): void {
    const at = this.selected.indexOf(runId);
    if (tick.checked && at < 0) this.selected.push(runId);
    if (!tick.checked && at >= 0) this.selected.splice(at, 1);
    while (this.selected.length > 2) {
      const dropped = this.selected.shift()!;
      const box = this.list.querySelector<HTMLInputElement>(
        `[data-run-id="${CSS.escape(dropped)}"] input[name=compare]`,
      );
      if (box) box.checked = false;
    }
    const ready = this.selected.length === 2;
    this.compare.classList.toggle('disabled', !ready);
    this.compare.href = ready ? `#/compare/${this.selected.map(encodeURIComponent).join('/')}` : '#/history';
  }

  dispose(): void {}
}
