import { checkDeadline, type Clock, type ClockTimer } from './clock.js';

/** setTimeout's largest delay; longer waits are done in several hops. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

class HostTimer implements ClockTimer {
  private armedDeadline = -1;
  private handle: NodeJS.Timeout | undefined;

  constructor(
    private readonly clock: HostClock,
    private readonly callback: () => void,
  ) {}

  get pending(): boolean {
    return this.handle !== undefined;
  }

  get deadline(): number {
    return this.handle === undefined ? -1 : this.armedDeadline;
  }

  arm(deadlineNs: number): void {
    checkDeadline(deadlineNs);
    if (this.handle !== undefined) {
      if (deadlineNs === this.armedDeadline) return;
      clearTimeout(this.handle);
    }
    this.armedDeadline = deadlineNs;
    this.start();
  }

  cancel(): void {
    if (this.handle === undefined) return;
    clearTimeout(this.handle);
    this.handle = undefined;
    this.armedDeadline = -1;
  }

  private start(): void {
    const delayNs = this.armedDeadline - this.clock.now();
    const ms = delayNs <= 0 ? 0 : Math.min(Math.ceil(delayNs / 1e6), MAX_TIMEOUT_MS);
    // unref: a pending guest timer must not keep the process alive on its own.
    this.handle = setTimeout(this.expire, ms).unref();
  }

  private readonly expire = (): void => {
    // setTimeout works in ms of the loop's cached time and may wake a little early.
    if (this.clock.now() < this.armedDeadline) {
      this.start();
      return;
    }
    this.handle = undefined;
    this.armedDeadline = -1;
    this.callback();
  };
}

/**
 * Real monotonic time, ns since this clock was created; setTimeout-backed timers. Reads
 * `process.hrtime()` (exact integer ns, the same monotonic source as `performance.now()`):
 * accounting reads the clock twice per request, and the global `performance` getter plus its
 * brand check made `performance.now()` the dearer of the two (about 135 against 85-100 ns in
 * Node 20); `process.hrtime.bigint()` allocates a BigInt and costs twice as much again.
 */
export class HostClock implements Clock {
  readonly kind = 'host' as const;
  private readonly originSec: number;
  private readonly originNs: number;

  constructor() {
    const h = process.hrtime();
    this.originSec = h[0];
    this.originNs = h[1];
  }

  now(): number {
    const h = process.hrtime();
    return (h[0] - this.originSec) * 1e9 + (h[1] - this.originNs);
  }

  createTimer(callback: () => void): ClockTimer {
    return new HostTimer(this, callback);
  }
}

let defaultHostClock: HostClock | undefined;

/** The process-wide HostClock used by contexts created without a clock. */
export function hostClock(): HostClock {
  return (defaultHostClock ??= new HostClock());
}
