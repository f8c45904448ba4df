import { expect } from 'chai';
import { VirtualClock } from '@vmkit/core';
import { BlockAcctCookie, BlockAcctStats, BlockAcctType, TimedAverage } from '../src/accounting/index.js';

const S = 1_000_000_000;

function triple(ta: TimedAverage): [number, number, number] {
  return [ta.min(), ta.avg(), ta.max()];
}

describe('accounting: TimedAverage (util/timed-average.c)', () => {
  it('the effective period is 4/3 of the requested one, rounded down', () => {
    const clock = new VirtualClock();
    expect(new TimedAverage(clock, S).periodNs).to.equal(1_333_333_333);
    expect(new TimedAverage(clock, 10 * S).periodNs).to.equal(13_333_333_333);
    expect(new TimedAverage(clock, 3).periodNs).to.equal(4);
    // A uint32 interval in seconds still gives QEMU's uint64 result.
    expect(new TimedAverage(clock, 0xffff_ffff * S).periodNs).to.equal(
      Number((0xffff_ffffn * 10n ** 9n * 4n) / 3n),
    );
  });

  it('refuses a zero, negative or fractional period', () => {
    const clock = new VirtualClock();
    for (const bad of [0, -1, 0.5, NaN, Infinity]) {
      expect(() => new TimedAverage(clock, bad), String(bad)).to.throw(RangeError);
    }
  });

  it('two windows half a period apart: exact values as they rotate (1 s requested, P = 1333333333 ns)', async () => {
    const clock = new VirtualClock();
    const ta = new TimedAverage(clock, S);
    const P = 1_333_333_333;
    // Window 0 expires at P/2 = 666666666, window 1 at P; results come from window 0.
    expect(triple(ta)).to.deep.equal([0, 0, 0]);
    expect(ta.elapsedNs()).to.equal(P - 666_666_666);

    ta.account(100);
    expect(triple(ta)).to.deep.equal([100, 100, 100]);
    expect(ta.sum()).to.equal(100);

    await clock.advanceTo(666_666_665);
    expect(triple(ta)).to.deep.equal([100, 100, 100]);
    expect(ta.elapsedNs()).to.equal(P - 1);

    // Window 0 expires (reset, next expiry 666666666 + P); window 1 (holding 100) is now the older one.
    await clock.advanceTo(666_666_666);
    expect(triple(ta)).to.deep.equal([100, 100, 100]);
    expect(ta.elapsedNs()).to.equal(666_666_666);

    await clock.advanceTo(S);
    ta.account(300); // into window 0 (fresh) and window 1
    expect(triple(ta)).to.deep.equal([100, 200, 300]);
    expect(ta.sum()).to.equal(400);

    // Window 1 expires at P: window 0, holding only 300, is reported.
    await clock.advanceTo(P - 1);
    expect(triple(ta)).to.deep.equal([100, 200, 300]);
    await clock.advanceTo(P);
    expect(triple(ta)).to.deep.equal([300, 300, 300]);
    expect(ta.elapsedNs()).to.equal(666_666_667);

    // Window 0 expires at 666666666 + P = 1999999999; window 1 has had nothing since P.
    await clock.advanceTo(1_999_999_999);
    expect(triple(ta)).to.deep.equal([0, 0, 0]);
    expect(ta.sum()).to.equal(0);
    expect(ta.elapsedNs()).to.equal(666_666_666);

    // After a long idle time both windows re-arm on their own grid (k·P and 666666666 + k·P).
    await clock.advanceTo(100 * S + 5); // = 75·P + 30
    expect(ta.elapsedNs()).to.equal(P - (666_666_666 + 75 * P - (100 * S + 5)));
    expect(ta.elapsedNs()).to.equal(666_666_697);
  });

  it('averages are integer divisions rounded down (uint64)', () => {
    const ta = new TimedAverage(new VirtualClock(), S);
    ta.account(1);
    ta.account(2);
    expect(ta.avg()).to.equal(1);
    ta.account(4);
    expect(ta.avg()).to.equal(2);
  });

  it('test-timed-average: 1,5,2,4,3 every 0.1 s gives 1/3/5 throughout; 0 after 100 s idle; again 1/3/5', async () => {
    const clock = new VirtualClock();
    const ta = new TimedAverage(clock, S);
    const account = (): void => {
      for (const v of [1, 5, 2, 4, 3]) ta.account(v);
    };
    expect(triple(ta)).to.deep.equal([0, 0, 0]);
    for (let i = 0; i < 100; i++) {
      account();
      expect(triple(ta), `iteration ${i}`).to.deep.equal([1, 3, 5]);
      await clock.advance(S / 10);
    }
    await clock.advance(100 * S);
    expect(triple(ta)).to.deep.equal([0, 0, 0]);
    for (let i = 0; i < 100; i++) {
      account();
      expect(triple(ta), `second run, iteration ${i}`).to.deep.equal([1, 3, 5]);
      await clock.advance(S / 10);
    }
  });
});

describe('accounting: queue depth (block_acct_queue_depth)', () => {
  it('= sum of latencies in the current window / time the window covers (3 s interval, P = 4 s)', async () => {
    const clock = new VirtualClock();
    const stats = new BlockAcctStats(clock, { fixedLatencyNs: S / 2 });
    const ts = stats.addInterval(3); // windows expire at 2 s and 4 s, then every 4 s
    const cookie = new BlockAcctCookie();
    for (let i = 0; i < 4; i++) {
      stats.start(cookie, 512, BlockAcctType.READ);
      stats.done(cookie);
    }
    // 4 × 0.5 s of latency over the 2 s that window 0 has covered at t = 0.
    expect(stats.queueDepth(ts, BlockAcctType.READ)).to.equal(1);
    expect(stats.queueDepth(ts, BlockAcctType.WRITE)).to.equal(0);
    await clock.advanceTo(S);
    expect(stats.queueDepth(ts, BlockAcctType.READ)).to.equal(2 / 3);
    await clock.advanceTo(2 * S); // window 0 rotates; window 1 (2 s covered) still holds the reads
    expect(stats.queueDepth(ts, BlockAcctType.READ)).to.equal(1);
    await clock.advanceTo(4 * S); // window 1 rotates; window 0 has been empty since 2 s
    expect(stats.queueDepth(ts, BlockAcctType.READ)).to.equal(0);
  });
});
