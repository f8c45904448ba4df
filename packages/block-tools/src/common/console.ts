/**
 * Where a tool writes: standard output for results, standard error for `prog: message` error
 * reports (QEMU's error_report). Tests capture both by passing their own sinks.
 */

/** A text sink (a stream's `write`). */
export type TextSink = (text: string) => void;

export class ToolConsole {
  constructor(
    /** Program name used as the error prefix (`vmkit-io: ...`). */
    readonly prog: string,
    private readonly stdout: TextSink,
    private readonly stderr: TextSink,
  ) {}

  /** Writes `text` to standard output as is. */
  write(text: string): void {
    this.stdout(text);
  }

  /** One line on standard output. */
  line(text = ''): void {
    this.stdout(text + '\n');
  }

  /** One line on standard error, as is (getopt-style and raw messages). */
  errLine(text: string): void {
    this.stderr(text + '\n');
  }

  /** error_report: `prog: message` on standard error. */
  error(message: string): void {
    this.stderr(`${this.prog}: ${message}\n`);
  }

  /** warn_report: `prog: warning: message` on standard error. */
  warn(message: string): void {
    this.stderr(`${this.prog}: warning: ${message}\n`);
  }
}
