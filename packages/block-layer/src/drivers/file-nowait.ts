/**
 * When the `file` driver tries a request inline on the event loop with RWF_NOWAIT
 * (preadv2/pwritev2 through @vmkit/host-io), before the thread pool.
 *
 * A page-cached 4 KiB read copied inline costs about a microsecond; through the thread pool it
 * pays a worker wake-up, the completion's async handle and another loop turn. A miss costs the
 * failed system call (-EAGAIN) on top of the thread-pool trip, so each direction of each open
 * file has a gate that learns:
 * - -EOPNOTSUPP / -EINVAL / -ENOSYS: the kernel or the file system does not do RWF_NOWAIT in
 *   that direction; it is never tried again for this file. Directions are separate because
 *   support differs: ext4 (Linux 6.18) takes RWF_NOWAIT for buffered reads and refuses it with
 *   -EOPNOTSUPP for every buffered write; tmpfs refuses both.
 * - -EAGAIN streaks: after STREAK misses in a row the gate skips the next `backoff` requests,
 *   then probes once; each further miss doubles the backoff (up to MAX_BACKOFF). Any transfer
 *   resets it. A working set that is not cached (or writes that always need block allocation)
 *   thus costs one wasted system call per ~1000 requests, and the gate reopens within about a
 *   thousand requests once the data is cached again.
 */

/**
 * Requests larger than this always go to the thread pool: a large copy holds the event loop (and
 * every other device on it), and large I/O gains from the pool's parallelism. Page-cached reads
 * through vmkit-img bench, 2 cores, CPU µs per request (user + system), inline / thread pool:
 * 64 KiB: 20 / 30 (depth 8), 20 / 28 (depth 32), IOPS up to 1.5x; 128 KiB: 49 / 50 and 45 / 45,
 * IOPS within the noise either way; 256 KiB and more: the thread pool has 1.5x the IOPS at depth
 * 8 and 32. So the cap is where inline still clearly saves CPU.
 */
export const NOWAIT_MAX_BYTES = 64 * 1024;

/** Misses in a row before the gate starts skipping requests. */
const STREAK = 4;
const MIN_BACKOFF = 8;
const MAX_BACKOFF = 1024;

/** The inline-attempt state of one direction of one open file. */
export class NowaitGate {
  /** Consecutive -EAGAIN results. */
  private misses = 0;
  /** Requests still to send straight to the thread pool. */
  private skip = 0;
  /** The next skip length. */
  private backoff = MIN_BACKOFF;

  /** `enabled`: false with nowait=off, cache.direct=on, or once the host refused RWF_NOWAIT. */
  constructor(public enabled: boolean) {}

  /** Whether to try the next request inline (counts down a backoff). */
  admit(): boolean {
    if (!this.enabled) return false;
    if (this.skip === 0) return true;
    this.skip--;
    return false;
  }

  /** Some bytes were transferred inline. */
  hit(): void {
    this.misses = 0;
    this.backoff = MIN_BACKOFF;
  }

  /** -EAGAIN: the request would have blocked. */
  miss(): void {
    if (++this.misses < STREAK) return;
    this.skip = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
  }

  /** The host does not do RWF_NOWAIT here: stop trying. */
  refuse(): void {
    this.enabled = false;
  }
}
