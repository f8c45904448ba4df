import { expect } from 'chai';
import { ConfigError, Errno, VirtualClock } from '@vmkit/core';
import {
  BLOCK_MAX_IOTYPE,
  BlockAcctCookie,
  BlockAcctStats,
  BlockAcctType,
  QTEST_LATENCY_NS,
} from '../src/accounting/index.js';

const MS = 1_000_000;
const S = 1_000_000_000;
const { READ, WRITE, FLUSH, UNMAP, NONE } = BlockAcctType;

describe('accounting: BlockAcctStats (§3.2)', () => {
  let clock: VirtualClock;
  let stats: BlockAcctStats;

  beforeEach(async () => {
    clock = new VirtualClock();
    stats = new BlockAcctStats(clock);
    await clock.advance(S); // last access 0 means "never": start I/O at a non-zero time, like iotest 136
  });

  it('3.1: block_acct_init: account_invalid and account_failed default to true, counters to 0', () => {
    expect(stats.accountInvalid).to.equal(true);
    expect(stats.accountFailed).to.equal(true);
    expect(stats.lastAccessTimeNs).to.equal(0);
    for (const arr of [stats.nrBytes, stats.nrOps, stats.failedOps, stats.invalidOps, stats.merged]) {
      expect(Array.from(arr)).to.deep.equal(new Array<number>(BLOCK_MAX_IOTYPE).fill(0));
    }
    expect(stats.intervals).to.have.length(0);
  });

  it('block_acct_start fills the caller-provided cookie (bytes, start time, type)', async () => {
    const cookie = new BlockAcctCookie();
    await clock.advance(123);
    stats.start(cookie, 4096, WRITE);
    expect(cookie.bytes).to.equal(4096);
    expect(cookie.startTimeNs).to.equal(S + 123);
    expect(cookie.type).to.equal(WRITE);
  });

  it('block_acct_done: bytes and ops, measured latency into total time, last access = now', async () => {
    const cookie = new BlockAcctCookie();
    stats.start(cookie, 512, READ);
    await clock.advance(3 * MS);
    stats.done(cookie);
    expect(stats.nrBytes[READ]).to.equal(512);
    expect(stats.nrOps[READ]).to.equal(1);
    expect(stats.totalTimeNs[READ]).to.equal(3 * MS);
    expect(stats.lastAccessTimeNs).to.equal(S + 3 * MS);
    expect(stats.failedOps[READ]).to.equal(0);
    expect(stats.nrOps[WRITE]).to.equal(0);
  });

  it('block_acct_done resets the cookie to NONE: accounting the same cookie twice counts once', () => {
    const cookie = new BlockAcctCookie();
    stats.start(cookie, 512, WRITE);
    stats.done(cookie);
    expect(cookie.type).to.equal(NONE);
    stats.done(cookie);
    stats.failed(cookie);
    expect(stats.nrOps[WRITE]).to.equal(1);
    expect(stats.nrBytes[WRITE]).to.equal(512);
    expect(stats.failedOps[WRITE]).to.equal(0);
  });

  it('a cookie is reusable: start() again on the same object accounts a new request', async () => {
    const cookie = new BlockAcctCookie();
    for (let i = 1; i <= 3; i++) {
      stats.start(cookie, 1024 * i, READ);
      await clock.advance(i * MS);
      stats.done(cookie);
    }
    expect(stats.nrOps[READ]).to.equal(3);
    expect(stats.nrBytes[READ]).to.equal(1024 + 2048 + 3072);
    expect(stats.totalTimeNs[READ]).to.equal(6 * MS);
  });

  it('a cookie of type NONE (never started, or reset) is ignored by done and failed', async () => {
    const never = new BlockAcctCookie();
    stats.done(never);
    stats.failed(never);
    const reset = new BlockAcctCookie();
    stats.start(reset, 512, READ);
    reset.reset();
    stats.done(reset);
    await clock.advance(S);
    expect(Array.from(stats.nrOps)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(Array.from(stats.failedOps)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(stats.lastAccessTimeNs).to.equal(0);
  });

  for (const accountFailed of [true, false]) {
    it(`block_acct_failed with account_failed=${accountFailed}: failed_ops only; time, last access and intervals ${accountFailed ? '' : 'not '}updated; histogram always`, async () => {
      stats.setup({ accountFailed: accountFailed ? 'on' : 'off', statsIntervals: [10] });
      expect(stats.setLatencyHistogram(WRITE, [10 * MS])).to.equal(0);
      const cookie = new BlockAcctCookie();
      stats.start(cookie, 512, WRITE);
      await clock.advance(2 * MS);
      stats.failed(cookie);
      expect(cookie.type).to.equal(NONE);
      expect(stats.failedOps[WRITE]).to.equal(1);
      expect(stats.nrOps[WRITE]).to.equal(0);
      expect(stats.nrBytes[WRITE]).to.equal(0);
      expect(stats.latencyHistograms[WRITE].bins).to.deep.equal([1, 0]);
      const ta = stats.intervals[0].latency[WRITE];
      if (accountFailed) {
        expect(stats.totalTimeNs[WRITE]).to.equal(2 * MS);
        expect(stats.lastAccessTimeNs).to.equal(S + 2 * MS);
        expect([ta.min(), ta.avg(), ta.max()]).to.deep.equal([2 * MS, 2 * MS, 2 * MS]);
      } else {
        expect(stats.totalTimeNs[WRITE]).to.equal(0);
        expect(stats.lastAccessTimeNs).to.equal(0);
        expect([ta.min(), ta.avg(), ta.max()]).to.deep.equal([0, 0, 0]);
      }
    });
  }

  for (const accountInvalid of [true, false]) {
    it(`block_acct_invalid with account_invalid=${accountInvalid}: invalid_ops++, no latency or total time, last access ${accountInvalid ? '' : 'not '}updated`, async () => {
      stats.setup({ accountInvalid: accountInvalid ? 'on' : 'off', statsIntervals: [10] });
      expect(stats.setLatencyHistogram(READ, [MS])).to.equal(0);
      await clock.advance(5);
      stats.invalid(READ);
      stats.invalid(READ);
      stats.invalid(WRITE);
      expect(stats.invalidOps[READ]).to.equal(2);
      expect(stats.invalidOps[WRITE]).to.equal(1);
      expect(stats.nrOps[READ]).to.equal(0);
      expect(stats.failedOps[READ]).to.equal(0);
      expect(stats.totalTimeNs[READ]).to.equal(0);
      expect(stats.latencyHistograms[READ].bins).to.deep.equal([0, 0]);
      expect(stats.intervals[0].latency[READ].max()).to.equal(0);
      expect(stats.lastAccessTimeNs).to.equal(accountInvalid ? S + 5 : 0);
    });
  }

  it('block_acct_merge_done: merged[type] += n, nothing else', () => {
    stats.mergeDone(WRITE, 3);
    stats.mergeDone(WRITE, 1);
    stats.mergeDone(READ, 0);
    stats.mergeDone(UNMAP, 2);
    expect(Array.from(stats.merged)).to.deep.equal([0, 0, 4, 0, 0, 2]);
    expect(stats.nrOps[WRITE]).to.equal(0);
    expect(stats.lastAccessTimeNs).to.equal(0);
  });

  it('block_acct_idle_time_ns = now - last access', async () => {
    const cookie = new BlockAcctCookie();
    stats.start(cookie, 0, FLUSH);
    stats.done(cookie);
    await clock.advance(7 * MS);
    expect(stats.idleTimeNs()).to.equal(7 * MS);
    expect(stats.nrOps[FLUSH]).to.equal(1);
    expect(stats.nrBytes[FLUSH]).to.equal(0);
  });

  it(`qtest rule: with fixedLatencyNs = QTEST_LATENCY_NS (${QTEST_LATENCY_NS}) every completed op counts exactly 1 ms`, async () => {
    const q = new BlockAcctStats(clock, { fixedLatencyNs: QTEST_LATENCY_NS });
    q.setup({ statsIntervals: [10] });
    const a = new BlockAcctCookie();
    const b = new BlockAcctCookie();
    const c = new BlockAcctCookie();
    q.start(a, 512, READ);
    q.start(b, 512, READ);
    q.start(c, 512, READ);
    q.done(a); // 0 ns really elapsed
    await clock.advance(50 * MS);
    q.done(b); // 50 ms really elapsed
    q.failed(c);
    expect(q.totalTimeNs[READ]).to.equal(3 * MS);
    const ta = q.intervals[0].latency[READ];
    expect([ta.min(), ta.avg(), ta.max()]).to.deep.equal([MS, MS, MS]);
    expect(q.lastAccessTimeNs).to.equal(S + 50 * MS);
  });

  it('fixedLatencyNs must be a non-negative integer', () => {
    expect(() => new BlockAcctStats(clock, { fixedLatencyNs: -1 })).to.throw(ConfigError);
    expect(() => new BlockAcctStats(clock, { fixedLatencyNs: 0.5 })).to.throw(ConfigError);
  });

  it('done updates every interval, each with its own TimedAverage per type', async () => {
    stats.addInterval(1);
    stats.addInterval(60);
    const cookie = new BlockAcctCookie();
    stats.start(cookie, 512, WRITE);
    await clock.advance(4 * MS);
    stats.done(cookie);
    for (const ts of stats.intervals) {
      expect(ts.latency[WRITE].max()).to.equal(4 * MS);
      expect(ts.latency[READ].max()).to.equal(0);
    }
  });

  describe('block_acct_setup', () => {
    it("OnOffAuto: 'auto' (or absent) keeps the current value, on/off set it", () => {
      stats.setup({ accountInvalid: 'off', accountFailed: 'off' });
      expect([stats.accountInvalid, stats.accountFailed]).to.deep.equal([false, false]);
      stats.setup({ accountInvalid: 'auto' });
      expect([stats.accountInvalid, stats.accountFailed]).to.deep.equal([false, false]);
      stats.setup({ accountInvalid: 'on', accountFailed: 'auto' });
      expect([stats.accountInvalid, stats.accountFailed]).to.deep.equal([true, false]);
      stats.setup({ accountFailed: 'on' });
      expect([stats.accountInvalid, stats.accountFailed]).to.deep.equal([true, true]);
    });

    it('intervals are prepended to the list', () => {
      stats.setup({ statsIntervals: [1, 60, 3600] });
      expect(stats.intervals.map((t) => t.intervalLength)).to.deep.equal([3600, 60, 1]);
    });

    it('an interval of 0 is refused with "Invalid interval length: 0", nothing applied', () => {
      expect(() => stats.setup({ accountFailed: 'off', statsIntervals: [10, 0] }))
        .to.throw(ConfigError)
        .with.property('message', 'Invalid interval length: 0');
      expect(stats.intervals).to.have.length(0);
      expect(stats.accountFailed).to.equal(true);
    });

    it('non-uint32 interval lengths are refused too', () => {
      for (const bad of [-1, 1.5, 2 ** 32, NaN]) {
        expect(() => stats.setup({ statsIntervals: [bad] }), String(bad)).to.throw(
          ConfigError,
          `Invalid interval length: ${bad}`,
        );
        expect(() => stats.addInterval(bad), String(bad)).to.throw(ConfigError);
      }
    });
  });

  it('setLatencyHistogram returns -EINVAL for bad boundaries (details in accounting-histogram)', () => {
    expect(stats.setLatencyHistogram(READ, [])).to.equal(-Errno.EINVAL);
    expect(stats.latencyHistograms[READ].enabled).to.equal(false);
  });
});
