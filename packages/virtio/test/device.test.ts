import { expect } from 'chai';
import { ConfigError } from '@vmkit/core';
import {
  VIRTIO_COMMON_FEATURES,
  VirtioDevice,
  VirtioInterrupt,
  VirtioMmioTransport,
  VirtioStatus,
  type VirtQueue,
} from '../src/index.js';
import {
  ECHO_CONFIG_PROCESSED,
  ECHO_CONFIG_SCRATCH,
  EchoDevice,
  VIRTIO_ECHO_F_INVERT,
} from '../src/testing/index.js';
import { CaptureDevice } from './helpers/capture-device.js';
import { makeRig, pattern } from './helpers/rig.js';

/** A device whose handler does whatever the test says. */
class ScriptedDevice extends VirtioDevice {
  script: (q: VirtQueue) => void = () => {};
  constructor() {
    super({ deviceId: 0xfffd, features: VIRTIO_COMMON_FEATURES, configSize: 12 });
    this.addQueue(8);
  }
  protected override handleOutput(queue: VirtQueue): void {
    this.script(queue);
  }
  lateQueue(): void {
    this.addQueue(8);
  }
}

function ready<D extends VirtioDevice>(device?: D) {
  const rig = makeRig<D>(device ? { device } : {});
  rig.driver.negotiate(~(1n << BigInt(VIRTIO_ECHO_F_INVERT)));
  const q = rig.driver.setupQueue(0);
  rig.driver.driverOk();
  return { ...rig, q };
}

describe('VirtioDevice base', () => {
  it('notifyConfigChanged bumps the generation and raises the config interrupt after DRIVER_OK only', () => {
    const rig = makeRig();
    const { device, driver } = rig;
    const g0 = device.configGeneration;
    device.setScratch(1);
    expect(device.configGeneration).to.equal(g0 + 1);
    expect(driver.interrupts).to.equal(0);
    driver.negotiate();
    driver.setupQueue(0);
    driver.driverOk();
    device.setScratch(2);
    expect(device.configGeneration).to.equal(g0 + 2);
    expect(driver.configInterrupts).to.equal(1);
    expect(driver.vringInterrupts).to.equal(0);
    expect(driver.readConfig32(ECHO_CONFIG_SCRATCH)).to.equal(2);
  });

  it('config space reflects device state through getConfig on every read', () => {
    const { q, run, driver } = ready();
    expect(driver.readConfig32(ECHO_CONFIG_PROCESSED)).to.equal(0);
    q.submit({ out: pattern(1), inLength: 1 });
    q.submit({ out: pattern(1), inLength: 1 });
    q.kick();
    run();
    expect(driver.readConfig32(ECHO_CONFIG_PROCESSED)).to.equal(2);
    expect(driver.readConfig64(0)).to.equal(2n);
  });

  it('reset returns the device and every queue to the initial state and lowers the line', () => {
    const rig = ready(new EchoDevice({ queueSize: 16, queues: 2 }));
    const { q, run, device, driver, transport } = rig;
    driver.autoAck = false;
    q.submit({ out: pattern(3), inLength: 3 });
    q.kick();
    run();
    expect(transport.interruptLevel).to.equal(true);
    const vq = device.queue(0);
    expect([vq.lastAvailIdx, vq.usedIdx]).to.deep.equal([1, 1]);
    driver.status = 0;
    expect(transport.interruptLevel).to.equal(false);
    expect(device.interruptStatus).to.equal(0);
    expect(device.status).to.equal(0);
    expect(device.guestFeatures).to.equal(0n);
    for (const queue of device.queues) {
      expect([queue.ready, queue.size, queue.descAddr, queue.availAddr, queue.usedAddr]).to.deep.equal([
        false,
        16,
        0,
        0,
        0,
      ]);
      expect([
        queue.lastAvailIdx,
        queue.usedIdx,
        queue.inUse,
        queue.notificationEnabled,
        queue.broken,
      ]).to.deep.equal([0, 0, 0, true, false]);
    }
    expect(device.processed).to.equal(0);
  });

  it('an element popped before a reset is not published after it', () => {
    const rig = ready(new CaptureDevice());
    const { q, run, device, driver } = rig;
    q.submit({ out: pattern(3), inLength: 3 });
    q.kick();
    run();
    const stale = device.elements.pop()!;
    driver.negotiate();
    const q2 = driver.setupQueue(0);
    driver.driverOk();
    device.queue(0).push(stale, 3);
    expect(q2.deviceUsedIdx).to.equal(0);
    expect(device.queue(0).usedIdx).to.equal(0);
  });

  it('a GuestMemoryError thrown by a device handler becomes a device error, not an exception', () => {
    const device = new ScriptedDevice();
    const rig = ready(device);
    device.script = () => {
      rig.memory.readU32(0x10);
    };
    rig.q.submit({ out: pattern(3), inLength: 3 });
    rig.q.kick();
    expect(() => rig.run()).to.not.throw();
    expect(device.broken).to.equal(true);
    expect(device.lastError?.kind).to.equal('device');
    expect(rig.driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
    expect(rig.driver.configInterrupts).to.equal(1);
  });

  it('programming errors in a handler are not swallowed', () => {
    const device = new ScriptedDevice();
    const rig = ready(device);
    device.script = () => {
      throw new TypeError('bug');
    };
    rig.q.kick();
    expect(() => rig.run()).to.throw(TypeError);
    expect(device.broken).to.equal(false);
  });

  it('virtioError marks the device broken: pop returns null until reset', () => {
    const device = new ScriptedDevice();
    const rig = ready(device);
    let popped = 0;
    device.script = (queue) => {
      if (queue.pop() !== null) popped++;
      device.virtioError('bad request');
    };
    rig.q.submit({ out: pattern(1), inLength: 1 });
    rig.q.submit({ out: pattern(1), inLength: 1 });
    rig.q.kick();
    rig.run();
    expect(device.lastError).to.deep.equal({ kind: 'device', message: 'bad request', queue: -1 });
    expect(device.queue(0).pop()).to.equal(null);
    expect(device.queue(0).isEmpty()).to.equal(true);
    expect(popped).to.equal(1);
  });

  it('the interrupt line handler sees level changes only', () => {
    const rig = makeRig();
    const levels: boolean[] = [];
    rig.transport.setInterruptHandler((l) => levels.push(l));
    rig.device.raiseInterrupt(VirtioInterrupt.VRING);
    rig.device.raiseInterrupt(VirtioInterrupt.CONFIG);
    rig.device.ackInterrupt(VirtioInterrupt.VRING);
    rig.device.ackInterrupt(VirtioInterrupt.CONFIG);
    expect(levels).to.deep.equal([true, false]);
  });

  it('plugging twice, adding queues after plugging and unplugging are checked', () => {
    const device = new ScriptedDevice();
    const rig = makeRig({ device });
    expect(() => new VirtioMmioTransport(device, { memory: rig.memory, context: rig.ctx })).to.throw(
      ConfigError,
    );
    expect(() => device.lateQueue()).to.throw(ConfigError);
    expect(() => device.queue(5)).to.throw(RangeError);
    rig.transport.destroy();
    expect(device.transport).to.equal(null);
    expect(device.queue(0).hostNotifier.context).to.equal(null);
    expect(() => device.memory).to.throw(ConfigError);
  });
});
