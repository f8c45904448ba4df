import type { Clock } from '@vmkit/core';

/** Readings one host-clock value may serve before the clock is read again. */
const MAX_USES = 8;

/**
 * Host time for the accounting hot path. Reading the host clock costs about 60-70 ns in Node 20
 * (performance.now() is a native call), and accounting reads it twice per request, which made it
 * the largest part of the accounting cost. A reading here serves the following ones of the same
 * synchronous run, at most MAX_USES of them; it is dropped at the next microtask checkpoint.
 *
 * Values are real readings of the clock, so they never run ahead of it and stay monotonic. The
 * error is bounded by the work done between a reading and its reuses (a few requests' worth,
 * sub-microsecond to a few µs). A request's start and end never share a reading: its completion
 * is always deferred and queued after the invalidation of the reading its start used.
 *
 * Only for the host clock: a VirtualClock is exact and cheap, and is read every time.
 */
export class CoarseHostTime {
  private cached = -1;
  private uses = 0;
  private readonly invalidate = (): void => {
    this.cached = -1;
  };

  constructor(private readonly clock: Clock) {}

  now(): number {
    if (this.cached >= 0 && this.uses < MAX_USES) {
      this.uses++;
      return this.cached;
    }
    if (this.cached < 0) queueMicrotask(this.invalidate);
    this.uses = 1;
    return (this.cached = this.clock.now());
  }
}
