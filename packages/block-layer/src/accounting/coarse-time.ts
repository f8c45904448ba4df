import type { Clock } from '@vmkit/core';

/** Readings one host-clock value may serve before the clock is read again. */
const MAX_USES = 8;
/** Direct readings closer than this (ns) count as a burst. */
const BURST_GAP_NS = 1000;
/** Consecutive close readings after which readings are shared. */
const BURST_READS = 3;
/**
 * Readings per synchronous run below which sharing does not pay for its microtask. Measured: a
 * promise reaction costs about as much as a clock read in context, so runs of two (a completion
 * and the submission it triggers, as at queue depth 1) are read directly.
 */
const MIN_USES_PER_RUN = 3;

/**
 * Settled promise whose `then` queues the invalidation: Node's queueMicrotask() creates an
 * AsyncResource and a bound function per call, several times the price of the clock read saved.
 */
const SETTLED = Promise.resolve();

/**
 * Host time for the accounting hot path: accounting reads the clock twice per request, and those
 * reads were most of its cost.
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
 * deferred, and queued after the invalidation of the reading its start used (the invalidation is
 * queued by the first reading of the run).
 *
 * Only for the host clock: a VirtualClock is exact and cheap, and is read every time.
 */
export class CoarseHostTime {
  /** Uses left of `cached`; 0 when there is no valid shared reading (or not sharing). */
  private left = 0;
  /** The shared reading of the current run. */
  private cached = 0;
  /** Sharing readings (burst mode); `runReads` readings taken in the current run. */
  private sharing = false;
  private runReads = 0;
  /** Last direct reading and how many close readings preceded it (direct mode). */
  private last = 0;
  private close = 0;

  private readonly endOfRun = (): void => {
    // Uses in the run: every reading but the last served MAX_USES, the last MAX_USES - left.
    const uses = (this.runReads - 1) * MAX_USES + (MAX_USES - this.left);
    this.left = 0;
    this.runReads = 0;
    if (uses < MIN_USES_PER_RUN) {
      this.sharing = false;
      this.close = 0;
    }
  };

  constructor(private readonly clock: Clock) {}

  now(): number {
    if (this.left > 0) {
      this.left--;
      return this.cached;
    }
    return this.sharing ? this.share() : this.direct();
  }

  /** One reading of the clock. */
  private read(): number {
    return this.clock.now();
  }

  /** Burst mode, the shared reading used up (or none yet in this run): take a new one. */
  private share(): number {
    if (this.runReads++ === 0) void SETTLED.then(this.endOfRun);
    this.left = MAX_USES - 1;
    return (this.cached = this.read());
  }

  /** Direct mode: read, and switch to sharing after BURST_READS close readings. */
  private direct(): number {
    const t = this.read();
    if (t - this.last < BURST_GAP_NS) {
      if (++this.close >= BURST_READS) {
        this.sharing = true;
        this.runReads = 1;
        this.left = MAX_USES - 1;
        this.cached = t;
        void SETTLED.then(this.endOfRun);
      }
    } else this.close = 0;
    this.last = t;
    return t;
  }
}
