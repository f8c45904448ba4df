/**
 * Live progress while the jobs run. On a terminal: one line per device, redrawn in place about
 * four times a second (cursor up, then `\r` + clear line for each); otherwise one plain line per
 * device every second, suitable for logs and pipes. Rates are computed between two samples of
 * the BlockBackend's accounting; `in flight` is what the guest driver has outstanding and
 * `throttled` what the throttle group holds back.
 */
import type { Clock, ClockTimer } from '@vmkit/core';
import { sig3 } from './format.js';

export type ProgressMode = 'tty' | 'plain' | 'off';

/** One device's counters at a moment. */
export interface ProgressSample {
  readonly reads: number;
  readonly writes: number;
  readonly bytes: number;
  readonly inFlight: number;
  readonly throttled: number;
}

export interface ProgressSource {
  readonly id: string;
  readonly type: string;
  /** Job runtime in ns, when time-limited. */
  readonly runtimeNs: number | undefined;
  sample(): ProgressSample;
}

export const TTY_INTERVAL_NS = 250e6;
export const PLAIN_INTERVAL_NS = 1e9;

const CLEAR_LINE = '\r\x1b[2K';

export class Progress {
  private timer: ClockTimer | null = null;
  private startNs = 0;
  private lastNs = 0;
  private last: ProgressSample[] = [];
  private drawn = 0;
  private readonly intervalNs: number;

  constructor(
    private readonly write: (text: string) => void,
    readonly mode: ProgressMode,
    private readonly clock: Clock,
    private readonly sources: readonly ProgressSource[],
  ) {
    this.intervalNs = mode === 'tty' ? TTY_INTERVAL_NS : PLAIN_INTERVAL_NS;
  }

  start(): void {
    if (this.mode === 'off' || this.sources.length === 0) return;
    this.startNs = this.lastNs = this.clock.now();
    this.last = this.sources.map((s) => s.sample());
    this.timer = this.clock.createTimer(this.tick);
    this.timer.arm(this.startNs + this.intervalNs);
  }

  /** Stops updating; on a terminal the live lines are erased (the summary follows). */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
    if (this.mode === 'tty' && this.drawn > 0) {
      this.write(`\x1b[${this.drawn}A\r\x1b[J`);
      this.drawn = 0;
    }
  }

  private readonly tick = (): void => {
    const now = this.clock.now();
    const lines = this.lines(now);
    if (this.mode === 'tty') {
      const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
      this.write(up + lines.map((l) => `${CLEAR_LINE}${l}\n`).join(''));
      this.drawn = lines.length;
    } else {
      this.write(lines.map((l) => `${l}\n`).join(''));
    }
    this.timer?.arm(now + this.intervalNs);
  };

  /** The lines for the interval ending at `now` (and takes the new samples as reference). */
  lines(now: number): string[] {
    const dt = (now - this.lastNs) / 1e9;
    const elapsed = (now - this.startNs) / 1e9;
    const idWidth = Math.max(...this.sources.map((s) => s.id.length));
    const out = this.sources.map((s, i) => {
      const cur = s.sample();
      const prev = this.last[i];
      this.last[i] = cur;
      const r = dt > 0 ? (cur.reads - prev.reads) / dt : 0;
      const w = dt > 0 ? (cur.writes - prev.writes) / dt : 0;
      const mib = dt > 0 ? (cur.bytes - prev.bytes) / 1048576 / dt : 0;
      const rates = `${sig3(r + w)} IOPS (r ${sig3(r)} / w ${sig3(w)}), ${sig3(mib)} MiB/s`;
      const load = `in flight ${cur.inFlight}, throttled ${cur.throttled}`;
      if (this.mode === 'tty') {
        const time =
          s.runtimeNs !== undefined
            ? `${elapsed.toFixed(1)}/${(s.runtimeNs / 1e9).toFixed(0)} s`
            : `${elapsed.toFixed(1)} s`;
        return `${s.id.padEnd(idWidth)}  ${s.type.padEnd(10)}  ${time}  ${rates}, ${load}`;
      }
      return `[${elapsed.toFixed(1)} s] ${s.id}: ${rates}, ${load}`;
    });
    this.lastNs = now;
    return out;
  }
}
