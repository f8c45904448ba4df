import { expect } from 'chai';
import fc from 'fast-check';
import { AioContext, ConfigError, VirtualClock } from '../src/index.js';

describe('loop: VirtualClock timers', () => {
  it('fires in deadline order, ties in arming order, with now() === deadline in the callback', async () => {
    const clock = new VirtualClock(1000);
    const log: [string, number][] = [];
    const mk = (name: string) => clock.createTimer(() => log.push([name, clock.now()]));
    mk('c').arm(1300);
    mk('a').arm(1100);
    mk('b1').arm(1200);
    mk('b2').arm(1200);
    expect(clock.pendingTimers).to.equal(4);
    await clock.advance(500);
    expect(log).to.deep.equal([
      ['a', 1100],
      ['b1', 1200],
      ['b2', 1200],
      ['c', 1300],
    ]);
    expect(clock.now()).to.equal(1500);
    expect(clock.pendingTimers).to.equal(0);
  });

  it('does not fire timers beyond the window, nor before the clock reaches them', async () => {
    const clock = new VirtualClock();
    let fired = 0;
    const t = clock.createTimer(() => fired++);
    t.arm(100);
    await clock.advance(99);
    expect(fired).to.equal(0);
    expect(t.pending).to.equal(true);
    await clock.advance(1);
    expect(fired).to.equal(1);
    expect(t.pending).to.equal(false);
    expect(t.deadline).to.equal(-1);
  });

  it('re-arming replaces the deadline (timer_mod) and moves the timer after equal deadlines', async () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const a = clock.createTimer(() => log.push(`a@${clock.now()}`));
    const b = clock.createTimer(() => log.push(`b@${clock.now()}`));
    a.arm(10);
    b.arm(50);
    a.arm(50); // replaces 10; armed after b
    expect(a.deadline).to.equal(50);
    expect(clock.pendingTimers).to.equal(2);
    await clock.advance(40);
    expect(log).to.deep.equal([]);
    await clock.advance(10);
    expect(log).to.deep.equal(['b@50', 'a@50']);
  });

  it('cancel() disarms; cancelling an unarmed timer is a no-op', async () => {
    const clock = new VirtualClock();
    let fired = 0;
    const t = clock.createTimer(() => fired++);
    t.cancel();
    t.arm(10);
    t.cancel();
    expect(t.pending).to.equal(false);
    expect(t.deadline).to.equal(-1);
    expect(clock.pendingTimers).to.equal(0);
    await clock.advance(100);
    expect(fired).to.equal(0);
  });

  it('a timer armed in the past fires at the next advance, without moving time backwards', async () => {
    const clock = new VirtualClock(500);
    const seen: number[] = [];
    clock.createTimer(() => seen.push(clock.now())).arm(100);
    expect(seen).to.deep.equal([]);
    await clock.advance(0);
    expect(seen).to.deep.equal([500]);
  });

  it('a callback may re-arm its own timer inside the window (periodic timer)', async () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    const t = clock.createTimer(() => {
      seen.push(clock.now());
      t.arm(clock.now() + 30);
    });
    t.arm(30);
    await clock.advance(100);
    expect(seen).to.deep.equal([30, 60, 90]);
    expect(t.deadline).to.equal(120);
  });

  it('promise continuations run between firings: a timer armed by one within the window fires in the same advance', async () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    const follower = clock.createTimer(() => seen.push(`follower@${clock.now()}`));
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    void woken.then(() => follower.arm(clock.now() + 5));
    clock
      .createTimer(() => {
        seen.push(`first@${clock.now()}`);
        wake();
      })
      .arm(10);
    clock.createTimer(() => seen.push(`last@${clock.now()}`)).arm(12);
    await clock.advance(20);
    expect(seen).to.deep.equal(['first@10', 'last@12', 'follower@15']);
  });

  it('bottom halves scheduled by a timer, and BHs they lead to, run before the next timer fires', async () => {
    const clock = new VirtualClock();
    const ctx = new AioContext({ name: 'tc', clock });
    const log: string[] = [];
    const bh2 = ctx.bh(() => log.push(`bh2@${clock.now()}`));
    const bh = ctx.bh(() => {
      log.push(`bh@${clock.now()}`);
      // a continuation of the BH schedules another BH: a later batch, still before t2
      void Promise.resolve().then(() => bh2.schedule());
    });
    ctx
      .newTimer(() => {
        log.push('t1');
        bh.schedule();
      })
      .arm(10);
    ctx.newTimer(() => log.push('t2')).arm(10);
    await clock.advance(10);
    expect(log).to.deep.equal(['t1', 'bh@10', 'bh2@10', 't2']);
  });

  it('advanceTo() moves to an absolute time and refuses to go backwards', async () => {
    const clock = new VirtualClock(100);
    await clock.advanceTo(250);
    expect(clock.now()).to.equal(250);
    let err: unknown;
    await clock.advanceTo(200).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
    err = undefined;
    await clock.advance(-1).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
    expect(clock.now()).to.equal(250);
  });

  it('runTimers() fires until none is armed or the limit, and returns the time reached', async () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    const t = clock.createTimer(() => {
      seen.push(clock.now());
      if (seen.length < 3) t.arm(clock.now() + 1000);
    });
    t.arm(1000);
    expect(await clock.runTimers()).to.equal(3000);
    expect(seen).to.deep.equal([1000, 2000, 3000]);
    expect(clock.pendingTimers).to.equal(0);

    const u = clock.createTimer(() => seen.push(clock.now()));
    u.arm(9000);
    expect(await clock.runTimers(5000)).to.equal(5000);
    expect(u.pending).to.equal(true);
    expect(await clock.runTimers()).to.equal(9000);
  });

  it('refuses overlapping advances', async () => {
    const clock = new VirtualClock();
    clock.createTimer(() => {}).arm(1);
    const first = clock.advance(10);
    let err: unknown;
    await clock.advance(10).catch((e: unknown) => (err = e));
    await first;
    expect(err).to.be.instanceOf(ConfigError);
    expect(clock.now()).to.equal(10);
  });

  it('rejects non-finite deadlines', () => {
    const t = new VirtualClock().createTimer(() => {});
    expect(() => t.arm(NaN)).to.throw(RangeError);
    expect(() => t.arm(Infinity)).to.throw(RangeError);
  });

  it('a throwing callback rejects advance() and leaves the clock usable', async () => {
    const clock = new VirtualClock();
    clock
      .createTimer(() => {
        throw new Error('timer boom');
      })
      .arm(5);
    let err: unknown;
    await clock.advance(10).catch((e: unknown) => (err = e));
    expect((err as Error).message).to.equal('timer boom');
    let fired = false;
    clock.createTimer(() => (fired = true)).arm(clock.now() + 1);
    await clock.advance(100);
    expect(fired).to.equal(true);
  });

  it('property: any sequence of arms/cancels fires the survivors sorted by (deadline, last arming)', async () => {
    const op = fc.record({
      timer: fc.nat(7),
      deadline: fc.integer({ min: 0, max: 50 }),
      cancel: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const clock = new VirtualClock();
        const fired: number[] = [];
        const timers = Array.from({ length: 8 }, (_, i) => clock.createTimer(() => fired.push(i)));
        const armed = new Map<number, { deadline: number; seq: number }>();
        let seq = 0;
        for (const { timer, deadline, cancel } of ops) {
          if (cancel) {
            timers[timer].cancel();
            armed.delete(timer);
          } else {
            timers[timer].arm(deadline);
            armed.set(timer, { deadline, seq: seq++ });
          }
        }
        const expected = [...armed.entries()]
          .sort(([, x], [, y]) => x.deadline - y.deadline || x.seq - y.seq)
          .map(([i]) => i);
        expect(clock.pendingTimers).to.equal(armed.size);
        await clock.advance(50);
        expect(fired).to.deep.equal(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('loop: VirtualClock settles pending work before advancing', () => {
  it('a timer armed by a promise continuation resumed just before advance() fires in that window', async () => {
    const clock = new VirtualClock();
    const ctx = new AioContext({ clock });
    const fired: number[] = [];
    const timer = ctx.newTimer(() => fired.push(clock.now()));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    void gate.then(() => timer.arm(clock.now() + 500));
    release(); // the continuation is queued, not yet run
    await clock.advance(1000);
    expect(fired).to.deep.equal([500]);
    expect(clock.now()).to.equal(1000);
  });
});
