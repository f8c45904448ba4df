import { expect } from 'chai';
import { AioContext, ConfigError, VirtualClock } from '@vmkit/core';
import {
  BucketType,
  ThrottleDirection,
  throttleConfigInit,
  ThrottleState,
  ThrottleTimers,
} from '../src/throttle/index.js';

function setup(startNs = 0): { clock: VirtualClock; ctx: AioContext } {
  const clock = new VirtualClock(startNs);
  return { clock, ctx: new AioContext({ name: 'test', clock }) };
}

describe('throttle: ThrottleState and ThrottleTimers', () => {
  it('T3: after init every avg, max and level is 0, op_size 0, previous_leak 0, burst_length 1', () => {
    const ts = new ThrottleState();
    ts.cfg.buckets[BucketType.opsRead].avg = 5;
    ts.previousLeak = 77;
    ts.init();
    expect(ts.previousLeak).to.equal(0);
    expect(ts.cfg.opSize).to.equal(0);
    for (const b of ts.cfg.buckets) {
      expect(b).to.deep.equal({ avg: 0, max: 0, level: 0, burstLevel: 0, burstLength: 1 });
    }
    expect(ts.enabled).to.equal(false);
  });

  it('T3: timers run on the context clock; a timer exists iff its callback was given', () => {
    const { ctx } = setup();
    const both = new ThrottleTimers(
      ctx,
      () => {},
      () => {},
    );
    expect(both.clock.kind).to.equal('virtual');
    expect(both.clock).to.equal(ctx.clock);
    expect(both.timers[ThrottleDirection.read]).to.not.equal(null);
    expect(both.timers[ThrottleDirection.write]).to.not.equal(null);

    const readOnly = new ThrottleTimers(ctx, () => {}, null);
    expect(readOnly.timers[ThrottleDirection.read]).to.not.equal(null);
    expect(readOnly.timers[ThrottleDirection.write]).to.equal(null);

    const writeOnly = new ThrottleTimers(ctx, null, () => {});
    expect(writeOnly.timers[ThrottleDirection.read]).to.equal(null);
    expect(writeOnly.timers[ThrottleDirection.write]).to.not.equal(null);

    expect(() => new ThrottleTimers(ctx, null, null)).to.throw(ConfigError);
  });

  it('T3: destroy drops both timers; detach makes them uninitialised, attach initialised again', async () => {
    const { clock, ctx } = setup();
    let fired = 0;
    const tt = new ThrottleTimers(
      ctx,
      () => fired++,
      () => fired++,
    );
    expect(tt.areInitialized).to.equal(true);
    tt.timers[0]!.arm(10);
    tt.detachAioContext();
    expect(tt.areInitialized).to.equal(false);
    expect(tt.aioContext).to.equal(null);
    await clock.advance(20);
    expect(fired, 'a detached timer was cancelled').to.equal(0);

    const other = new AioContext({ name: 'iothread0', clock });
    tt.attachAioContext(other);
    expect(tt.areInitialized).to.equal(true);
    expect(tt.aioContext).to.equal(other);
    tt.timers[1]!.arm(30);
    await clock.advance(20);
    expect(fired).to.equal(1);

    tt.destroy();
    expect(tt.timers).to.deep.equal([null, null]);
    expect(tt.areInitialized).to.equal(false);
  });

  it('T10: configure stamps previous_leak and zeroes levels; getConfig returns avg/max verbatim', () => {
    const { clock, ctx } = setup(12345);
    const orig = throttleConfigInit();
    const b = orig.buckets;
    b[BucketType.bpsTotal].avg = 153;
    b[BucketType.bpsRead].avg = 56;
    b[BucketType.bpsWrite].avg = 1;
    b[BucketType.opsTotal].avg = 150;
    b[BucketType.opsRead].avg = 69;
    b[BucketType.opsWrite].avg = 23;
    b[BucketType.bpsTotal].max = 0;
    b[BucketType.bpsRead].max = 56;
    b[BucketType.bpsWrite].max = 120;
    b[BucketType.opsTotal].max = 150;
    b[BucketType.opsRead].max = 400;
    b[BucketType.opsWrite].max = 500;
    b.forEach((bkt, i) => {
      bkt.level = 45 + i;
      bkt.burstLevel = 3;
    });
    orig.opSize = 1;

    const ts = new ThrottleState();
    const tt = new ThrottleTimers(
      ctx,
      () => {},
      () => {},
    );
    expect(ts.previousLeak).to.equal(0);
    ts.configure(orig, clock.now());
    expect(ts.previousLeak).to.equal(12345);

    const final = ts.getConfig();
    tt.destroy();
    const avg = final.buckets.map((x) => x.avg);
    const max = final.buckets.map((x) => x.max);
    expect(avg).to.deep.equal([153, 56, 1, 150, 69, 23]);
    expect(max).to.deep.equal([0, 56, 120, 150, 400, 500]);
    expect(final.buckets.map((x) => x.level)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(final.buckets.map((x) => x.burstLevel)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(final.opSize).to.equal(1);
    // The caller's config is untouched and the state holds its own copy.
    expect(orig.buckets[0].level).to.equal(45);
    final.buckets[0].avg = 1;
    expect(ts.cfg.buckets[0].avg).to.equal(153);
  });

  it('do_leak leaks by the elapsed time and never for a non-positive delta', () => {
    const ts = new ThrottleState();
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.opsRead].avg = 10;
    ts.configure(cfg, 1000);
    ts.cfg.buckets[BucketType.opsRead].level = 5;
    ts.doLeak(1000 + 200_000_000); // 0.2 s at 10/s = 2
    expect(ts.cfg.buckets[BucketType.opsRead].level).to.equal(3);
    ts.doLeak(1000); // time going backwards leaks nothing but moves previous_leak
    expect(ts.cfg.buckets[BucketType.opsRead].level).to.equal(3);
    expect(ts.previousLeak).to.equal(1000);
  });

  it('compute_wait_for takes the longest wait among total and per-direction bytes and ops', () => {
    const ts = new ThrottleState();
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.opsTotal].avg = 10; // 1 op bucket
    cfg.buckets[BucketType.bpsWrite].avg = 5120; // 512 byte bucket
    ts.configure(cfg, 0);
    ts.cfg.buckets[BucketType.opsTotal].level = 2; // 1 op over: 100 ms
    ts.cfg.buckets[BucketType.bpsWrite].level = 1536; // 1024 bytes over: 200 ms
    expect(ts.computeWaitFor(ThrottleDirection.read)).to.equal(100_000_000);
    expect(ts.computeWaitFor(ThrottleDirection.write)).to.equal(200_000_000);
  });

  it('schedule_timer leaks, arms the direction timer at now + wait, and leaves an armed timer alone', async () => {
    const { clock, ctx } = setup();
    const fired: number[] = [];
    const tt = new ThrottleTimers(ctx, () => fired.push(clock.now()), null);
    const ts = new ThrottleState();
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.opsRead].avg = 10;
    ts.configure(cfg, 0);
    ts.account(ThrottleDirection.read, 512);
    expect(ts.scheduleTimer(tt, ThrottleDirection.read)).to.equal(false);
    ts.account(ThrottleDirection.read, 512);
    ts.account(ThrottleDirection.read, 512);
    await clock.advance(50_000_000);
    // level 3, leaked 0.5 at t = 50 ms: 1.5 over the 1 op bucket, 150 ms at 10 ops/s.
    expect(ts.scheduleTimer(tt, ThrottleDirection.read)).to.equal(true);
    expect(tt.timers[0]!.deadline).to.equal(200_000_000);
    ts.account(ThrottleDirection.read, 512);
    expect(ts.scheduleTimer(tt, ThrottleDirection.read)).to.equal(true);
    expect(tt.timers[0]!.deadline, 'armed timer unchanged').to.equal(200_000_000);
    await clock.advance(150_000_000);
    expect(fired).to.deep.equal([200_000_000]);
    expect(() => ts.scheduleTimer(tt, ThrottleDirection.write)).to.throw();
  });
});
