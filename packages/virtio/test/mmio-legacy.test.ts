import { expect } from 'chai';
import {
  VirtioFeature,
  VirtioMmioRegister as R,
  VirtioStatus,
  featureBit,
  legacyVringLayout,
} from '../src/index.js';
import { VIRTIO_ECHO_F_INVERT } from '../src/testing/index.js';
import { makeRig, pattern } from './helpers/rig.js';

describe('virtio-mmio legacy (version 1) layout', () => {
  it('Version reads 1; VERSION_1 is not offered', () => {
    const { transport, driver } = makeRig({ legacy: true });
    expect(transport.readRegister(R.VERSION, 4)).to.equal(1);
    expect(driver.readDeviceFeatures() & featureBit(VirtioFeature.VERSION_1)).to.equal(0n);
  });

  it('QueuePFN * GuestPageSize places the rings as vring_init does, with QueueAlign', () => {
    const { transport, device } = makeRig({ legacy: true });
    const q = device.queue(0);
    transport.writeRegister(R.GUEST_PAGE_SIZE, 4096, 4);
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_NUM, 16, 4);
    transport.writeRegister(R.QUEUE_ALIGN, 4096, 4);
    transport.writeRegister(R.QUEUE_PFN, 0x20, 4);
    expect(transport.readRegister(R.QUEUE_PFN, 4)).to.equal(0x20);
    const l = legacyVringLayout(0x20000, 16, 4096);
    expect([q.ready, q.descAddr, q.availAddr, q.usedAddr]).to.deep.equal([true, l.desc, l.avail, l.used]);
    expect(q.usedAddr).to.equal(0x21000);
    expect(q.broken).to.equal(false);
  });

  it('honours a smaller GuestPageSize and QueueAlign', () => {
    const { transport, device } = makeRig({ legacy: true });
    const q = device.queue(0);
    transport.writeRegister(R.GUEST_PAGE_SIZE, 1024, 4);
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_NUM, 8, 4);
    transport.writeRegister(R.QUEUE_ALIGN, 256, 4);
    transport.writeRegister(R.QUEUE_PFN, 0x41, 4);
    const base = 0x41 * 1024;
    expect([q.descAddr, q.availAddr, q.usedAddr]).to.deep.equal([base, base + 128, base + 256]);
  });

  it('QueuePFN 0 stops using the queue', () => {
    const { transport, device } = makeRig({ legacy: true });
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_PFN, 0x20, 4);
    expect(device.queue(0).ready).to.equal(true);
    transport.writeRegister(R.QUEUE_PFN, 0, 4);
    expect(device.queue(0).ready).to.equal(false);
    expect(transport.readRegister(R.QUEUE_PFN, 4)).to.equal(0);
  });

  it('version-2-only registers are ignored: QueueReady, ring address halves, ConfigGeneration', () => {
    const { transport, device } = makeRig({ legacy: true });
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_DESC_LOW, 0x20000, 4);
    transport.writeRegister(R.QUEUE_READY, 1, 4);
    expect(device.queue(0).ready).to.equal(false);
    expect(transport.readRegister(R.QUEUE_READY, 4)).to.equal(0);
    expect(transport.readRegister(R.QUEUE_DESC_LOW, 4)).to.equal(0);
    device.setScratch(3);
    expect(transport.readRegister(R.CONFIG_GENERATION, 4)).to.equal(0);
  });

  it('drives the echo device end to end with the legacy layout', () => {
    const rig = makeRig({ legacy: true });
    const { driver, device } = rig;
    expect(driver.legacy).to.equal(true);
    expect(driver.negotiate(~featureBit(VIRTIO_ECHO_F_INVERT)).ok).to.equal(true);
    const q = driver.setupQueue(0, { size: 16 });
    driver.driverOk();
    const data = pattern(100);
    const req = q.submit({ out: data, outSplit: [30, 70], inLength: 100, inSplit: [1, 99] });
    q.kick();
    rig.run();
    const used = q.reap();
    expect(used).to.have.length(1);
    expect(used[0].id).to.equal(req.head);
    expect(used[0].len).to.equal(100);
    expect(q.readIn(req)).to.deep.equal(data);
    expect(device.processed).to.equal(1);
    expect(driver.vringInterrupts).to.equal(1);
  });

  it('a malformed chain breaks a legacy device without setting NEEDS_RESET (no VERSION_1)', () => {
    const rig = makeRig({ legacy: true });
    const { driver, device } = rig;
    driver.negotiate();
    const q = driver.setupQueue(0, { size: 16 });
    driver.driverOk();
    q.addHead(16);
    q.publish();
    q.kick();
    rig.run();
    expect(device.broken).to.equal(true);
    expect(device.lastError?.kind).to.equal('head-out-of-range');
    expect(driver.status & VirtioStatus.NEEDS_RESET).to.equal(0);
  });
});
