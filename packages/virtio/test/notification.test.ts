import { expect } from 'chai';
import { AioContext, IOThread, VirtualClock } from '@vmkit/core';
import {
  VIRTIO_COMMON_FEATURES,
  VRING_USED_F_NO_NOTIFY,
  VirtioFeature,
  VirtioInterrupt,
  featureBit,
  type VirtQueue,
} from '../src/index.js';
import { EchoDevice, VIRTIO_ECHO_F_INVERT, runBottomHalves } from '../src/testing/index.js';
import { makeRig, pattern } from './helpers/rig.js';

const INVERT = featureBit(VIRTIO_ECHO_F_INVERT);
const EVENT_IDX = featureBit(VirtioFeature.RING_EVENT_IDX);
const NOTIFY_ON_EMPTY = featureBit(VirtioFeature.NOTIFY_ON_EMPTY);

/** Echo whose drain loop lets a test act as the guest right after the first pop. */
class GapEcho extends EchoDevice {
  duringDrain: (() => void) | undefined;
  passes = 0;
  protected override handleOutput(queue: VirtQueue): void {
    do {
      this.passes++;
      queue.setNotification(false);
      let elem;
      while ((elem = queue.pop()) !== null) {
        queue.push(elem, 0);
        const hook = this.duringDrain;
        this.duringDrain = undefined;
        hook?.();
      }
      queue.setNotification(true);
    } while (!queue.isEmpty());
    queue.notify();
  }
}

function rigWith(
  want: bigint,
  options: { queueSize?: number; startIndex?: number; device?: EchoDevice } = {},
) {
  const rig = makeRig({
    queueSize: options.queueSize ?? 16,
    ...(options.device ? { device: options.device } : {}),
  });
  expect(rig.driver.negotiate(want).ok).to.equal(true);
  const q = rig.driver.setupQueue(
    0,
    options.startIndex !== undefined ? { startIndex: options.startIndex } : {},
  );
  if (options.startIndex !== undefined) rig.device.queue(0).restoreIndices(options.startIndex);
  rig.driver.driverOk();
  return { ...rig, q, vq: rig.device.queue(0) };
}

describe('virtqueue notification suppression', () => {
  it('EVENT_IDX: one interrupt for two requests when used_event asks for it (qtest virtio-blk idx)', () => {
    const { q, run, driver } = rigWith(~INVERT);
    // The first completion after reset always notifies (no interrupt signalled yet).
    q.submit({ out: pattern(4), inLength: 4 });
    q.kick();
    run();
    q.reap(false);
    expect(driver.interrupts).to.equal(1);
    q.setUsedEvent(2); // notify once used.idx moves past 2: after the third request
    q.submit({ out: pattern(4), inLength: 4 });
    q.kick();
    run();
    expect(q.pendingUsed).to.equal(1);
    expect(driver.interrupts, 'no interrupt for the second request').to.equal(1);
    q.submit({ out: pattern(4), inLength: 4 });
    q.kick();
    run();
    expect(q.pendingUsed).to.equal(2);
    expect(driver.interrupts).to.equal(2);
    expect(driver.vringInterrupts).to.equal(2);
  });

  it('EVENT_IDX: used_event is compared with 16-bit wrap', () => {
    const { q, run, driver } = rigWith(~INVERT, { startIndex: 65533 });
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    q.reap(false);
    expect(driver.interrupts, 'first notification after a restore is unconditional').to.equal(1);
    q.setUsedEvent(65535);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(q.deviceUsedIdx).to.equal(65535);
    expect(driver.interrupts).to.equal(1);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(q.deviceUsedIdx).to.equal(0);
    expect(driver.interrupts).to.equal(2);
  });

  it('EVENT_IDX: a used_event behind the published range suppresses the interrupt', () => {
    const { q, run, driver } = rigWith(~INVERT);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    q.reap();
    expect(driver.interrupts).to.equal(1);
    q.setUsedEvent(0); // already passed: no interrupt for index 1
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(driver.interrupts).to.equal(1);
  });

  it('EVENT_IDX: the device publishes avail_event, so the driver kicks only when it crosses it', () => {
    const { q, run, vq } = rigWith(~INVERT);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(q.availEvent).to.equal(1);
    q.submit({ out: pattern(2), inLength: 2 });
    expect(q.kickIfNeeded()).to.equal(true);
    run();
    expect(q.availEvent).to.equal(2);
    // Device-side: notifications disabled, avail_event stays where it was.
    vq.setNotification(false);
    q.submit({ out: pattern(2), inLength: 2 });
    q.submit({ out: pattern(2), inLength: 2 });
    expect(vq.pop()).to.not.equal(null);
    expect(q.availEvent).to.equal(2);
    vq.setNotification(true);
    expect(q.availEvent, 're-enabling publishes the current avail idx').to.equal(4);
    expect(vq.isEmpty()).to.equal(false);
  });

  it('without EVENT_IDX: setNotification toggles VRING_USED_F_NO_NOTIFY, which the driver honours', () => {
    const { q, vq } = rigWith(~(INVERT | EVENT_IDX));
    vq.setNotification(false);
    expect(q.usedFlags & VRING_USED_F_NO_NOTIFY).to.equal(VRING_USED_F_NO_NOTIFY);
    q.submit({ out: pattern(2), inLength: 2 });
    expect(q.kickIfNeeded()).to.equal(false);
    vq.setNotification(true);
    expect(q.usedFlags & VRING_USED_F_NO_NOTIFY).to.equal(0);
    q.submit({ out: pattern(2), inLength: 2 });
    expect(q.kickIfNeeded()).to.equal(true);
    expect(vq.notificationEnabled).to.equal(true);
  });

  it('without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT suppresses interrupts', () => {
    const { q, run, driver } = rigWith(~(INVERT | EVENT_IDX));
    q.setNoInterrupt(true);
    for (let i = 0; i < 3; i++) {
      q.submit({ out: pattern(2), inLength: 2 });
      q.kick();
      run();
    }
    expect(q.pendingUsed).to.equal(3);
    expect(driver.interrupts).to.equal(0);
    q.setNoInterrupt(false);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(driver.interrupts).to.equal(1);
  });

  it('NOTIFY_ON_EMPTY: an emptied queue interrupts even with NO_INTERRUPT set', () => {
    const device = new EchoDevice({ queueSize: 16, features: VIRTIO_COMMON_FEATURES | NOTIFY_ON_EMPTY });
    const { q, run, driver } = rigWith(~EVENT_IDX, { device });
    expect(device.hasFeature(VirtioFeature.NOTIFY_ON_EMPTY)).to.equal(true);
    q.setNoInterrupt(true);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(driver.interrupts).to.equal(1);
  });

  for (const eventIdx of [true, false]) {
    it(`the drain loop re-checks after re-enabling and handles buffers added in the gap${eventIdx ? ' (EVENT_IDX)' : ''}`, () => {
      const device = new GapEcho({ queueSize: 16 });
      const { q, run } = rigWith(eventIdx ? ~INVERT : ~(INVERT | EVENT_IDX), { device });
      device.duringDrain = () => {
        // The guest adds a buffer while kicks are suppressed: it must not kick...
        q.submit({ out: pattern(2), inLength: 2 });
        expect(q.kickIfNeeded()).to.equal(false);
      };
      q.submit({ out: pattern(2), inLength: 2 });
      q.kick();
      run();
      // ...and still gets it processed in the same handler run.
      expect(q.pendingUsed).to.equal(2);
      expect(device.passes).to.be.at.least(1);
    });
  }

  it('the host notifier can be attached to an IOThread, detached (kicks stay pending) and re-attached', () => {
    const rig = rigWith(~INVERT);
    const { q, vq, device, run } = rig;
    const iothread = new IOThread('io0', new VirtualClock());
    vq.attachHostNotifier(iothread);
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    expect(device.handlerRuns).to.equal(0);
    runBottomHalves(iothread);
    expect(device.handlerRuns).to.equal(1);
    vq.detachHostNotifier();
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    run();
    runBottomHalves(iothread);
    expect(device.handlerRuns).to.equal(1);
    expect(vq.hostNotifier.isSet).to.equal(true);
    const seen: VirtQueue[] = [];
    vq.attachHostNotifier(iothread, (queue) => seen.push(queue));
    runBottomHalves(iothread);
    expect(seen).to.deep.equal([vq]);
    expect(vq.hostNotifier.isSet).to.equal(false);
  });

  it('guest notifiers: notifyIrqfd sets the interrupt status and raises the line from the transport context', () => {
    const rig = rigWith(~INVERT);
    const { q, vq, device, driver, transport } = rig;
    device.setGuestNotifiers(true);
    const iothread = new AioContext({ name: 'io', clock: new VirtualClock() });
    vq.attachHostNotifier(iothread, (queue) => {
      queue.setNotification(false);
      let elem;
      while ((elem = queue.pop()) !== null) queue.push(elem, 0);
      queue.setNotification(true);
      queue.notifyIrqfd();
    });
    q.submit({ out: pattern(2), inLength: 2 });
    q.kick();
    runBottomHalves(iothread);
    expect(device.interruptStatus & VirtioInterrupt.VRING).to.equal(VirtioInterrupt.VRING);
    expect(transport.interruptLevel).to.equal(false);
    expect(vq.guestNotifier.isSet).to.equal(true);
    rig.run();
    expect(driver.interrupts).to.equal(1);
    device.setGuestNotifiers(false);
    vq.notifyIrqfd(); // nothing new published: EVENT_IDX says no
    expect(driver.interrupts).to.equal(1);
  });
});
