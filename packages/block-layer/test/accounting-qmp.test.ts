import { expect } from 'chai';
import { VirtualClock } from '@vmkit/core';
import {
  BlockAcctCookie,
  BlockAcctStats,
  BlockAcctType,
  QTEST_LATENCY_NS,
  toBlockDeviceStats,
  type BlockDeviceStats,
} from '../src/accounting/index.js';

const S = 1_000_000_000;
const { READ, WRITE, FLUSH, ZONE_APPEND, UNMAP } = BlockAcctType;

const BASE_KEYS = [
  'rd_bytes',
  'wr_bytes',
  'zone_append_bytes',
  'unmap_bytes',
  'rd_operations',
  'wr_operations',
  'zone_append_operations',
  'flush_operations',
  'unmap_operations',
  'rd_total_time_ns',
  'wr_total_time_ns',
  'zone_append_total_time_ns',
  'flush_total_time_ns',
  'unmap_total_time_ns',
  'wr_highest_offset',
  'rd_merged',
  'wr_merged',
  'zone_append_merged',
  'unmap_merged',
  'failed_rd_operations',
  'failed_wr_operations',
  'failed_zone_append_operations',
  'failed_flush_operations',
  'failed_unmap_operations',
  'invalid_rd_operations',
  'invalid_wr_operations',
  'invalid_zone_append_operations',
  'invalid_flush_operations',
  'invalid_unmap_operations',
  'account_invalid',
  'account_failed',
  'timed_stats',
];

const TIMED_KEYS = [
  'interval_length',
  'min_rd_latency_ns',
  'max_rd_latency_ns',
  'avg_rd_latency_ns',
  'min_wr_latency_ns',
  'max_wr_latency_ns',
  'avg_wr_latency_ns',
  'min_zone_append_latency_ns',
  'max_zone_append_latency_ns',
  'avg_zone_append_latency_ns',
  'min_flush_latency_ns',
  'max_flush_latency_ns',
  'avg_flush_latency_ns',
  'avg_rd_queue_depth',
  'avg_wr_queue_depth',
  'avg_zone_append_queue_depth',
];

describe('accounting: QMP BlockDeviceStats (bdrv_query_blk_stats)', () => {
  it('fresh stats: every member in QAPI order, zeros, no idle_time_ns and no histograms', () => {
    const stats = new BlockAcctStats(new VirtualClock(S));
    stats.setup({ statsIntervals: [10] });
    const ds = toBlockDeviceStats(stats, { wrHighestOffset: 0 });
    expect(Object.keys(ds)).to.deep.equal(BASE_KEYS);
    expect(Object.keys(ds.timed_stats[0])).to.deep.equal(TIMED_KEYS);
    expect(ds.account_invalid).to.equal(true);
    expect(ds.account_failed).to.equal(true);
    for (const k of BASE_KEYS.filter((k) => !k.startsWith('account') && k !== 'timed_stats')) {
      expect(ds[k as keyof BlockDeviceStats], k).to.equal(0);
    }
    expect(Object.values(ds.timed_stats[0])).to.deep.equal([10, ...new Array<number>(15).fill(0)]);
  });

  it('each counter lands in its own member (rd/wr/zone_append/unmap/flush)', async () => {
    const clock = new VirtualClock(S);
    const stats = new BlockAcctStats(clock);
    const c = new BlockAcctCookie();
    const types = [READ, WRITE, ZONE_APPEND, UNMAP, FLUSH] as const;
    for (let i = 0; i < types.length; i++) {
      const t = types[i];
      for (let n = 0; n <= i; n++) {
        stats.start(c, 100 * (i + 1), t);
        await clock.advance(10 * (i + 1));
        stats.done(c);
        stats.start(c, 1, t);
        stats.failed(c);
        stats.invalid(t);
        stats.invalid(t);
      }
      stats.mergeDone(t, 7 * (i + 1));
    }
    const ds = toBlockDeviceStats(stats, { wrHighestOffset: 4096 });
    expect([ds.rd_bytes, ds.wr_bytes, ds.zone_append_bytes, ds.unmap_bytes]).to.deep.equal([
      100, 400, 900, 1600,
    ]);
    expect([
      ds.rd_operations,
      ds.wr_operations,
      ds.zone_append_operations,
      ds.unmap_operations,
    ]).to.deep.equal([1, 2, 3, 4]);
    expect(ds.flush_operations).to.equal(5);
    expect([
      ds.rd_total_time_ns,
      ds.wr_total_time_ns,
      ds.zone_append_total_time_ns,
      ds.unmap_total_time_ns,
      ds.flush_total_time_ns,
    ]).to.deep.equal([10, 40, 90, 160, 250]);
    expect([
      ds.failed_rd_operations,
      ds.failed_wr_operations,
      ds.failed_zone_append_operations,
      ds.failed_unmap_operations,
      ds.failed_flush_operations,
    ]).to.deep.equal([1, 2, 3, 4, 5]);
    expect([
      ds.invalid_rd_operations,
      ds.invalid_wr_operations,
      ds.invalid_zone_append_operations,
      ds.invalid_unmap_operations,
      ds.invalid_flush_operations,
    ]).to.deep.equal([2, 4, 6, 8, 10]);
    expect([ds.rd_merged, ds.wr_merged, ds.zone_append_merged, ds.unmap_merged]).to.deep.equal([
      7, 14, 21, 28,
    ]);
    expect(ds.wr_highest_offset).to.equal(4096);
  });

  it('idle_time_ns comes right after unmap_merged once an access was accounted', async () => {
    const clock = new VirtualClock(S);
    const stats = new BlockAcctStats(clock);
    stats.invalid(READ);
    await clock.advance(42);
    const ds = toBlockDeviceStats(stats, { wrHighestOffset: 0 });
    const keys = Object.keys(ds);
    expect(keys.indexOf('idle_time_ns')).to.equal(keys.indexOf('unmap_merged') + 1);
    expect(ds.idle_time_ns).to.equal(42);
  });

  it('latency histograms for rd, wr, zone_append and flush appear last when set, as {boundaries, bins}', () => {
    const stats = new BlockAcctStats(new VirtualClock(S), { fixedLatencyNs: 5 });
    stats.setLatencyHistogram(READ, [10]);
    stats.setLatencyHistogram(FLUSH, [1, 2]);
    stats.setLatencyHistogram(UNMAP, [1]); // tracked, but QMP has no unmap histogram
    const c = new BlockAcctCookie();
    stats.start(c, 512, READ);
    stats.done(c);
    const ds = toBlockDeviceStats(stats, { wrHighestOffset: 0 });
    expect(Object.keys(ds).slice(-3)).to.deep.equal([
      'timed_stats',
      'rd_latency_histogram',
      'flush_latency_histogram',
    ]);
    expect(ds.rd_latency_histogram).to.deep.equal({ boundaries: [10], bins: [1, 0] });
    expect(ds.flush_latency_histogram).to.deep.equal({ boundaries: [1, 2], bins: [0, 0, 0] });
    expect(ds).to.not.have.property('wr_latency_histogram');
  });

  it('timed_stats lists intervals in the order they were added', () => {
    const stats = new BlockAcctStats(new VirtualClock());
    stats.setup({ statsIntervals: [1, 60] });
    stats.addInterval(3600);
    expect(
      toBlockDeviceStats(stats, { wrHighestOffset: 0 }).timed_stats.map((t) => t.interval_length),
    ).to.deep.equal([1, 60, 3600]);
  });
});

// A port of iotest 136's bookkeeping at the accounting level: qemu-io's aio commands become
// start/done/failed/invalid calls, blkdebug's error on sector 8192 becomes failed(), and the node's
// wr_highest_offset (counting failed writes) is passed through the extras.
describe('accounting: iotest 136 (block accounting, qtest latency 1 ms)', () => {
  const INTERVAL = 10;
  const OP_LATENCY = QTEST_LATENCY_NS;
  const BAD_OFFSET = 8192 * 512;

  interface Ops {
    rdSize?: number;
    rdOps?: number;
    wrSize?: number;
    wrOps?: number;
    flushOps?: number;
    invalidRdOps?: number;
    invalidWrOps?: number;
    failedRdOps?: number;
    failedWrOps?: number;
  }

  class Iotest136 {
    readonly clock = new VirtualClock();
    readonly stats = new BlockAcctStats(this.clock, { fixedLatencyNs: QTEST_LATENCY_NS });
    totalRdBytes = 0;
    totalRdOps = 0;
    totalWrBytes = 0;
    totalWrOps = 0;
    totalFlushOps = 0;
    failedRdOps = 0;
    failedWrOps = 0;
    invalidRdOps = 0;
    invalidWrOps = 0;
    wrHighestOffset = 0;

    constructor(
      readonly accountInvalid: boolean,
      readonly accountFailed: boolean,
    ) {
      this.stats.setup({
        accountInvalid: accountInvalid ? 'on' : 'off',
        accountFailed: accountFailed ? 'on' : 'off',
        statsIntervals: [INTERVAL],
      });
    }

    async setUp(): Promise<void> {
      await this.clock.advance(S); // "Set an initial value for the clock"
    }

    private accountedLatency(ok: number, failed: number): number {
      return (ok + (this.accountFailed ? failed : 0)) * OP_LATENCY;
    }

    private accountedOps(): number {
      let ops = this.totalWrOps + this.totalRdOps + this.totalFlushOps;
      if (this.accountFailed) ops += this.failedWrOps + this.failedRdOps;
      if (this.accountInvalid) ops += this.invalidWrOps + this.invalidRdOps;
      return ops;
    }

    async doTestStats(o: Ops): Promise<void> {
      const { rdSize = 0, rdOps = 0, wrSize = 0, wrOps = 0, flushOps = 0 } = o;
      const { invalidRdOps = 0, invalidWrOps = 0, failedRdOps = 0, failedWrOps = 0 } = o;
      const inFlight: { cookie: BlockAcctCookie; fail: boolean }[] = [];
      const submit = (bytes: number, type: BlockAcctType, fail = false): void => {
        const cookie = new BlockAcctCookie();
        this.stats.start(cookie, bytes, type);
        inFlight.push({ cookie, fail });
      };
      for (let i = 0; i < rdOps; i++) submit(rdSize, READ);
      for (let i = 0; i < wrOps; i++) {
        submit(wrSize, WRITE);
        this.wrHighestOffset = Math.max(this.wrHighestOffset, (i + 1) * wrSize);
      }
      for (let i = 0; i < flushOps; i++) submit(0, FLUSH);
      for (let i = 0; i < invalidRdOps; i++) this.stats.invalid(READ);
      for (let i = 0; i < invalidWrOps; i++) this.stats.invalid(WRITE);
      for (let i = 0; i < failedRdOps; i++) submit(512, READ, true);
      for (let i = 0; i < failedWrOps; i++) {
        submit(512, WRITE, true);
        this.wrHighestOffset = Math.max(this.wrHighestOffset, BAD_OFFSET + 512);
      }
      const extraFlush = rdOps + wrOps + invalidRdOps + invalidWrOps + failedRdOps + failedWrOps > 0 ? 1 : 0;
      if (extraFlush) submit(0, FLUSH);

      await this.clock.advance(1000); // the requests complete a little later
      for (const { cookie, fail } of inFlight) {
        if (fail) this.stats.failed(cookie);
        else this.stats.done(cookie);
      }

      this.totalRdBytes += rdOps * rdSize;
      this.totalRdOps += rdOps;
      this.totalWrBytes += wrOps * wrSize;
      this.totalWrOps += wrOps;
      this.totalFlushOps += flushOps + extraFlush;
      this.invalidRdOps += invalidRdOps;
      this.invalidWrOps += invalidWrOps;
      this.failedRdOps += failedRdOps;
      this.failedWrOps += failedWrOps;

      await this.clock.advance(S); // so that idle_time_ns has a meaningful value
      this.checkValues();
    }

    checkValues(): void {
      const s = toBlockDeviceStats(this.stats, { wrHighestOffset: this.wrHighestOffset });
      expect(s.rd_bytes).to.equal(this.totalRdBytes);
      expect(s.wr_bytes).to.equal(this.totalWrBytes);
      expect(s.rd_operations).to.equal(this.totalRdOps);
      expect(s.wr_operations).to.equal(this.totalWrOps);
      expect(s.flush_operations).to.equal(this.totalFlushOps);
      expect(s.wr_highest_offset).to.equal(this.wrHighestOffset);
      expect(s.failed_rd_operations).to.equal(this.failedRdOps);
      expect(s.failed_wr_operations).to.equal(this.failedWrOps);
      expect(s.invalid_rd_operations).to.equal(this.invalidRdOps);
      expect(s.invalid_wr_operations).to.equal(this.invalidWrOps);
      expect(s.account_invalid).to.equal(this.accountInvalid);
      expect(s.account_failed).to.equal(this.accountFailed);
      expect(s.wr_merged).to.equal(0);

      expect(s.timed_stats).to.have.length(1);
      const t = s.timed_stats[0];
      expect(t.interval_length).to.equal(INTERVAL);

      const rd = this.accountedLatency(this.totalRdOps, this.failedRdOps);
      expect(s.rd_total_time_ns).to.equal(rd);
      expect([t.min_rd_latency_ns, t.avg_rd_latency_ns, t.max_rd_latency_ns]).to.deep.equal(
        rd ? [OP_LATENCY, OP_LATENCY, OP_LATENCY] : [0, 0, 0],
      );
      if (rd) expect(t.avg_rd_queue_depth).to.be.greaterThan(0);
      else expect(t.avg_rd_queue_depth).to.equal(0);

      const wr = this.accountedLatency(this.totalWrOps, this.failedWrOps);
      expect(s.wr_total_time_ns).to.equal(wr);
      expect([t.min_wr_latency_ns, t.avg_wr_latency_ns, t.max_wr_latency_ns]).to.deep.equal(
        wr ? [OP_LATENCY, OP_LATENCY, OP_LATENCY] : [0, 0, 0],
      );
      if (wr) expect(t.avg_wr_queue_depth).to.be.greaterThan(0);
      else expect(t.avg_wr_queue_depth).to.equal(0);

      const fl = this.totalFlushOps * OP_LATENCY;
      expect(s.flush_total_time_ns).to.equal(fl);
      expect([t.min_flush_latency_ns, t.avg_flush_latency_ns, t.max_flush_latency_ns]).to.deep.equal(
        fl ? [OP_LATENCY, OP_LATENCY, OP_LATENCY] : [0, 0, 0],
      );

      if (this.accountedOps() !== 0) expect(s.idle_time_ns).to.be.greaterThan(0);
      else expect(s).to.not.have.property('idle_time_ns');

      expect(s.rd_merged).to.equal(0);
      expect(s.failed_flush_operations).to.equal(0);
      expect(s.invalid_flush_operations).to.equal(0);
    }
  }

  const combos: [boolean, boolean][] = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];
  for (const [accountInvalid, accountFailed] of combos) {
    describe(`account_invalid=${accountInvalid}, account_failed=${accountFailed}`, () => {
      let t: Iotest136;
      beforeEach(async () => {
        t = new Iotest136(accountInvalid, accountFailed);
        await t.setUp();
      });

      it('136 test_no_op: sane values before any I/O (no idle_time_ns)', () => {
        t.checkValues();
      });

      it('136 test_read_only', async () => {
        for (const [rdSize, rdOps] of [
          [512, 1],
          [65536, 1],
          [512, 12],
          [65536, 12],
        ]) {
          await t.doTestStats({ rdSize, rdOps });
        }
      });

      it('136 test_write_only', async () => {
        for (const [wrSize, wrOps] of [
          [512, 1],
          [65536, 1],
          [512, 12],
          [65536, 12],
        ]) {
          await t.doTestStats({ wrSize, wrOps });
        }
      });

      it('136 test_invalid', async () => {
        await t.doTestStats({ invalidRdOps: 7 });
        await t.doTestStats({ invalidWrOps: 3 });
        await t.doTestStats({ invalidRdOps: 4, invalidWrOps: 5 });
      });

      it('136 test_failed (wr_highest_offset counts failed writes: bad_offset + 512)', async () => {
        await t.doTestStats({ failedRdOps: 8 });
        await t.doTestStats({ failedWrOps: 6 });
        await t.doTestStats({ failedRdOps: 5, failedWrOps: 12 });
        expect(
          toBlockDeviceStats(t.stats, { wrHighestOffset: t.wrHighestOffset }).wr_highest_offset,
        ).to.equal(BAD_OFFSET + 512);
      });

      it('136 test_flush', async () => {
        await t.doTestStats({ flushOps: 8 });
      });

      it('136 test_all', async () => {
        const values = [
          [512, 1, 512, 1, 1, 4, 7, 5, 2],
          [65536, 1, 2048, 12, 7, 7, 5, 2, 5],
          [32768, 9, 8192, 1, 4, 3, 2, 4, 6],
          [16384, 11, 3584, 16, 9, 8, 6, 7, 3],
        ];
        for (const [
          rdSize,
          rdOps,
          wrSize,
          wrOps,
          flushOps,
          invalidRdOps,
          invalidWrOps,
          failedRdOps,
          failedWrOps,
        ] of values) {
          await t.doTestStats({
            rdSize,
            rdOps,
            wrSize,
            wrOps,
            flushOps,
            invalidRdOps,
            invalidWrOps,
            failedRdOps,
            failedWrOps,
          });
        }
      });
    });
  }
});
