/**
 * Clocks of the event loop (QEMU's QEMUClock + QEMUTimer, reduced to what vmkit needs).
 * Times are `number` nanoseconds: exact up to 2^53 ns, about 104 days of uptime.
 */

export type ClockKind = 'virtual' | 'host';

/** A source of monotonic time that can arm timers. */
export interface Clock {
  readonly kind: ClockKind;
  /** Current time in ns; never goes backwards. */
  now(): number;
  /** Low-level timer on this clock; most code uses `AioContext.newTimer()`. */
  createTimer(callback: () => void): ClockTimer;
}

/** A one-shot timer (QEMUTimer): armed with an absolute deadline, disarmed when it fires. */
export interface ClockTimer {
  readonly pending: boolean;
  /** Armed deadline in ns; -1 when not armed. */
  readonly deadline: number;
  /** timer_mod: arming an armed timer replaces its deadline. */
  arm(deadlineNs: number): void;
  /** timer_del: no-op when not armed. */
  cancel(): void;
}

/** Deadlines must be finite numbers; a deadline in the past fires as soon as the clock can. */
export function checkDeadline(deadlineNs: number): void {
  if (!Number.isFinite(deadlineNs)) {
    throw new RangeError(`timer deadline must be a finite number of ns, got ${String(deadlineNs)}`);
  }
}
