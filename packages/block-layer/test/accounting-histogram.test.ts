import { expect } from 'chai';
import { ConfigError, Errno, VirtualClock } from '@vmkit/core';
import {
  BlockAcctCookie,
  BlockAcctStats,
  BlockAcctType,
  BlockLatencyHistogram,
  blockLatencyHistogramSet,
} from '../src/accounting/index.js';

const { READ, WRITE, FLUSH, ZONE_APPEND, UNMAP } = BlockAcctType;

describe('accounting: latency histograms (block_latency_histogram_*)', () => {
  it('test-block-accounting: set() returns 0 for {1000, 5000, 50000}; nbins = boundaries + 1, all 0', () => {
    const h = new BlockLatencyHistogram();
    expect(h.enabled).to.equal(false);
    expect(h.set([1000, 5000, 50000])).to.equal(0);
    expect(h.enabled).to.equal(true);
    expect(h.boundaries).to.deep.equal([1000, 5000, 50000]);
    expect(h.bins).to.deep.equal([0, 0, 0, 0]);
  });

  it('at least one boundary is required: [] -> -EINVAL', () => {
    expect(new BlockLatencyHistogram().set([])).to.equal(-Errno.EINVAL);
  });

  it('boundaries must be strictly increasing and > 0, otherwise -EINVAL and the histogram is unchanged', () => {
    const h = new BlockLatencyHistogram();
    expect(h.set([10, 20])).to.equal(0);
    h.account(15);
    for (const bad of [[0], [0, 5], [5, 5], [5, 4], [10, 20, 20], [1, 3, 2], [-1, 2], [1.5], [2 ** 53]]) {
      expect(h.set(bad), JSON.stringify(bad)).to.equal(-Errno.EINVAL);
    }
    expect(h.boundaries).to.deep.equal([10, 20]);
    expect(h.bins).to.deep.equal([0, 1, 0]);
  });

  it('bins are [0, b0), [b0, b1), ..., [b_last, inf)', () => {
    const h = new BlockLatencyHistogram();
    h.set([1000, 5000, 50000]);
    for (const lat of [0, 999, 1000, 4999, 5000, 49999, 50000, 1e12]) h.account(lat);
    expect(h.bins).to.deep.equal([2, 2, 2, 2]);
    const one = new BlockLatencyHistogram();
    one.set([7]);
    for (const lat of [6, 7, 8]) one.account(lat);
    expect(one.bins).to.deep.equal([1, 2]);
  });

  it('set() again replaces the boundaries and resets the bins', () => {
    const h = new BlockLatencyHistogram();
    h.set([10]);
    h.account(1);
    h.account(100);
    expect(h.set([10, 100])).to.equal(0);
    expect(h.bins).to.deep.equal([0, 0, 0]);
  });

  it('a disabled histogram ignores samples; clear() disables it', () => {
    const h = new BlockLatencyHistogram();
    h.account(5);
    expect(h.bins).to.equal(undefined);
    h.set([10]);
    h.account(5);
    h.clear();
    expect(h.enabled).to.equal(false);
    expect(h.boundaries).to.equal(undefined);
    h.account(5);
    expect(h.bins).to.equal(undefined);
  });

  it('the boundaries given to set() are copied; the getters return copies', () => {
    const h = new BlockLatencyHistogram();
    const b = [10, 20];
    h.set(b);
    b[0] = 15;
    h.bins![0] = 99;
    expect(h.boundaries).to.deep.equal([10, 20]);
    expect(h.bins).to.deep.equal([0, 0, 0]);
  });

  it('BlockAcctStats: done and failed feed the histogram of the cookie type; clearLatencyHistograms disables all', async () => {
    const clock = new VirtualClock(1);
    const stats = new BlockAcctStats(clock);
    stats.accountFailed = false; // histograms count failed ops regardless
    for (const t of [READ, WRITE, FLUSH, ZONE_APPEND, UNMAP])
      expect(stats.setLatencyHistogram(t, [100])).to.equal(0);
    const c = new BlockAcctCookie();
    stats.start(c, 512, READ);
    await clock.advance(50);
    stats.done(c);
    stats.start(c, 512, WRITE);
    await clock.advance(150);
    stats.failed(c);
    expect(stats.latencyHistograms[READ].bins).to.deep.equal([1, 0]);
    expect(stats.latencyHistograms[WRITE].bins).to.deep.equal([0, 1]);
    expect(stats.latencyHistograms[FLUSH].bins).to.deep.equal([0, 0]);
    stats.clearLatencyHistograms();
    expect(stats.latencyHistograms.every((h) => !h.enabled)).to.equal(true);
  });

  describe('block-latency-histogram-set (QMP command semantics)', () => {
    it('"boundaries" applies to read, write, zone append and flush; per-type lists override it', () => {
      const stats = new BlockAcctStats(new VirtualClock());
      blockLatencyHistogramSet(stats, 'drive0', { boundaries: [10], 'boundaries-write': [20, 30] });
      expect(stats.latencyHistograms[READ].boundaries).to.deep.equal([10]);
      expect(stats.latencyHistograms[WRITE].boundaries).to.deep.equal([20, 30]);
      expect(stats.latencyHistograms[ZONE_APPEND].boundaries).to.deep.equal([10]);
      expect(stats.latencyHistograms[FLUSH].boundaries).to.deep.equal([10]);
      expect(stats.latencyHistograms[UNMAP].enabled).to.equal(false);
    });

    it('only the given per-type lists are set when "boundaries" is absent', () => {
      const stats = new BlockAcctStats(new VirtualClock());
      blockLatencyHistogramSet(stats, 'drive0', { 'boundaries-flush': [5] });
      expect(stats.latencyHistograms.map((h) => h.enabled)).to.deep.equal([
        false,
        false,
        false,
        true,
        false,
        false,
      ]);
    });

    it('no boundaries at all clears every histogram', () => {
      const stats = new BlockAcctStats(new VirtualClock());
      blockLatencyHistogramSet(stats, 'drive0', { boundaries: [10] });
      blockLatencyHistogramSet(stats, 'drive0', {});
      expect(stats.latencyHistograms.some((h) => h.enabled)).to.equal(false);
    });

    it("an invalid list fails with QEMU's text and stops there", () => {
      const stats = new BlockAcctStats(new VirtualClock());
      expect(() =>
        blockLatencyHistogramSet(stats, 'drive0', { boundaries: [10], 'boundaries-zap': [3, 2] }),
      ).to.throw(ConfigError, "Device 'drive0' set append write boundaries fail");
      expect(stats.latencyHistograms[READ].enabled).to.equal(true);
      expect(stats.latencyHistograms[WRITE].enabled).to.equal(true);
      expect(stats.latencyHistograms[FLUSH].enabled).to.equal(false);
      expect(() => blockLatencyHistogramSet(stats, 'd1', { 'boundaries-read': [] })).to.throw(
        ConfigError,
        "Device 'd1' set read boundaries fail",
      );
    });
  });
});
