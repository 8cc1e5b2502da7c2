// One run, live or finished: status and queue position, elapsed time, the loss chart, the latest preview (then the
// result), the previews strip, parameters, error, and Cancel.
//
// Following a run survives server restarts. On every (re)connection the view re-reads the whole run (RunDetails)
// and only then subscribes to runEvents; once the subscription's snapshot has arrived, whatever was stored between
// the read and the subscription's start is fetched (RunStepsAfter). Steps are keyed by number (StepSeries),
// so nothing is missed and nothing is drawn twice. When the socket drops, the subscription is stopped rather than
// left to graphql-ws's automatic resubscription, which would skip that re-read.
import { ApiError, connection, execute, onDisconnected, subscribe } from './api.ts';
import { LossChart } from './chart.ts';
import { h, img, replace } from './dom.ts';
import {
  describe,
  elapsedMs,
  formatDuration,
  formatLoss,
  isFinished,
  readRun,
  runParameters,
  StepSeries,
  styleLabel,
  type ImageData,
  type Run,
} from './model.ts';
import { readFragment, type ResultOf } from '../../graphql.ts';
import { CancelRun, ImageFields, RunDetails, RunEvents, RunStepsAfter } from '../../operations.ts';

type RunEvent = ResultOf<typeof RunEvents>['runEvents'];

export class RunView {
  readonly element: HTMLElement;
  private run: Run | null = null;
  /** The run record the parameters and inputs were last drawn from. */
  private renderedRun: Run | null = null;
  private readonly series = new StepSeries();
  private readonly chart = new LossChart();
  private previews = new Map<number, { url: string; dataUrl?: string }>();
  /** The step of the preview on show; older previews arriving late do not replace it. */
  private shownPreviewStep = 0;
  private totalSteps = 0;
  private queuePosition: number | null = null;
  private download: { received: number; total: number | null } | null = null;

  /** Bumped by every re-read: events from an older subscription are ignored. */
  private generation = 0;
  private stopSubscription: (() => void) | null = null;
  private readonly cleanups: (() => void)[] = [];
  private ticker = 0;

  private readonly ui = {
    title: h('h2', {}, 'Run'),
    status: h('span', { class: 'badge', dataset: { role: 'status' } }, '…'),
    queue: h('span', { class: 'muted', dataset: { role: 'queue' } }),
    cancel: h('button', { class: 'danger', type: 'button', textContent: 'Cancel', disabled: true }),
    progress: h('progress', { max: 1, value: 0 }),
    stats: h('div', { class: 'stats' }),
    image: h('img', { alt: 'latest preview', dataset: { role: 'main-image', kind: 'none' } }),
    caption: h('figcaption', {}),
    strip: h('div', { class: 'strip', dataset: { role: 'previews' } }),
    parameters: h('dl', { class: 'parameters' }),
    inputs: h('div', { class: 'inputs' }),
    message: h('div', { class: 'error', hidden: true, dataset: { role: 'error' } }),
  };

  constructor(readonly runId: string) {
    const { ui } = this;
    ui.cancel.addEventListener('click', () => void this.cancel());
    this.element = h(
      'section',
      { class: 'run-view card', dataset: { runId } },
      h('header', { class: 'run-header' }, ui.title, ui.status, ui.queue, h('span', { class: 'spacer' }), ui.cancel),
      ui.progress,
      ui.stats,
      ui.message,
      h(
        'div',
        { class: 'run-body' },
        h('figure', { class: 'main-image' }, ui.image, ui.caption),
        h('div', { class: 'chart-box' }, this.chart.element),
      ),
      ui.strip,
      h('div', { class: 'run-meta' }, ui.parameters, ui.inputs),
    );
    this.cleanups.push(
      connection.onReconnected(() => void this.resync()),
      onDisconnected(() => this.dropSubscription()),
    );
    void this.resync();
  }

  /** Re-reads the run, then (if it is not over) subscribes to its events. */
  private async resync(): Promise<void> {
    const generation = ++this.generation;
    this.dropSubscription();
    let details: ResultOf<typeof RunDetails>;
    try {
      details = await execute(RunDetails, { id: this.runId });
    } catch (error) {
      if (generation !== this.generation) return;
      // The server may be going down again: the next reconnection re-reads. Other failures retry shortly.
      this.showError(`Could not load the run: ${(error as Error).message}`);
      if (connection.state !== 'reconnecting')
        setTimeout(() => generation === this.generation && void this.resync(), 3000);
      return;
    }
    if (generation !== this.generation) return;
    if (!details.run) {
      this.showError('No such run.');
      return;
    }
    this.showError(null);
    this.series.reset(details.run.steps);
    this.previews = new Map(details.run.previews.map((p) => [p.step, { url: readFragment(ImageFields, p.image).url }]));
    this.shownPreviewStep = 0;
    const run = readRun(details.run);
    this.totalSteps = run.totalSteps;
    this.queuePosition = run.queuePosition;
    this.setRun(run);
    const latest = details.run.previews.at(-1);
    if (latest) this.showPreview(latest.step, readFragment(ImageFields, latest.image).url);
    this.render();
    if (isFinished(run.status)) return;

    this.stopSubscription = subscribe(
      RunEvents,
      { runId: this.runId },
      {
        next: (data) => generation === this.generation && this.onEvent(data.runEvents, generation),
        error: (error) => generation === this.generation && this.showError(`Live updates stopped: ${error.message}`),
        complete: () => {},
      },
    );
  }

  private dropSubscription(): void {
    this.stopSubscription?.();
    this.stopSubscription = null;
  }

  private onEvent(event: RunEvent, generation: number): void {
    switch (event.__typename) {
      case 'RunSnapshot': {
        this.queuePosition = event.queuePosition;
        this.setRun(readRun(event.run));
        // What was stored between our read and the subscription's start is not streamed (the snapshot's lastStep
        // shows how far the server had got): fetch it. Usually nothing, but a preview can land there too.
        void this.fillGap(generation);
        break;
      }
      case 'RunStatusChanged':
        this.queuePosition = event.queuePosition;
        if (this.run)
          this.setRun({
            ...this.run,
            status: event.status,
            startedAt: this.run.startedAt ?? (event.status === 'RUNNING' ? new Date().toISOString() : null),
          });
        break;
      case 'RunStepAdded':
        this.totalSteps = event.totalSteps;
        this.download = null;
        this.series.add(event.step);
        break;
      case 'RunPreviewAdded': {
        const image = readFragment(ImageFields, event.preview.image);
        this.previews.set(event.preview.step, { url: image.url, dataUrl: event.dataUrl });
        this.showPreview(event.preview.step, image.url, event.dataUrl);
        break;
      }
      case 'RunDownloadProgress':
        this.download = { received: event.receivedBytes, total: event.totalBytes };
        break;
      case 'RunEnded':
        this.queuePosition = null;
        this.setRun(readRun(event.run));
        break;
    }
    this.render();
  }

  private async fillGap(generation: number): Promise<void> {
    const after = this.series.last;
    const data = await execute(RunStepsAfter, { id: this.runId, after }).catch(() => null);
    if (generation !== this.generation || !data?.run) return;
    for (const step of data.run.steps) this.series.add(step);
    for (const preview of data.run.previews) {
      if (!this.previews.has(preview.step))
        this.previews.set(preview.step, { url: readFragment(ImageFields, preview.image).url });
    }
    const latest = data.run.previews.at(-1);
    if (latest) this.showPreview(latest.step, readFragment(ImageFields, latest.image).url);
    this.render();
  }

  private setRun(run: Run): void {
    this.run = run;
    this.totalSteps = run.totalSteps || this.totalSteps;
    clearInterval(this.ticker);
    // The elapsed time moves while the run does.
    if (run.status === 'RUNNING') this.ticker = window.setInterval(() => this.renderStats(), 1000);
    if (isFinished(run.status)) {
      this.queuePosition = null;
      if (run.error) this.showError(`${run.error.code}: ${run.error.message}`);
    }
  }

  /** The small inline JPEG at once; the full preview replaces it when it has loaded (no flash of a blank image). */
  private showPreview(step: number, url: string, dataUrl?: string): void {
    if (step < this.shownPreviewStep) return;
    this.shownPreviewStep = step;
    const { image } = this.ui;
    if (this.run?.result) return; // the result has the place now
    if (dataUrl) image.src = dataUrl;
    image.dataset.kind = 'preview';
    image.dataset.step = String(step);
    this.ui.caption.textContent = `Preview at step ${step}`;
    const full = new Image();
    full.onload = () => {
      if (this.shownPreviewStep === step && image.dataset.kind === 'preview') image.src = url;
    };
    full.src = url;
  }

  private async cancel(): Promise<void> {
    this.ui.cancel.disabled = true;
    try {
      const { cancelRun } = await execute(CancelRun, { id: this.runId });
      if (cancelRun.__typename === 'Run') {
        if (this.run) this.setRun({ ...this.run, status: cancelRun.status });
      } else if ('message' in cancelRun) {
        this.showError(cancelRun.message);
      }
    } catch (error) {
      this.showError(`Cancel failed: ${error instanceof ApiError ? error.message : String(error)}`);
    }
    this.render();
  }

  private showError(message: string | null): void {
    this.ui.message.hidden = !message;
    this.ui.message.textContent = message ?? '';
  }

  private render(): void {
    const run = this.run;
    if (!run) return;
    const { ui } = this;
    this.element.dataset.status = run.status;
    this.element.dataset.steps = String(this.series.length);
    ui.title.textContent = describe(run);
    ui.status.textContent = run.status;
    ui.status.dataset.status = run.status;
    // 1 is next in line (the server counts the runs waiting, not the ones running).
    ui.queue.textContent =
      run.status === 'QUEUED' && this.queuePosition !== null ? `#${this.queuePosition} in queue` : '';
    ui.cancel.disabled = isFinished(run.status);
    ui.cancel.hidden = isFinished(run.status);
    ui.progress.max = Math.max(1, this.totalSteps);
    ui.progress.value = run.status === 'SUCCEEDED' ? this.totalSteps : this.series.last;
    this.renderStats();
    this.chart.element.hidden = run.engine === 'FAST';
    this.chart.setSteps(this.series.all());

    if (run.result) {
      setImage(ui.image, run.result, 'result');
      ui.caption.textContent = `Result · ${run.result.width} × ${run.result.height}`;
    } else if (this.shownPreviewStep === 0) {
      setImage(ui.image, run.content, 'content');
      ui.caption.textContent = 'Content';
    }
    this.renderStrip();
    // Parameters and inputs change with the run record, not with each step.
    if (run === this.renderedRun) return;
    this.renderedRun = run;
    replace(ui.parameters, ...runParameters(run).flatMap(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]));
    replace(ui.inputs, thumb(run.content, 'content'), ...run.styles.map((s) => thumb(s.image, styleLabel(run, s))));
  }

  private renderStats(): void {
    const run = this.run;
    if (!run) return;
    const last = this.series.all().at(-1);
    const parts: string[] = [];
    if (run.engine === 'GATYS') parts.push(`step ${this.series.last} / ${this.totalSteps}`);
    const elapsed = elapsedMs(run);
    if (elapsed !== null) parts.push(`${run.finishedAt ? 'took' : 'elapsed'} ${formatDuration(elapsed)}`);
    // A fast run is one pass: no loss to speak of.
    if (last && run.engine === 'GATYS')
      parts.push(`loss ${formatLoss(last.totalLoss)}`, `${Math.round(last.ms)} ms/step`);
    if (this.download) {
      const { received, total } = this.download;
      parts.push(
        `downloading weights ${(received / 1e6).toFixed(1)}${total ? ` / ${(total / 1e6).toFixed(1)}` : ''} MB`,
      );
    }
    this.ui.stats.textContent = parts.join(' · ');
  }

  private renderStrip(): void {
    const steps = [...this.previews.keys()].sort((a, b) => a - b);
    if (this.ui.strip.childElementCount === steps.length) return;
    replace(
      this.ui.strip,
      ...steps.map((step) => {
        const preview = this.previews.get(step)!;
        const image = img(preview.url, `preview at step ${step}`);
        image.dataset.role = 'preview';
        return h('figure', {}, image, h('figcaption', {}, String(step)));
      }),
    );
  }

  /** Stops following: the subscription, the listeners, the timer and the chart. */
  dispose(): void {
    this.generation++;
    this.dropSubscription();
    clearInterval(this.ticker);
    for (const cleanup of this.cleanups) cleanup();
    this.chart.destroy();
  }
}

function setImage(image: HTMLImageElement, data: ImageData, kind: string): void {
  if (image.dataset.kind === kind && image.getAttribute('src') === data.url) return;
  image.src = data.url;
  image.dataset.kind = kind;
}

function thumb(image: ImageData, label: string): HTMLElement {
  return h('figure', { class: 'thumb' }, img(image.url, label), h('figcaption', {}, label));
}
