import type { Clock } from '@vmkit/core';

/** Readings one host-clock value may serve before the clock is read again. */
const MAX_USES = 8;
/** Direct readings closer than this (ns) count as a burst. */
const BURST_GAP_NS = 1000;
/** Consecutive close readings after which readings are shared. */
const BURST_READS = 3;
/** Readings per synchronous run below which sharing does not pay for its microtask. */
const MIN_USES_PER_RUN = 3;

/**
 * Settled promise whose `then` queues the invalidation: Node's queueMicrotask() creates an
 * AsyncResource and a bound function per call, several times the price of the clock read saved.
 */
const SETTLED = Promise.resolve();

/**
 * Host time for the accounting hot path. Reading the host clock costs about 60-70 ns in Node 20
 * (performance.now() is a lazy global getter, a brand check and a native call), and accounting
 * reads it twice per request: that was most of the accounting cost.
 *
 * When readings come in bursts (many requests started and completed in one synchronous run, as
 * at queue depth > 1), a reading serves the following ones of the same run, at most MAX_USES of
 * them, and is dropped at the next microtask checkpoint. When they do not (queue depth 1: two
 * readings per loop turn), sharing would cost more than it saves (the invalidation is a microtask),
 * so the clock is read every time, until readings come in bursts again.
 *
 * Shared values are real readings of the clock: they never run ahead of it and stay monotonic.
 * The error is bounded by the work done between a reading and its reuses (a few requests' worth,
 * a few µs at most). A request's start and end never share a reading: its completion is always
 * deferred, and queued after the invalidation of the reading its start used.
 *
 * Only for the host clock: a VirtualClock is exact and cheap, and is read every time.
 */
export class CoarseHostTime {
  /** Sharing readings (burst mode). */
  private sharing = false;
  /** The shared reading, -1 when none is valid. */
  private cached = -1;
  /** Uses of `cached` so far. */
  private uses = 0;
  /** Uses in the current run (burst mode), to notice the end of bursts. */
  private runUses = 0;
  /** Last direct reading and how many close readings preceded it (direct mode). */
  private last = 0;
  private close = 0;

  private readonly endOfRun = (): void => {
    this.cached = -1;
    if (this.runUses < MIN_USES_PER_RUN) {
      this.sharing = false;
      this.close = 0;
    }
    this.runUses = 0;
  };

  constructor(private readonly clock: Clock) {}

  now(): number {
    if (this.sharing) {
      this.runUses++;
      if (this.cached >= 0) {
        if (this.uses < MAX_USES) {
          this.uses++;
          return this.cached;
        }
      } else void SETTLED.then(this.endOfRun);
      this.uses = 1;
      return (this.cached = this.clock.now());
    }
    const t = this.clock.now();
    if (t - this.last < BURST_GAP_NS) {
      if (++this.close >= BURST_READS) {
        this.sharing = true;
        this.runUses = 1;
        this.uses = 1;
        this.cached = t;
        void SETTLED.then(this.endOfRun);
      }
    } else this.close = 0;
    this.last = t;
    return t;
  }
}
