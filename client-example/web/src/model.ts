// What the views share: a run read out of its fragments, the ordered loss curve, and how to describe a run.
import { readFragment, type FragmentOf, type ResultOf } from '../../graphql.ts';
import { ImageFields, type RunDetails, RunSummary } from '../../operations.ts';

export type ImageData = ResultOf<typeof ImageFields>;
type RunFields = ResultOf<typeof RunSummary>;
export type RunStatus = RunFields['status'];

/** A run with its images read out of their fragments (gql.tada masks fragment data until it is read). */
export interface Run extends Omit<RunFields, 'content' | 'result' | 'styles'> {
  content: ImageData;
  result: ImageData | null;
  styles: { name: string; weight: number; image: ImageData }[];
}

export function readRun(ref: FragmentOf<typeof RunSummary>): Run {
  const run = readFragment(RunSummary, ref);
  return {
    ...run,
    content: readFragment(ImageFields, run.content),
    result: run.result ? readFragment(ImageFields, run.result) : null,
    styles: run.styles.map((s) => ({ name: s.name, weight: s.weight, image: readFragment(ImageFields, s.image) })),
  };
}

export const FINISHED: readonly RunStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];
export const isFinished = (status: RunStatus): boolean => FINISHED.includes(status);

/** One point of the loss curve, as RunDetails, RunEvents and RunStepsAfter select it (typed from the schema). */
export type LossStep = NonNullable<ResultOf<typeof RunDetails>['run']>['steps'][number];

/**
 * The loss curve in step order, each step once. Steps reach a view from several places (the run read on
 * connection, the gap filled after a snapshot, live events) and in any order between them; keying by step number
 * makes adding the same step twice harmless.
 */
export class StepSeries {
  private readonly steps: LossStep[] = [];

  get length(): number {
    return this.steps.length;
  }

  /** The highest step held (0 for none). */
  get last(): number {
    return this.steps.at(-1)?.step ?? 0;
  }

  all(): readonly LossStep[] {
    return this.steps;
  }

  /** Adds a step; false if it was already there. */
  add(step: LossStep): boolean {
    if (step.step > this.last) {
      this.steps.push(step);
      return true;
    }
    // Rare: an older step arriving after newer ones. Binary search for its place.
    let lo = 0;
    let hi = this.steps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid]!.step < step.step) lo = mid + 1;
      else hi = mid;
    }
    if (this.steps[lo]?.step === step.step) return false;
    this.steps.splice(lo, 0, step);
    return true;
  }

  /** Starts over from a complete list (the run as stored). */
  reset(steps: readonly LossStep[]): void {
    this.steps.length = 0;
    for (const step of steps) this.add(step);
  }
}

// ---- describing a run ----------------------------------------------------------------------------------------

export function formatLoss(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  return Math.abs(value) >= 1000 || Math.abs(value) < 0.01 ? value.toExponential(2) : value.toPrecision(3);
}

/** A quality score (lower is better), as losses are shown; "–" for none (not scored, or a fast run's style). */
export function formatScore(value: number | null | undefined): string {
  return formatLoss(value);
}

/** The score a view shows for one half of run.quality, or null when the run has no such score. */
export function scoreOf(run: Pick<Run, 'quality'>, which: 'style' | 'content'): number | null {
  return run.quality?.[which] ?? null;
}

/** "style 0.412 · content 0.235" for a scored run (style "–" for a fast model without a painting); null otherwise. */
export function qualityLabel(run: Pick<Run, 'quality'>): string | null {
  if (!run.quality) return null;
  return `style ${formatScore(run.quality.style)} · content ${formatScore(run.quality.content)}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m}m ${String(s).padStart(2, '0')}s` : `${s}s`;
}

export function formatDate(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Wall time of a run so far (server timestamps; clamped, in case the clocks disagree). */
export function elapsedMs(run: Pick<Run, 'startedAt' | 'finishedAt'>, now = Date.now()): number | null {
  if (!run.startedAt) return null;
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now;
  return Math.max(0, end - Date.parse(run.startedAt));
}

/** What the run used, as label/value rows: the same rows in the live view, the history and the comparison. */
export function runParameters(run: Run): [label: string, value: string][] {
  const rows: [string, string][] = [
    ['Engine', run.engine === 'FAST' ? 'Fast (trained network)' : 'Gatys (optimisation)'],
  ];
  if (run.engine === 'FAST') {
    rows.push([
      'Model',
      run.styleModel ? `${run.styleModel.title} (${run.styleModel.name})` : (run.fastParams?.styleModel ?? 'deleted'),
    ]);
    if (run.fastParams?.strength != null) rows.push(['Strength', String(run.fastParams.strength)]);
    if (run.fastParams?.preserveColors) rows.push(['Colours', 'preserved']);
  } else {
    rows.push(['Styles', run.styles.map((s) => styleLabel(run, s)).join(', ')]);
  }
  rows.push(['Preset', run.preset?.name ?? '–']);
  if (run.width && run.height) rows.push(['Size', `${run.width} × ${run.height}`]);
  else if (run.params?.size) rows.push(['Size', `${run.params.size} px`]);
  if (run.params) {
    const p = run.params;
    rows.push(['Steps', p.scales > 1 ? `${p.steps} × ${p.scales} scales` : String(p.steps)]);
    rows.push(['Optimizer', p.optimizer]);
    rows.push(['Weights (content / style / TV)', `${p.contentWeight} / ${p.styleWeight} / ${p.tvWeight}`]);
    if (p.preserveColors) rows.push(['Colours', 'preserved']);
  }
  if (run.losses && run.engine === 'GATYS') rows.push(['Final loss', formatLoss(run.losses.total)]);
  if (run.quality) {
    rows.push(['Style score (lower is better)', formatScore(run.quality.style)]);
    rows.push(['Content score (lower is better)', formatScore(run.quality.content)]);
  }
  const elapsed = elapsedMs(run);
  if (elapsed !== null && run.finishedAt) rows.push(['Time', formatDuration(elapsed)]);
  return rows;
}

/** The best picture of a run: its result, else the content it started from. */
export function thumbnailOf(run: Run): ImageData {
  return run.result ?? run.content;
}

/** A style of a run: its name, with its blend weight when the run blends several. */
export function styleLabel(run: Pick<Run, 'styles'>, style: Run['styles'][number]): string {
  return run.styles.length > 1 ? `${style.name} × ${style.weight.toFixed(2)}` : style.name;
}

/** "The Scream", "Mosaic (fast)" or "Two styles": what a run is, in a few words. */
export function describe(run: Run): string {
  if (run.engine === 'FAST') return `${run.styleModel?.title ?? run.fastParams?.styleModel ?? 'Fast style'} · fast`;
  if (run.styles.length === 1) return run.styles[0]!.name;
  return run.styles.map((s) => s.name).join(' + ');
}
