/**
 * `-p` progress for convert and compare. On a terminal: a bar redrawn in place
 * (`[#########-----------]  45.00%`). Elsewhere: qemu-img's text (`    (45.00/100%)\r` each time at
 * least one percent more is done), so logs look like QEMU's.
 */

const BAR_WIDTH = 40;

export class Progress {
  private lastPrinted = -1;
  private done = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly enabled: boolean,
    private readonly tty: boolean,
  ) {}

  private render(percent: number): string {
    if (!this.tty) return `    (${percent.toFixed(2)}/100%)\r`;
    const filled = Math.round((percent / 100) * BAR_WIDTH);
    return `\r[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${percent.toFixed(2).padStart(6)}%`;
  }

  /** Reports `fraction` (0..1) done; prints when it moved by a whole percent (or reached 100). */
  update(fraction: number): void {
    if (!this.enabled || this.done) return;
    const percent = Math.min(100, Math.max(0, fraction * 100));
    if (this.lastPrinted >= 0 && percent < this.lastPrinted + 1 && percent < 100) return;
    if (percent === this.lastPrinted) return;
    this.lastPrinted = percent;
    this.write(this.render(percent));
  }

  /** Final state and end of line (qemu_progress_end). */
  end(): void {
    if (!this.enabled || this.done) return;
    this.done = true;
    this.write(this.render(this.lastPrinted < 0 ? 0 : this.lastPrinted) + '\n');
  }
}
