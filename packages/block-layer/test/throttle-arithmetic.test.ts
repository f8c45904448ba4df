import { expect } from 'chai';
import { AioContext, ConfigError, VirtualClock } from '@vmkit/core';
import {
  assertThrottleConfigValid,
  BucketType,
  BUCKETS_COUNT,
  computeWait,
  leakBucket,
  NANOSECONDS_PER_SECOND,
  THROTTLE_VALUE_MAX,
  ThrottleDirection,
  throttleConfigInit,
  throttleEnabled,
  throttleIsValid,
  ThrottleState,
  ThrottleTimers,
  ThrottleValidityError,
  validateThrottleConfig,
  type ThrottleConfig,
} from '../src/throttle/index.js';

/** test-throttle.c double_cmp. */
const EPS = 1e-6;

/** test-throttle.c set_cfg_value: a max also forces avg >= 1 (a max needs an avg). */
function setCfgValue(cfg: ThrottleConfig, isMax: boolean, index: number, value: number): void {
  const bkt = cfg.buckets[index];
  if (isMax) {
    bkt.max = value;
    bkt.avg = Math.max(bkt.avg, 1);
  } else {
    bkt.avg = value;
  }
}

describe('throttle: leaky bucket arithmetic (test-throttle.c)', () => {
  it('T1: leak lowers level by avg·Δ, never below 0, and burst_level by max·Δ when burst_length > 1', () => {
    const bkt = throttleConfigInit().buckets[BucketType.bpsTotal];
    bkt.avg = 150;
    bkt.max = 15;
    bkt.level = 1.5;
    // NANOSECONDS_PER_SECOND / 150 in C integer division: 6666666 ns, i.e. 0.9999999 units.
    const opTime = Math.trunc(NANOSECONDS_PER_SECOND / 150);
    expect(opTime).to.equal(6666666);
    leakBucket(bkt, opTime);
    expect(bkt.avg).to.equal(150);
    expect(bkt.max).to.equal(15);
    expect(bkt.level).to.be.closeTo(0.5, EPS);
    leakBucket(bkt, opTime);
    expect(bkt.level).to.equal(0);
    leakBucket(bkt, opTime);
    expect(bkt.level).to.equal(0);
    expect(bkt.avg).to.equal(150);
    expect(bkt.max).to.equal(15);

    bkt.burstLevel = 6;
    bkt.max = 250;
    bkt.burstLength = 2;
    // 10 ms at 250 units/s = 2.5 units, exact in binary.
    leakBucket(bkt, NANOSECONDS_PER_SECOND / 100);
    expect(bkt.burstLevel).to.equal(3.5);
    leakBucket(bkt, NANOSECONDS_PER_SECOND / 100);
    expect(bkt.burstLevel).to.equal(1);
    leakBucket(bkt, NANOSECONDS_PER_SECOND / 100);
    expect(bkt.burstLevel).to.equal(0);
    leakBucket(bkt, NANOSECONDS_PER_SECOND / 100);
    expect(bkt.burstLevel).to.equal(0);
  });

  it('T1: burst_level does not leak when burst_length is 1', () => {
    const bkt = throttleConfigInit().buckets[BucketType.opsRead];
    bkt.avg = 10;
    bkt.max = 100;
    bkt.burstLevel = 5;
    leakBucket(bkt, NANOSECONDS_PER_SECOND);
    expect(bkt.burstLevel).to.equal(5);
  });

  it('T2: compute_wait is 0 without avg or below the bucket size, else the time to leak the excess', () => {
    const bkt = throttleConfigInit().buckets[BucketType.bpsTotal];
    bkt.avg = 0;
    bkt.max = 15;
    bkt.level = 1.5;
    expect(computeWait(bkt)).to.equal(0);

    bkt.avg = 150;
    bkt.max = 15;
    bkt.level = 15;
    expect(computeWait(bkt)).to.equal(0);
    bkt.level = 9;
    expect(computeWait(bkt)).to.equal(0);
    // Half an operation above max: (int64)(1e9 / 150) / 2 = 3333333 ns.
    bkt.level = 15.5;
    expect(computeWait(bkt)).to.equal(3333333);
    expect(computeWait(bkt)).to.equal(Math.trunc(Math.trunc(NANOSECONDS_PER_SECOND / 150) / 2));
  });

  it('T2: without max the bucket holds 100 ms of I/O', () => {
    const bkt = throttleConfigInit().buckets[BucketType.opsTotal];
    bkt.avg = 10;
    bkt.level = 1;
    expect(computeWait(bkt)).to.equal(0);
    bkt.level = 2;
    expect(computeWait(bkt)).to.equal(100_000_000);
  });

  it('T2: bursting at max for burst_length (plus 100 ms of leak), then a 1.8 s wait', () => {
    const bkt = throttleConfigInit().buckets[BucketType.bpsTotal];
    bkt.burstLength = 2;
    bkt.level = 0;
    bkt.avg = 10;
    bkt.max = 200;
    for (let i = 0; i < 22; i++) {
      const units = bkt.max / 10;
      bkt.level += units;
      bkt.burstLevel += units;
      leakBucket(bkt, NANOSECONDS_PER_SECOND / 10);
      const wait = computeWait(bkt);
      expect(bkt.burstLevel, `burst level at ${i}`).to.equal(0);
      expect(bkt.level, `level at ${i}`).to.equal(((i + 1) * (bkt.max - bkt.avg)) / 10);
      // At i = 21 the level is 418 > 400 = max·burst_length: wait for 18 units at 10/s.
      expect(wait, `wait at ${i}`).to.equal(i < 21 ? 0 : 1_800_000_000);
    }
  });

  it('T2: the burst bucket caps the rate at max while the main bucket has room', () => {
    const bkt = throttleConfigInit().buckets[BucketType.opsRead];
    bkt.avg = 10;
    bkt.max = 100;
    bkt.burstLength = 4;
    bkt.level = 12;
    bkt.burstLevel = 12; // burst bucket size is max/10 = 10: 2 units over at 100/s = 20 ms
    expect(computeWait(bkt)).to.equal(20_000_000);
  });
});

describe('throttle: validity (throttle_is_valid)', () => {
  it('T4: a default config is not enabled; avg 150 on any bucket is valid and enabled; -150 is invalid', () => {
    expect(throttleEnabled(throttleConfigInit())).to.equal(false);
    expect(validateThrottleConfig(throttleConfigInit())).to.equal(undefined);
    for (let i = 0; i < BUCKETS_COUNT; i++) {
      let cfg = throttleConfigInit();
      setCfgValue(cfg, false, i, 150);
      expect(throttleIsValid(cfg)).to.equal(true);
      expect(throttleEnabled(cfg)).to.equal(true);
      cfg = throttleConfigInit();
      setCfgValue(cfg, false, i, -150);
      expect(throttleIsValid(cfg)).to.equal(false);
      // -150 is a huge uint64 in QEMU: it fails the range check.
      expect(validateThrottleConfig(cfg)).to.equal(ThrottleValidityError.range);
    }
  });

  it('T5: total and read/write values cannot be combined (avg and max, bps and iops)', () => {
    const sets: [number, number, number][] = [
      [BucketType.bpsTotal, BucketType.bpsRead, BucketType.bpsWrite],
      [BucketType.opsTotal, BucketType.opsRead, BucketType.opsWrite],
    ];
    const conflict = 'bps/iops/max total values and read/write values cannot be used at the same time';
    for (const isMax of [false, true]) {
      for (const [total, read, write] of sets) {
        let cfg = throttleConfigInit();
        expect(throttleIsValid(cfg)).to.equal(true);
        setCfgValue(cfg, isMax, total, 1);
        setCfgValue(cfg, isMax, read, 1);
        expect(validateThrottleConfig(cfg)).to.equal(conflict);

        cfg = throttleConfigInit();
        setCfgValue(cfg, isMax, total, 1);
        setCfgValue(cfg, isMax, write, 1);
        expect(validateThrottleConfig(cfg)).to.equal(conflict);

        cfg = throttleConfigInit();
        setCfgValue(cfg, isMax, total, 1);
        setCfgValue(cfg, isMax, read, 1);
        setCfgValue(cfg, isMax, write, 1);
        expect(validateThrottleConfig(cfg)).to.equal(conflict);

        cfg = throttleConfigInit();
        setCfgValue(cfg, isMax, total, 1);
        expect(throttleIsValid(cfg)).to.equal(true);

        cfg = throttleConfigInit();
        setCfgValue(cfg, isMax, read, 1);
        setCfgValue(cfg, isMax, write, 1);
        expect(throttleIsValid(cfg)).to.equal(true);
      }
    }
  });

  it('T6: -1 is invalid, 0 and 1 are valid, as avg or as max, on every bucket', () => {
    for (const [value, valid] of [
      [-1, false],
      [0, true],
      [1, true],
    ] as const) {
      for (const isMax of [false, true]) {
        for (let i = 0; i < BUCKETS_COUNT; i++) {
          const cfg = throttleConfigInit();
          setCfgValue(cfg, isMax, i, value);
          expect(throttleIsValid(cfg), `value ${value} max ${isMax} bucket ${i}`).to.equal(valid);
        }
      }
    }
  });

  it('T7: ranges of avg, max and burst_length, with exact error texts', () => {
    const E = ThrottleValidityError;
    for (let i = 0; i < BUCKETS_COUNT; i++) {
      const cfg = throttleConfigInit();
      const b = cfg.buckets[i];
      const check = (expected: string | undefined): void => {
        expect(validateThrottleConfig(cfg), `bucket ${i} ${JSON.stringify(b)}`).to.equal(expected);
      };
      b.avg = 0;
      check(undefined);
      expect(throttleEnabled(cfg)).to.equal(false);
      b.avg = 1;
      check(undefined);
      b.avg = THROTTLE_VALUE_MAX;
      check(undefined);
      b.max = THROTTLE_VALUE_MAX;
      check(undefined);
      b.avg = THROTTLE_VALUE_MAX + 1;
      check(E.range);
      b.avg = THROTTLE_VALUE_MAX;
      b.max = THROTTLE_VALUE_MAX + 1;
      check(E.range);

      b.avg = 1;
      b.max = 1;
      b.burstLength = 0;
      check(E.burstLengthZero);
      b.burstLength = 1;
      check(undefined);
      b.burstLength = THROTTLE_VALUE_MAX;
      check(undefined);
      b.burstLength = THROTTLE_VALUE_MAX + 1;
      check(E.burstLengthTooHigh);

      b.max = 2;
      b.burstLength = THROTTLE_VALUE_MAX / 2;
      check(undefined);
      b.max = 3;
      check(E.burstLengthTooHigh);
      b.max = THROTTLE_VALUE_MAX;
      b.burstLength = 1;
      check(undefined);
      b.burstLength = 2;
      check(E.burstLengthTooHigh);
    }
    expect(ThrottleValidityError.range).to.equal('bps/iops/max values must be within [0, 1000000000000000]');
  });

  it('T7: a burst length without burst rate, and negative burst lengths, are refused', () => {
    const cfg = throttleConfigInit();
    const b = cfg.buckets[BucketType.bpsWrite];
    b.avg = 100;
    b.burstLength = 2;
    expect(validateThrottleConfig(cfg)).to.equal('burst length set without burst rate');
    b.burstLength = -1; // 2^64 - 1 in QEMU
    expect(validateThrottleConfig(cfg)).to.equal('burst length set without burst rate');
    b.max = 100;
    expect(validateThrottleConfig(cfg)).to.equal('burst length too high for this burst rate');
  });

  it('T8: max needs an avg and may not be below it', () => {
    for (let i = 0; i < BUCKETS_COUNT; i++) {
      const cfg = throttleConfigInit();
      const b = cfg.buckets[i];
      const cases: [number, number, string | undefined][] = [
        [100, 0, 'bps_max/iops_max require corresponding bps/iops values'],
        [0, 0, undefined],
        [0, 100, undefined],
        [30, 100, 'bps_max/iops_max cannot be lower than bps/iops'],
        [100, 100, undefined],
      ];
      for (const [max, avg, expected] of cases) {
        b.max = max;
        b.avg = avg;
        expect(validateThrottleConfig(cfg), `bucket ${i} max ${max} avg ${avg}`).to.equal(expected);
      }
    }
  });

  it('T9: iops-size needs an iops limit', () => {
    const cfg = throttleConfigInit();
    cfg.opSize = 4096;
    expect(validateThrottleConfig(cfg)).to.equal('iops size requires an iops value to be set');
    for (const ops of [BucketType.opsTotal, BucketType.opsRead, BucketType.opsWrite]) {
      const c = throttleConfigInit();
      c.opSize = 4096;
      c.buckets[ops].avg = 10;
      expect(validateThrottleConfig(c)).to.equal(undefined);
    }
    // A bps limit does not count.
    cfg.buckets[BucketType.bpsTotal].avg = 10;
    expect(validateThrottleConfig(cfg)).to.equal('iops size requires an iops value to be set');
  });

  it('checks run in QEMU order: the conflict is reported before a range error', () => {
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.bpsTotal].avg = -1;
    cfg.buckets[BucketType.bpsRead].avg = 5;
    expect(validateThrottleConfig(cfg)).to.equal(ThrottleValidityError.conflict);
  });

  it('non-integer values are refused (QEMU cannot express them)', () => {
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.opsRead].avg = 1.5;
    expect(validateThrottleConfig(cfg)).to.equal(ThrottleValidityError.notInteger);
    cfg.buckets[BucketType.opsRead].avg = NaN;
    expect(validateThrottleConfig(cfg)).to.equal(ThrottleValidityError.notInteger);
  });

  it('the throwing variant throws ConfigError with the same text, and passes valid configs', () => {
    const cfg = throttleConfigInit();
    cfg.opSize = 1;
    expect(() => assertThrottleConfigValid(cfg))
      .to.throw(ConfigError)
      .with.property('message', 'iops size requires an iops value to be set');
    expect(() => assertThrottleConfigValid(throttleConfigInit())).not.to.throw();
  });
});

describe('throttle: accounting (throttle_account)', () => {
  const sizeBuckets = [BucketType.bpsTotal, BucketType.bpsRead, BucketType.bpsWrite];
  const opsBuckets = [BucketType.opsTotal, BucketType.opsRead, BucketType.opsWrite];

  /** test-throttle.c do_test_accounting: one read then one write of `size`. */
  function doTestAccounting(isOps: boolean, size: number, avg: number, opSize: number): number[] {
    const clock = new VirtualClock();
    const ctx = new AioContext({ clock });
    const buckets = isOps ? opsBuckets : sizeBuckets;
    const cfg = throttleConfigInit();
    for (const i of buckets) cfg.buckets[i].avg = avg;
    cfg.opSize = opSize;
    const ts = new ThrottleState();
    const tt = new ThrottleTimers(
      ctx,
      () => {},
      () => {},
    );
    ts.configure(cfg, clock.now());
    ts.account(ThrottleDirection.read, size);
    ts.account(ThrottleDirection.write, size);
    tt.destroy();
    return buckets.map((i) => ts.cfg.buckets[i].level);
  }

  it('T11: bps buckets count bytes; iops-size does not change them', () => {
    expect(doTestAccounting(false, 512, 150, 0)).to.deep.equal([1024, 512, 512]);
    expect(doTestAccounting(false, 1024, 150, 0)).to.deep.equal([2048, 1024, 1024]);
    expect(doTestAccounting(false, 1024, 150, 17)).to.deep.equal([2048, 1024, 1024]);
  });

  it('T11: ops buckets count one per request, or size/op_size when larger', () => {
    expect(doTestAccounting(true, 512, 150, 0)).to.deep.equal([2, 1, 1]);
    expect(doTestAccounting(true, 1024, 150, 0)).to.deep.equal([2, 1, 1]);
    for (const avg of [150, 300]) {
      const [total, read, write] = doTestAccounting(true, 64 * 512, avg, 13 * 512);
      expect(total).to.be.closeTo(128 / 13, EPS);
      expect(read).to.be.closeTo(64 / 13, EPS);
      expect(write).to.be.closeTo(64 / 13, EPS);
      // The fraction is computed as in C: (double)size / op_size, added to 0.
      expect(read).to.equal((64 * 512) / (13 * 512));
    }
    // A request not larger than op_size is one operation.
    expect(doTestAccounting(true, 512, 150, 4096)).to.deep.equal([2, 1, 1]);
  });

  it('T11: burst levels are charged only where burst_length > 1', () => {
    const ts = new ThrottleState();
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.bpsRead].avg = 100;
    cfg.buckets[BucketType.bpsRead].max = 200;
    cfg.buckets[BucketType.bpsRead].burstLength = 3;
    cfg.buckets[BucketType.opsRead].avg = 10;
    cfg.buckets[BucketType.opsRead].max = 20;
    ts.configure(cfg, 0);
    ts.account(ThrottleDirection.read, 512);
    expect(ts.cfg.buckets[BucketType.bpsRead].burstLevel).to.equal(512);
    expect(ts.cfg.buckets[BucketType.opsRead].burstLevel).to.equal(0);
    expect(ts.cfg.buckets[BucketType.opsRead].level).to.equal(1);
  });
});
