import { Errno } from '@vmkit/core';

/**
 * A latency histogram for one accounting type (QEMU `BlockLatencyHistogram`).
 *
 * With boundaries b0 < b1 < … < bn the bins count latencies in [0, b0), [b0, b1), …, [bn, ∞).
 * A histogram without boundaries is disabled and ignores samples.
 */
export class BlockLatencyHistogram {
  private bounds: Float64Array | null = null;
  private counts: Float64Array | null = null;

  /** `onChange` runs after every set() that succeeds and every clear() (owners cache `enabled`). */
  constructor(private readonly onChange?: () => void) {}

  /** True once boundaries have been set (and until cleared). */
  get enabled(): boolean {
    return this.counts !== null;
  }

  /** Copy of the boundaries in ns, or undefined when disabled. */
  get boundaries(): number[] | undefined {
    return this.bounds ? Array.from(this.bounds) : undefined;
  }

  /** Copy of the bin counts (boundaries + 1 of them), or undefined when disabled. */
  get bins(): number[] | undefined {
    return this.counts ? Array.from(this.counts) : undefined;
  }

  /**
   * block_latency_histogram_set(): install new boundaries and zero the bins.
   * Returns 0, or -EINVAL (leaving the histogram unchanged) when the list is empty or not
   * strictly increasing from above 0. Non-integers and values beyond 2^53 are refused the
   * same way, standing in for the uint64 type check QAPI does before QEMU gets here.
   */
  set(boundariesNs: readonly number[]): number {
    let prev = 0;
    for (const b of boundariesNs) {
      if (!Number.isSafeInteger(b) || b <= prev) return -Errno.EINVAL;
      prev = b;
    }
    // Accounting reads boundaries[0] unconditionally, and one bin would be useless anyway.
    if (boundariesNs.length === 0) return -Errno.EINVAL;
    this.bounds = Float64Array.from(boundariesNs);
    this.counts = new Float64Array(boundariesNs.length + 1);
    this.onChange?.();
    return 0;
  }

  /** Disable the histogram and drop its boundaries and bins. */
  clear(): void {
    this.bounds = null;
    this.counts = null;
    this.onChange?.();
  }

  /** Count one latency (block_latency_histogram_account); no-op while disabled. */
  account(latencyNs: number): void {
    const bounds = this.bounds;
    const counts = this.counts;
    if (bounds === null || counts === null) return;
    // Binary search for the first boundary above the latency: its index is the bin.
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (latencyNs < bounds[mid]) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]++;
  }
}
