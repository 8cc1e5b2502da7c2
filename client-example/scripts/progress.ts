// One progress line per run. On a terminal the lines are redrawn in place (at most every 100 ms); otherwise each
// change of status or queue position, each tenth of the steps and the end are printed as plain log lines.

export interface RunProgress {
  status: string;
  queuePosition: number | null;
  step: number;
  totalSteps: number;
  totalLoss: number | null;
  /** Shown instead of the loss: a download in progress, an error code. */
  note: string;
}

const BAR = 20;

function formatLoss(loss: number | null): string {
  return loss === null ? '' : `loss ${loss.toExponential(3)}`;
}

function formatStatus(p: RunProgress): string {
  if (p.status === 'QUEUED')
    return p.queuePosition === null ? 'queued' : p.queuePosition > 0 ? `queued #${p.queuePosition}` : 'starting';
  return p.status.toLowerCase();
}

export class ProgressBoard {
  private readonly runs: RunProgress[];
  private readonly labelWidth: number;
  private readonly tty: boolean;
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Plain mode: what was last printed per run, to print only changes. */
  private readonly printed: { status: string; queuePosition: number | null; tenth: number; note: string }[];

  constructor(
    private readonly labels: readonly string[],
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.runs = labels.map(() => ({
      status: 'QUEUED',
      queuePosition: null,
      step: 0,
      totalSteps: 0,
      totalLoss: null,
      note: '',
    }));
    this.printed = labels.map(() => ({ status: '', queuePosition: null, tenth: -1, note: '' }));
    this.labelWidth = Math.min(40, Math.max(...labels.map((l) => l.length)));
    this.tty = Boolean(stream.isTTY);
  }

  update(index: number, change: Partial<RunProgress>): void {
    const run = this.runs[index];
    if (!run) return;
    Object.assign(run, change);
    if (!this.tty) return this.printChange(index, run);
    // Redraw at once when the status changes, otherwise at most every 100 ms.
    if (change.status !== undefined) this.draw();
    else this.timer ??= setTimeout(() => this.draw(), 100);
  }

  /** The final state of every line (call before printing anything else). */
  finish(): void {
    if (this.tty) this.draw();
  }

  private line(index: number): string {
    const run = this.runs[index]!;
    const label = this.labels[index]!;
    const name =
      label.length > this.labelWidth ? `${label.slice(0, this.labelWidth - 1)}…` : label.padEnd(this.labelWidth);
    const fraction = run.totalSteps > 0 ? Math.min(1, run.step / run.totalSteps) : 0;
    const filled = Math.round(fraction * BAR);
    const bar = `[${'█'.repeat(filled)}${'░'.repeat(BAR - filled)}]`;
    const steps = run.totalSteps > 0 ? `${run.step}/${run.totalSteps}` : '';
    return [name, bar, steps.padStart(9), formatStatus(run).padEnd(9), run.note || formatLoss(run.totalLoss)]
      .join(' ')
      .trimEnd();
  }

  private draw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const columns = this.stream.columns || 120;
    // Back to the first line, then every line cleared and rewritten (cut to the terminal's width, so none wraps).
    let out = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (let i = 0; i < this.runs.length; i++) out += `\r${this.line(i).slice(0, columns - 1)}\x1b[K\n`;
    this.stream.write(out);
    this.drawn = this.runs.length;
  }

  private printChange(index: number, run: RunProgress): void {
    const last = this.printed[index]!;
    const tenth = run.totalSteps > 0 ? Math.floor((10 * run.step) / run.totalSteps) : -1;
    if (
      run.status === last.status &&
      run.queuePosition === last.queuePosition &&
      tenth <= last.tenth &&
      run.note === last.note
    )
      return;
    Object.assign(last, {
      status: run.status,
      queuePosition: run.queuePosition,
      tenth: Math.max(tenth, last.tenth),
      note: run.note,
    });
    const steps = run.totalSteps > 0 ? ` step ${run.step}/${run.totalSteps}` : '';
    const detail = run.note || formatLoss(run.totalLoss);
    this.stream.write(`${this.labels[index]}: ${formatStatus(run)}${steps}${detail ? ` ${detail}` : ''}\n`);
  }
}
