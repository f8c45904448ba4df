/**
 * The cheap accounting path keeps the §3.2 rules: counters-only completions while no interval or
 * histogram is configured, however those get configured later; host time stays a real reading
 * of the HostClock (never ahead of it, monotonic); shared readings follow the run structure.
 */
import { expect } from 'chai';
import { HostClock, VirtualClock } from '@vmkit/core';
import { BlockAcctCookie, BlockAcctStats, BlockAcctType } from '../src/accounting/index.js';
import { CoarseHostTime } from '../src/accounting/coarse-time.js';
import { microtask, SteppingClock } from './helpers/stepping-clock.js';

const MS = 1_000_000;
const { READ, WRITE } = BlockAcctType;

describe('accounting fast path: histograms and intervals configured at any time', () => {
  let clock: VirtualClock;
  let stats: BlockAcctStats;
  const cookie = new BlockAcctCookie();

  beforeEach(async () => {
    clock = new VirtualClock();
    stats = new BlockAcctStats(clock);
    await clock.advance(MS);
  });

  async function oneRead(latency: number): Promise<void> {
    stats.start(cookie, 512, READ);
    await clock.advance(latency);
    stats.done(cookie);
  }

  it('a histogram set on the histogram object itself (not through stats) is fed', async () => {
    await oneRead(10);
    expect(stats.latencyHistograms[READ].set([100])).to.equal(0);
    await oneRead(50);
    await oneRead(150);
    expect(stats.latencyHistograms[READ].bins).to.deep.equal([1, 1]);
    expect(stats.nrOps[READ]).to.equal(3);
  });

  it('after clearLatencyHistograms, counters and totals still count; a new set() counts from 0', async () => {
    stats.setLatencyHistogram(READ, [100]);
    await oneRead(50);
    stats.clearLatencyHistograms();
    await oneRead(50);
    expect(stats.nrOps[READ]).to.equal(2);
    expect(stats.totalTimeNs[READ]).to.equal(100);
    expect(stats.latencyHistograms[READ].bins).to.equal(undefined);
    stats.setLatencyHistogram(READ, [100]);
    await oneRead(150);
    expect(stats.latencyHistograms[READ].bins).to.deep.equal([0, 1]);
  });

  it('clearing the histograms keeps feeding the intervals', async () => {
    stats.setLatencyHistogram(READ, [100]);
    const ts = stats.addInterval(60);
    stats.clearLatencyHistograms();
    await oneRead(70);
    expect(ts.latency[READ].max()).to.equal(70);
  });

  it('an interval added after I/O sees the following completions, failed ones per accountFailed', async () => {
    await oneRead(30);
    const ts = stats.addInterval(60);
    await oneRead(40);
    stats.accountFailed = false;
    stats.start(cookie, 512, READ);
    await clock.advance(500);
    stats.failed(cookie);
    expect(ts.latency[READ].max()).to.equal(40);
    expect(ts.latency[READ].min()).to.equal(40);
  });

  it('failed with accountFailed=false and no histogram: failed_ops only', async () => {
    stats.accountFailed = false;
    stats.start(cookie, 512, WRITE);
    await clock.advance(500);
    stats.failed(cookie);
    expect(stats.failedOps[WRITE]).to.equal(1);
    expect(stats.totalTimeNs[WRITE]).to.equal(0);
    expect(stats.lastAccessTimeNs).to.equal(0);
    expect(cookie.type).to.equal(BlockAcctType.NONE);
  });
});

describe('accounting fast path: host time (CoarseHostTime)', () => {
  it('on a HostClock, readings are never ahead of the clock, monotonic, and close behind it', () => {
    const clock = new HostClock();
    const t = new CoarseHostTime(clock);
    let prev = -Infinity;
    let minLag = Infinity;
    for (let i = 0; i < 20_000; i++) {
      const before = clock.now();
      const v = t.now();
      const after = clock.now();
      expect(v).to.be.at.least(prev);
      // Direct readings fall between the clock readings around them; shared ones may be older.
      expect(v).to.be.at.most(after);
      minLag = Math.min(minLag, Math.abs(before - v));
      prev = v;
    }
    // Not ahead, and not a different time base either: some readings land right by the clock's.
    expect(minLag).to.be.below(20_000);
  });

  it('every reading outside a burst is a reading of the clock (now())', () => {
    const clock = new SteppingClock(5000);
    const t = new CoarseHostTime(clock);
    expect([t.now(), t.now(), t.now()]).to.deep.equal([1_005_000, 1_010_000, 1_015_000]);
    expect(clock.reads).to.equal(3);
  });

  it('runs of three readings keep the sharing, a run of two ends it', async () => {
    const clock = new SteppingClock(10);
    const t = new CoarseHostTime(clock);
    for (let i = 0; i < 10; i++) t.now();
    await microtask();
    let before = clock.reads;
    t.now();
    t.now();
    t.now();
    expect(clock.reads - before).to.equal(1);
    await microtask();
    t.now();
    t.now();
    await microtask();
    before = clock.reads;
    t.now();
    t.now();
    expect(clock.reads - before).to.equal(2);
  });

  it('a request started in a run and completed in a microtask of it gets its own reading', async () => {
    const clock = new SteppingClock(10);
    const stats = new BlockAcctStats(clock);
    const cookies = Array.from({ length: 8 }, () => new BlockAcctCookie());
    for (const c of cookies) stats.start(c, 4096, READ);
    const c = new BlockAcctCookie();
    stats.start(c, 4096, READ);
    await microtask();
    stats.done(c);
    expect(stats.totalTimeNs[READ]).to.be.greaterThan(0);
  });
});
