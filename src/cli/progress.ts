// A one-line progress bar on stderr that redraws in place on a terminal and prints plain lines otherwise.

export class ProgressBar {
  private lastPlainPercent = -1;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 30,
  ) {}

  update(done: number, total: number, label = ''): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const percent = Math.floor(fraction * 100);
    if (!this.stream.isTTY) {
      // Logs: one line per 10%.
      if (percent >= this.lastPlainPercent + 10 || done === total) {
        this.lastPlainPercent = percent;
        this.stream.write(`${percent}% ${label}\n`);
      }
      return;
    }
    const filled = Math.round(fraction * this.width);
    this.stream.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${String(percent).padStart(3)}% ${label}\x1b[K`,
    );
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    this.stream.write(this.stream.isTTY ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 2 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
}
