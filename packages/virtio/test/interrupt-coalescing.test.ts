import { expect } from 'chai';
import { VirtualClock } from '@vmkit/core';
import {
  VirtQueueElement,
  VirtioFeature,
  checkInterruptCoalescing,
  featureBit,
  type InterruptCoalescingOptions,
  type VirtQueue,
} from '../src/index.js';
import { EchoDevice, VIRTIO_ECHO_F_INVERT } from '../src/testing/index.js';
import { makeRig, pattern } from './helpers/rig.js';

const INVERT = featureBit(VIRTIO_ECHO_F_INVERT);
const EVENT_IDX = featureBit(VirtioFeature.RING_EVENT_IDX);

/** Pops every request on a kick and completes them only when the test says so. */
class DeferredDevice extends EchoDevice {
  readonly popped: VirtQueueElement[] = [];
  protected override handleOutput(queue: VirtQueue): void {
    let elem;
    while ((elem = queue.pop()) !== null) this.popped.push(elem);
  }

  /** Completes the `n` oldest requests (one used.idx write), then asks to notify. */
  complete(n: number, irqfd = false): void {
    const q = this.queue(0);
    for (const e of this.popped.splice(0, n)) q.fillNext(e, 0);
    q.publish();
    if (irqfd) q.notifyIrqfd();
    else q.notify();
  }
}

const OPTIONS: InterruptCoalescingOptions = { maxFrames: 4, usecs: 100 };

function rigWith(want: bigint, options: InterruptCoalescingOptions | null = OPTIONS, startIndex?: number) {
  const device = new DeferredDevice({ queueSize: 64 });
  const rig = makeRig({ device });
  expect(rig.driver.negotiate(want).ok).to.equal(true);
  const q = rig.driver.setupQueue(0, startIndex !== undefined ? { startIndex } : {});
  if (startIndex !== undefined) device.queue(0).restoreIndices(startIndex);
  rig.driver.driverOk();
  const clock = rig.ctx.clock as VirtualClock;
  device.setInterruptCoalescing(options, clock);
  /** The guest submits `n` requests with one kick; the device pops them. */
  const submit = (n: number): void => {
    for (let i = 0; i < n; i++) q.submit({ out: pattern(4), inLength: 4 });
    q.kick();
    rig.run();
  };
  return { ...rig, q, device, clock, submit, vq: device.queue(0) };
}

describe('interrupt coalescing', () => {
  it('holds the interrupt until the guest would find maxFrames completions', () => {
    const { driver, device, submit, q, vq } = rigWith(~INVERT);
    submit(10);
    for (let i = 0; i < 3; i++) device.complete(1);
    expect(driver.interrupts, 'three completions: held').to.equal(0);
    expect(vq.interruptCoalescing?.isHolding).to.equal(true);
    device.complete(1);
    expect(driver.interrupts, 'four: raised').to.equal(1);
    expect(q.reap()).to.have.length(4);
    expect(vq.interruptCoalescing?.held).to.equal(1);
  });

  it('learns a queue-depth-1 guest: one expired hold, then a probe after 16, 32, ... interrupts', async () => {
    const { driver, device, submit, q, clock, vq } = rigWith(~INVERT);
    const c = vq.interruptCoalescing!;
    const roundTrip = async (): Promise<boolean> => {
      const before = driver.interrupts;
      submit(1);
      device.complete(1);
      const held = driver.interrupts === before;
      if (held) await clock.advance(100_000);
      expect(driver.interrupts).to.equal(before + 1);
      q.reap();
      return held;
    };
    expect(await roundTrip(), 'the first hold runs out').to.equal(true);
    expect(c.target).to.equal(1);
    const holds: number[] = [];
    for (let i = 0; i < 16 + 1 + 32 + 1 + 8; i++) if (await roundTrip()) holds.push(i);
    expect(holds, 'probes after 16 and then 32 immediate interrupts').to.deep.equal([16, 49]);
    expect(c.expired).to.equal(3);
    expect(c.target).to.equal(1);
  });

  it('a probe that the guest fills keeps the larger target', () => {
    const { driver, device, submit, q, vq } = rigWith(~INVERT, { maxFrames: 8, usecs: 100 });
    const c = vq.interruptCoalescing!;
    submit(8);
    for (let i = 0; i < 8; i++) device.complete(1);
    expect(driver.interrupts).to.equal(1);
    expect(c.target).to.equal(8);
    expect(q.reap()).to.have.length(8);
    expect(c.held).to.equal(1);
    expect(c.expired).to.equal(0);
  });

  it('raises when the guest would find maxFrames completions', () => {
    const { driver, device, submit, q } = rigWith(~INVERT);
    submit(10);
    for (let i = 0; i < 3; i++) device.complete(1);
    expect(driver.interrupts).to.equal(0);
    device.complete(1);
    expect(driver.interrupts, '4 = maxFrames').to.equal(1);
    expect(q.reap()).to.have.length(4);
    // The next batch starts from what the guest consumed (used_event = 4).
    device.complete(2);
    expect(driver.interrupts).to.equal(1);
    device.complete(2);
    expect(driver.interrupts).to.equal(2);
  });

  it('raises a held interrupt after usecs on the context clock', async () => {
    const { driver, device, submit, clock, vq } = rigWith(~INVERT);
    submit(3);
    device.complete(1);
    await clock.advance(99_999);
    expect(driver.interrupts).to.equal(0);
    await clock.advance(1);
    expect(driver.interrupts).to.equal(1);
    expect(vq.interruptCoalescing?.expired).to.equal(1);
    // Later completions before the guest consumed: EVENT_IDX suppression as usual (no interrupt).
    device.complete(1);
    expect(driver.interrupts).to.equal(1);
  });

  it('through the guest notifier (irqfd path) as well', () => {
    const { driver, device, submit, ctx, run } = rigWith(~INVERT);
    device.setGuestNotifiers(true);
    submit(4);
    device.complete(3, true);
    run();
    expect(driver.interrupts).to.equal(0);
    device.complete(1, true);
    run();
    expect(driver.interrupts).to.equal(1);
    expect(ctx.clock.now()).to.equal(0);
  });

  it('without EVENT_IDX interrupts are never held', () => {
    const { driver, device, submit } = rigWith(~INVERT & ~EVENT_IDX);
    submit(3);
    device.complete(1);
    expect(driver.interrupts).to.equal(1);
  });

  it('EVENT_IDX suppression still applies: no interrupt the guest did not ask for', () => {
    const { driver, device, submit, q } = rigWith(~INVERT);
    // The first interrupt after reset is unconditional: consume one round trip first.
    submit(4);
    device.complete(4);
    q.reap();
    expect(driver.interrupts).to.equal(1);
    submit(2);
    q.setUsedEvent(10);
    device.complete(2);
    expect(driver.interrupts).to.equal(1);
    expect(device.queue(0).interruptCoalescing?.isHolding).to.equal(false);
  });

  it('works across the 16-bit index wrap', () => {
    const { driver, device, submit, q } = rigWith(~INVERT, OPTIONS, 65534);
    submit(4);
    device.complete(1);
    device.complete(1);
    device.complete(1);
    expect(driver.interrupts).to.equal(0);
    device.complete(1);
    expect(driver.interrupts).to.equal(1);
    expect(q.reap()).to.have.length(4);
  });

  it('a hostile used_event delays an interrupt by usecs at most', async () => {
    const { driver, device, submit, q, clock } = rigWith(~INVERT);
    submit(3);
    // used_event far behind: "outstanding" looks huge, unseen small.
    q.setUsedEvent(0xfff0);
    device.complete(1);
    await clock.advance(100_000);
    expect(driver.interrupts).to.be.at.most(1);
    device.complete(2);
    await clock.advance(100_000);
    expect(driver.interrupts).to.be.at.most(2);
  });

  it('disabling the queue raises a held interrupt; reset drops it', async () => {
    const a = rigWith(~INVERT);
    a.submit(2);
    a.device.complete(1);
    expect(a.driver.interrupts).to.equal(0);
    a.vq.disable();
    expect(a.driver.interrupts).to.equal(1);

    const b = rigWith(~INVERT);
    b.submit(2);
    b.device.complete(1);
    b.device.reset();
    await b.clock.advance(1_000_000);
    expect(b.driver.interrupts).to.equal(0);
    expect(b.vq.interruptCoalescing?.isHolding).to.equal(false);
  });

  it('turning coalescing off raises what was held', () => {
    const { driver, device, submit } = rigWith(~INVERT);
    submit(2);
    device.complete(1);
    device.setInterruptCoalescing(null);
    expect(driver.interrupts).to.equal(1);
    expect(device.queue(0).interruptCoalescing).to.equal(null);
  });

  it('refuses invalid options with the value and the rule', () => {
    expect(() => checkInterruptCoalescing({ maxFrames: 1, usecs: 10 })).to.throw(
      RangeError,
      'maxFrames 1 is not an integer in 2..32768',
    );
    expect(() => checkInterruptCoalescing({ maxFrames: 8, usecs: 0 })).to.throw(
      RangeError,
      'usecs 0 is not an integer in 1..1000000',
    );
    expect(() => checkInterruptCoalescing({ maxFrames: 8, usecs: 1.5 })).to.throw(RangeError, 'usecs 1.5');
    const device = new DeferredDevice();
    expect(() => device.setInterruptCoalescing({ maxFrames: 8, usecs: 10 })).to.throw(
      TypeError,
      'needs a clock',
    );
  });
});
