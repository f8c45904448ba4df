import { expect } from 'chai';
import {
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_VENDOR_QEMU,
  VirtioInterrupt,
  VirtioMmioRegister as R,
  VirtioStatus,
} from '../src/index.js';
import {
  ECHO_CONFIG_PROCESSED,
  ECHO_CONFIG_SCRATCH,
  EchoDevice,
  VIRTIO_ID_ECHO,
} from '../src/testing/index.js';
import { makeRig, pattern } from './helpers/rig.js';

describe('virtio-mmio version 2 registers', () => {
  it('MagicValue 0x000 = "virt", Version 0x004 = 2, DeviceID 0x008, VendorID 0x00c', () => {
    const { transport } = makeRig();
    expect(transport.readRegister(R.MAGIC_VALUE, 4)).to.equal(0x74726976);
    expect(VIRTIO_MMIO_MAGIC).to.equal(0x74726976);
    expect(transport.readRegister(R.VERSION, 4)).to.equal(2);
    expect(transport.readRegister(R.DEVICE_ID, 4)).to.equal(VIRTIO_ID_ECHO);
    expect(transport.readRegister(R.VENDOR_ID, 4)).to.equal(VIRTIO_MMIO_VENDOR_QEMU);
  });

  it('register offsets match the virtio-mmio layout', () => {
    expect([
      R.DEVICE_FEATURES,
      R.DEVICE_FEATURES_SEL,
      R.DRIVER_FEATURES,
      R.DRIVER_FEATURES_SEL,
    ]).to.deep.equal([0x010, 0x014, 0x020, 0x024]);
    expect([
      R.GUEST_PAGE_SIZE,
      R.QUEUE_SEL,
      R.QUEUE_NUM_MAX,
      R.QUEUE_NUM,
      R.QUEUE_ALIGN,
      R.QUEUE_PFN,
    ]).to.deep.equal([0x028, 0x030, 0x034, 0x038, 0x03c, 0x040]);
    expect([R.QUEUE_READY, R.QUEUE_NOTIFY, R.INTERRUPT_STATUS, R.INTERRUPT_ACK, R.STATUS]).to.deep.equal([
      0x044, 0x050, 0x060, 0x064, 0x070,
    ]);
    expect([R.QUEUE_DESC_LOW, R.QUEUE_DESC_HIGH, R.QUEUE_DRIVER_LOW, R.QUEUE_DRIVER_HIGH]).to.deep.equal([
      0x080, 0x084, 0x090, 0x094,
    ]);
    expect([R.QUEUE_DEVICE_LOW, R.QUEUE_DEVICE_HIGH, R.SHM_SEL, R.CONFIG_GENERATION, R.CONFIG]).to.deep.equal(
      [0x0a0, 0x0a4, 0x0ac, 0x0fc, 0x100],
    );
  });

  it('DeviceFeaturesSel selects the word; selectors above 1 read 0', () => {
    const { transport, device } = makeRig();
    transport.writeRegister(R.DEVICE_FEATURES_SEL, 0, 4);
    expect(transport.readRegister(R.DEVICE_FEATURES, 4)).to.equal(Number(device.hostFeatures & 0xffffffffn));
    transport.writeRegister(R.DEVICE_FEATURES_SEL, 1, 4);
    expect(transport.readRegister(R.DEVICE_FEATURES, 4)).to.equal(Number(device.hostFeatures >> 32n));
    transport.writeRegister(R.DEVICE_FEATURES_SEL, 2, 4);
    expect(transport.readRegister(R.DEVICE_FEATURES, 4)).to.equal(0);
  });

  it('DriverFeatures/DriverFeaturesSel stage the two words; write-only registers read 0', () => {
    const { transport, device } = makeRig();
    transport.writeRegister(R.DRIVER_FEATURES_SEL, 1, 4);
    transport.writeRegister(R.DRIVER_FEATURES, 1, 4);
    transport.writeRegister(R.DRIVER_FEATURES_SEL, 0, 4);
    transport.writeRegister(R.DRIVER_FEATURES, 0x3000_0000, 4);
    transport.writeRegister(R.DRIVER_FEATURES_SEL, 2, 4);
    transport.writeRegister(R.DRIVER_FEATURES, 0xffff_ffff, 4);
    expect(device.driverFeatures).to.equal(0x1_3000_0000n);
    for (const off of [
      R.DRIVER_FEATURES,
      R.DRIVER_FEATURES_SEL,
      R.DEVICE_FEATURES_SEL,
      R.QUEUE_SEL,
      R.QUEUE_NUM,
    ]) {
      expect(transport.readRegister(off, 4), `0x${off.toString(16)}`).to.equal(0);
    }
    for (const off of [R.QUEUE_NOTIFY, R.INTERRUPT_ACK, R.SHM_SEL])
      expect(transport.readRegister(off, 4)).to.equal(0);
  });

  it('QueueSel/QueueNumMax: the device maximum, 0 for a queue that does not exist', () => {
    const { transport } = makeRig({ device: new EchoDevice({ queueSize: 64, queues: 2 }) });
    transport.writeRegister(R.QUEUE_SEL, 1, 4);
    expect(transport.readRegister(R.QUEUE_NUM_MAX, 4)).to.equal(64);
    transport.writeRegister(R.QUEUE_SEL, 2, 4);
    expect(transport.readRegister(R.QUEUE_NUM_MAX, 4)).to.equal(0);
    expect(transport.readRegister(R.QUEUE_READY, 4)).to.equal(0);
    transport.writeRegister(R.QUEUE_READY, 1, 4); // no queue 2: ignored, nothing thrown
    transport.writeRegister(R.QUEUE_NOTIFY, 2, 4);
  });

  it('QueueNum, 64-bit descriptor/driver/device addresses in halves, QueueReady', () => {
    const { transport, device } = makeRig({ device: new EchoDevice({ queueSize: 64 }) });
    const q = device.queue(0);
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_NUM, 32, 4);
    transport.writeRegister(R.QUEUE_DESC_LOW, 0x10000, 4);
    transport.writeRegister(R.QUEUE_DESC_HIGH, 0, 4);
    transport.writeRegister(R.QUEUE_DRIVER_LOW, 0x10400, 4);
    transport.writeRegister(R.QUEUE_DRIVER_HIGH, 0, 4);
    transport.writeRegister(R.QUEUE_DEVICE_LOW, 0x10800, 4);
    transport.writeRegister(R.QUEUE_DEVICE_HIGH, 0, 4);
    expect(q.ready, 'staged until QueueReady').to.equal(false);
    expect(q.size).to.equal(64);
    transport.writeRegister(R.QUEUE_READY, 1, 4);
    expect(transport.readRegister(R.QUEUE_READY, 4)).to.equal(1);
    expect([q.ready, q.size, q.descAddr, q.availAddr, q.usedAddr]).to.deep.equal([
      true,
      32,
      0x10000,
      0x10400,
      0x10800,
    ]);
    expect(q.broken).to.equal(false);
    expect(transport.readRegister(R.QUEUE_DESC_LOW, 4)).to.equal(0x10000);
    expect(transport.readRegister(R.QUEUE_DRIVER_LOW, 4)).to.equal(0x10400);
    expect(transport.readRegister(R.QUEUE_DEVICE_LOW, 4)).to.equal(0x10800);
    transport.writeRegister(R.QUEUE_READY, 0, 4);
    expect(q.ready).to.equal(false);
    expect(transport.readRegister(R.QUEUE_READY, 4)).to.equal(0);
  });

  it('a high address half is honoured: rings above 4 GiB are unmapped here and break the device', () => {
    const { transport, device, driver } = makeRig();
    driver.negotiate();
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_DESC_LOW, 0x10000, 4);
    transport.writeRegister(R.QUEUE_DESC_HIGH, 1, 4);
    transport.writeRegister(R.QUEUE_DRIVER_LOW, 0x10400, 4);
    transport.writeRegister(R.QUEUE_DEVICE_LOW, 0x10800, 4);
    transport.writeRegister(R.QUEUE_READY, 1, 4);
    expect(device.queue(0).descAddr).to.equal(0x1_0001_0000);
    expect(transport.readRegister(R.QUEUE_DESC_HIGH, 4)).to.equal(1);
    expect(device.lastError?.kind).to.equal('ring-unmapped');
    expect(driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
  });

  it('QueueNum outside 1..QueueNumMax is ignored (the size stays at the maximum)', () => {
    const { driver, device } = makeRig({ device: new EchoDevice({ queueSize: 16 }) });
    driver.negotiate();
    driver.write(R.QUEUE_SEL, 0);
    driver.write(R.QUEUE_NUM, 17);
    driver.write(R.QUEUE_DESC_LOW, 0x20000);
    driver.write(R.QUEUE_DRIVER_LOW, 0x21000);
    driver.write(R.QUEUE_DEVICE_LOW, 0x22000);
    driver.write(R.QUEUE_READY, 1);
    expect(device.queue(0).size).to.equal(16);
  });

  it('QueueNotify sets the queue host notifier; the handler runs from the context, not synchronously', () => {
    const rig = makeRig();
    const { driver, device } = rig;
    driver.negotiate();
    driver.setupQueue(0);
    driver.driverOk();
    driver.write(R.QUEUE_NOTIFY, 0);
    expect(device.queue(0).hostNotifier.isSet).to.equal(true);
    expect(device.handlerRuns).to.equal(0);
    rig.run();
    expect(device.handlerRuns).to.equal(1);
    expect(device.queue(0).hostNotifier.isSet).to.equal(false);
  });

  it('InterruptStatus bit 0 (used ring) and bit 1 (config); InterruptACK clears and lowers the line', () => {
    const rig = makeRig({ autoAck: false });
    const { driver, device, transport } = rig;
    driver.negotiate();
    const q = driver.setupQueue(0);
    driver.driverOk();
    q.submit({ out: pattern(4), inLength: 4 });
    q.kick();
    rig.run();
    expect(transport.readRegister(R.INTERRUPT_STATUS, 4)).to.equal(VirtioInterrupt.VRING);
    expect(transport.interruptLevel).to.equal(true);
    device.setScratch(5);
    expect(transport.readRegister(R.INTERRUPT_STATUS, 4)).to.equal(
      VirtioInterrupt.VRING | VirtioInterrupt.CONFIG,
    );
    transport.writeRegister(R.INTERRUPT_ACK, VirtioInterrupt.VRING, 4);
    expect(transport.readRegister(R.INTERRUPT_STATUS, 4)).to.equal(VirtioInterrupt.CONFIG);
    expect(transport.interruptLevel).to.equal(true);
    transport.writeRegister(R.INTERRUPT_ACK, VirtioInterrupt.CONFIG, 4);
    expect(transport.readRegister(R.INTERRUPT_STATUS, 4)).to.equal(0);
    expect(transport.interruptLevel).to.equal(false);
    expect(driver.interrupts).to.equal(1);
  });

  it('Status reads back; writing 0 resets the device and the queue registers', () => {
    const { driver, transport, device } = makeRig();
    driver.negotiate();
    driver.setupQueue(0, { size: 8 });
    driver.driverOk();
    expect(transport.readRegister(R.STATUS, 4)).to.equal(
      VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK,
    );
    transport.writeRegister(R.STATUS, 0, 4);
    expect(transport.readRegister(R.STATUS, 4)).to.equal(0);
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    expect(transport.readRegister(R.QUEUE_READY, 4)).to.equal(0);
    expect(transport.readRegister(R.QUEUE_DESC_LOW, 4)).to.equal(0);
    const q = device.queue(0);
    expect([q.ready, q.size, q.descAddr, q.lastAvailIdx, q.usedIdx]).to.deep.equal([false, 16, 0, 0, 0]);
  });

  it('ConfigGeneration changes when the device changes its config', () => {
    const { transport, device } = makeRig();
    const g0 = transport.readRegister(R.CONFIG_GENERATION, 4);
    device.setScratch(1);
    const g1 = transport.readRegister(R.CONFIG_GENERATION, 4);
    expect(g1).to.not.equal(g0);
    expect(transport.readRegister(R.CONFIG_GENERATION, 4)).to.equal(g1);
  });

  it('config space at 0x100 with byte, word and dword access, little-endian', () => {
    const { transport, device } = makeRig();
    transport.writeRegister(R.CONFIG + ECHO_CONFIG_SCRATCH, 0x44332211, 4);
    expect(device.scratchValue).to.equal(0x44332211);
    expect(transport.readRegister(R.CONFIG + ECHO_CONFIG_SCRATCH, 1)).to.equal(0x11);
    expect(transport.readRegister(R.CONFIG + ECHO_CONFIG_SCRATCH + 1, 2)).to.equal(0x3322);
    expect(transport.readRegister(R.CONFIG + ECHO_CONFIG_SCRATCH + 3, 1)).to.equal(0x44);
    transport.writeRegister(R.CONFIG + ECHO_CONFIG_SCRATCH + 2, 0xbbaa, 2);
    expect(device.scratchValue).to.equal(0xbbaa2211);
    transport.writeRegister(R.CONFIG + ECHO_CONFIG_SCRATCH + 3, 0x7f, 1);
    expect(device.scratchValue).to.equal(0x7faa2211);
    expect(transport.readRegister(R.CONFIG + ECHO_CONFIG_PROCESSED, 4)).to.equal(0);
  });

  it('config accesses beyond the config space read all ones and write nothing', () => {
    const { transport, device } = makeRig();
    expect(transport.readRegister(R.CONFIG + 8, 4)).to.equal(0xffffffff);
    expect(transport.readRegister(R.CONFIG + 7, 2)).to.equal(0xffff);
    expect(transport.readRegister(R.CONFIG + 6, 4)).to.equal(0xffffffff);
    expect(transport.readRegister(R.CONFIG + 0x100, 1)).to.equal(0xff);
    transport.writeRegister(R.CONFIG + 6, 0x12345678, 4);
    expect(device.scratchValue).to.equal(0);
  });

  it('non-config registers accept only 32-bit accesses', () => {
    const { transport } = makeRig();
    expect(transport.readRegister(R.MAGIC_VALUE, 2)).to.equal(0);
    expect(transport.readRegister(R.MAGIC_VALUE, 1)).to.equal(0);
    transport.writeRegister(R.STATUS, VirtioStatus.ACKNOWLEDGE, 1);
    expect(transport.readRegister(R.STATUS, 4)).to.equal(0);
    transport.writeRegister(R.STATUS, VirtioStatus.ACKNOWLEDGE, 4);
    expect(transport.readRegister(R.STATUS, 4)).to.equal(VirtioStatus.ACKNOWLEDGE);
  });

  it('unknown offsets read 0; shared memory regions report none (all ones)', () => {
    const { transport } = makeRig();
    expect(transport.readRegister(0x0c0, 4)).to.equal(0);
    expect(transport.readRegister(0x002, 4)).to.equal(0);
    for (const off of [R.SHM_LEN_LOW, R.SHM_LEN_HIGH, R.SHM_BASE_LOW, R.SHM_BASE_HIGH]) {
      expect(transport.readRegister(off, 4)).to.equal(0xffffffff);
    }
  });

  it('legacy-only registers are ignored by a version 2 transport', () => {
    const { transport, device } = makeRig();
    transport.writeRegister(R.GUEST_PAGE_SIZE, 4096, 4);
    transport.writeRegister(R.QUEUE_SEL, 0, 4);
    transport.writeRegister(R.QUEUE_ALIGN, 4096, 4);
    transport.writeRegister(R.QUEUE_PFN, 0x10, 4);
    expect(transport.readRegister(R.QUEUE_PFN, 4)).to.equal(0);
    expect(device.queue(0).ready).to.equal(false);
  });
});
