/**
 * Latency histograms in the BlockBackend's accounting (QEMU's block-latency-histogram-set):
 * boundaries spaced 20 per decade from 1 µs to 100 s, so a percentile read from the bins is
 * within 12 % of the true value, and the percentiles the summary prints.
 */

const PER_DECADE = 20;
const FIRST_NS = 1_000;
const LAST_NS = 100e9;

/** Boundaries in ns, strictly increasing integers (what block_latency_histogram_set accepts). */
export const LATENCY_BOUNDARIES_NS: readonly number[] = (() => {
  const out: number[] = [];
  const steps = Math.round(Math.log10(LAST_NS / FIRST_NS) * PER_DECADE);
  for (let i = 0; i <= steps; i++) {
    const b = Math.round(FIRST_NS * 10 ** (i / PER_DECADE));
    if (out.length === 0 || b > out[out.length - 1]) out.push(b);
  }
  return out;
})();

/**
 * The latency below which `quantile` (0..1) of the samples fall, as the upper boundary of the bin
 * that holds that sample (bins: [0, b0), [b0, b1), …, [bn, ∞)); the last bin reports `bn`, and
 * `cap` (the largest latency seen) bounds the answer. Undefined without samples.
 */
export function histogramPercentile(
  boundaries: readonly number[],
  bins: readonly number[],
  quantile: number,
  cap = Infinity,
): number | undefined {
  let total = 0;
  for (const n of bins) total += n;
  if (total === 0) return undefined;
  // The rank of the sample, 1-based (nearest-rank method).
  const rank = Math.max(1, Math.ceil(quantile * total));
  let seen = 0;
  for (let i = 0; i < bins.length; i++) {
    seen += bins[i];
    if (seen >= rank) {
      const upper = i < boundaries.length ? boundaries[i] : boundaries[boundaries.length - 1];
      return Math.min(upper, cap);
    }
  }
  return Math.min(boundaries[boundaries.length - 1], cap);
}
