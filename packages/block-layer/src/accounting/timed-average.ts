import type { Clock } from '@vmkit/core';

/** One of the two overlapping windows of a TimedAverage (QEMU `TimedAverageWindow`). */
class Window {
  /** Infinity stands for QEMU's UINT64_MAX "no sample yet". */
  min = Infinity;
  max = 0;
  sum = 0;
  count = 0;
  /** Clock time (ns) at which the window is reset. */
  expiration = 0;

  reset(): void {
    this.min = Infinity;
    this.max = 0;
    this.sum = 0;
    this.count = 0;
  }

  /** Move the expiration to the next point of its grid strictly after `now` (update_expiration). */
  rearm(now: number, period: number): void {
    const elapsed = (now - this.expiration) % period;
    this.expiration = now + (period - elapsed);
  }

  add(value: number): void {
    this.sum += value;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }
}

/**
 * Minimum, maximum and average of the values accounted during roughly the last `periodNs`
 * (util/timed-average.c).
 *
 * Two windows of length `period` = 4/3 of the requested period expire half a period apart; a
 * value goes into both and results come from the older one, so what is reported always covers
 * between 2/3 and 4/3 of the requested period. Windows rotate lazily: expirations are checked
 * against the clock whenever a value is accounted or read, no timer is armed.
 */
export class TimedAverage {
  /** The effective window length in ns: requested period × 4/3 (rounded down). */
  readonly periodNs: number;
  private readonly w0 = new Window();
  private readonly w1 = new Window();

  constructor(
    private readonly clock: Clock,
    requestedPeriodNs: number,
  ) {
    if (!Number.isInteger(requestedPeriodNs) || requestedPeriodNs <= 0) {
      throw new RangeError(`TimedAverage: period must be a positive integer of ns, got ${requestedPeriodNs}`);
    }
    // BigInt so that long intervals (×4 beyond 2^53) still round like QEMU's uint64 math. A period
    // beyond 2^53 ns (104 days) is inexact, but such windows never expire within safe clock times.
    this.periodNs = Number((BigInt(requestedPeriodNs) * 4n) / 3n);
    const now = clock.now();
    this.w0.expiration = now + Math.floor(this.periodNs / 2);
    this.w1.expiration = now + this.periodNs;
  }

  /** timed_average_account(): add a value to both windows. */
  account(value: number): void {
    this.accountAt(value, this.clock.now());
  }

  /** account() with the clock already read by the caller (block accounting reads it once per op). */
  accountAt(value: number, now: number): void {
    this.checkExpirations(now);
    this.w0.add(value);
    this.w1.add(value);
  }

  /** Smallest value in the current window; 0 when it is empty. */
  min(): number {
    const w = this.checkExpirations(this.clock.now());
    return w.min === Infinity ? 0 : w.min;
  }

  /** Integer average (rounded down, as QEMU's uint64 division) of the current window; 0 when empty. */
  avg(): number {
    const w = this.checkExpirations(this.clock.now());
    return w.count > 0 ? Math.floor(w.sum / w.count) : 0;
  }

  /** Largest value in the current window; 0 when it is empty. */
  max(): number {
    return this.checkExpirations(this.clock.now()).max;
  }

  /** Sum of the values in the current window (timed_average_sum). */
  sum(): number {
    return this.checkExpirations(this.clock.now()).sum;
  }

  /** Time covered so far by the current window, in ns (the `elapsed` out-parameter of timed_average_sum). */
  elapsedNs(): number {
    const now = this.clock.now();
    const w = this.checkExpirations(now);
    return this.periodNs - (w.expiration - now);
  }

  /**
   * check_expirations(): reset expired windows, re-arm them on their grid, and return the older
   * one (earliest expiration), which is where results are read from.
   */
  private checkExpirations(now: number): Window {
    const p = this.periodNs;
    if (this.w0.expiration <= now) {
      this.w0.reset();
      this.w0.rearm(now, p);
    }
    if (this.w1.expiration <= now) {
      this.w1.reset();
      this.w1.rearm(now, p);
    }
    return this.w0.expiration < this.w1.expiration ? this.w0 : this.w1;
  }
}
