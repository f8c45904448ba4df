import { expect } from 'chai';
import sinon from 'sinon';
import { AioContext, HostClock } from '../src/index.js';

const activeTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('loop: HostClock', () => {
  it('is a monotonic ns clock starting near 0', () => {
    const clock = new HostClock();
    expect(clock.kind).to.equal('host');
    const a = clock.now();
    const b = clock.now();
    expect(a).to.be.at.least(0);
    expect(b).to.be.at.least(a);
    expect(a).to.be.below(1e9);
  });

  it('pending timers are unref-ed: they do not keep the process alive', () => {
    const clock = new HostClock();
    const before = activeTimeouts();
    const t = clock.createTimer(() => {});
    t.arm(clock.now() + 3600e9);
    try {
      expect(t.pending).to.equal(true);
      expect(activeTimeouts()).to.equal(before);
    } finally {
      t.cancel();
    }
    expect(t.pending).to.equal(false);
    expect(t.deadline).to.equal(-1);
  });

  describe('with faked setTimeout and process.hrtime', () => {
    let fake: sinon.SinonFakeTimers;
    beforeEach(() => {
      fake = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'hrtime'] });
    });
    afterEach(() => fake.restore());

    it('fires at the deadline, not before; re-arming replaces the deadline; cancel disarms', () => {
      const clock = new HostClock();
      const seen: number[] = [];
      const t = clock.createTimer(() => seen.push(clock.now()));
      t.arm(5e6);
      expect(t.deadline).to.equal(5e6);
      fake.tick(4);
      expect(seen).to.deep.equal([]);
      t.arm(8e6);
      fake.tick(3);
      expect(seen).to.deep.equal([]);
      fake.tick(1);
      expect(seen).to.deep.equal([8e6]);
      expect(t.pending).to.equal(false);
      t.arm(10e6);
      t.cancel();
      fake.tick(10);
      expect(seen).to.have.length(1);
    });

    it('a sub-millisecond deadline is not fired early', () => {
      const clock = new HostClock();
      const seen: number[] = [];
      const t = clock.createTimer(() => seen.push(clock.now()));
      t.arm(1.5e6);
      fake.tick(1);
      expect(seen).to.deep.equal([]);
      fake.tick(1);
      expect(seen).to.have.length(1);
      expect(seen[0]).to.be.at.least(1.5e6);
    });

    it('a timeout that wakes before now() reaches the deadline waits for the rest', () => {
      /** hrtime slower than the timer wheel: setTimeout wakes early by the clock's reading. */
      class SkewedClock extends HostClock {
        skewNs = 0;
        override now(): number {
          return super.now() - this.skewNs;
        }
      }
      const clock = new SkewedClock();
      const seen: number[] = [];
      clock.createTimer(() => seen.push(clock.now())).arm(5e6);
      clock.skewNs = 1e6;
      fake.tick(5);
      expect(seen).to.deep.equal([]);
      fake.tick(1);
      expect(seen).to.deep.equal([5e6]);
    });

    it('AioContext.newTimer on a HostClock fires the callback', () => {
      const ctx = new AioContext({ name: 'host', clock: new HostClock() });
      let fired = 0;
      ctx.newTimer(() => fired++).arm(ctx.clock.now() + 2e6);
      fake.tick(2);
      expect(fired).to.equal(1);
    });
  });
});
