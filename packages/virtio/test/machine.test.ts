import { expect } from 'chai';
import { ConfigError, GuestMemory, Machine, VirtualClock, defineDeviceType, definePlugin } from '@vmkit/core';
import {
  VIRTIO_MMIO_BUS,
  VirtioMmioRegister as R,
  createVirtioMmioSlot,
  virtioPlugin,
  type VirtioMmioSlot,
} from '../src/index.js';
import {
  EchoDevice,
  GuestAllocator,
  VIRTIO_ID_ECHO,
  VirtioMmioDriver,
  runBottomHalves,
  virtioEchoPlugin,
} from '../src/testing/index.js';
import { pattern } from './helpers/rig.js';

const notVirtioPlugin = definePlugin('not-virtio', (ctx) =>
  ctx.deviceType(
    defineDeviceType({
      name: 'plain',
      bus: VIRTIO_MMIO_BUS,
      properties: {},
      create: () => ({ realize() {}, unrealize() {}, reset() {} }),
    }),
  ),
);

async function machineWithSlot(): Promise<{
  machine: Machine;
  slot: VirtioMmioSlot;
  memory: GuestMemory;
  driverFor: () => VirtioMmioDriver;
}> {
  const machine = await Machine.create({
    plugins: [virtioPlugin, virtioEchoPlugin, notVirtioPlugin],
    clock: new VirtualClock(),
  });
  const memory = new GuestMemory();
  memory.addRegion(0x40000000, new ArrayBuffer(0x40000), 'ram');
  const slot = createVirtioMmioSlot(machine, { memory, name: 'virtio-mmio.0' });
  const driverFor = () => {
    const driver = new VirtioMmioDriver(slot, memory, { allocator: new GuestAllocator(0x40000000, 0x40000) });
    slot.setInterruptHandler(driver.irq);
    return driver;
  };
  return { machine, slot, memory, driverFor };
}

describe('virtio in a Machine', () => {
  it('virtioPlugin contributes the virtio-mmio bus type (one device per bus)', async () => {
    const machine = await Machine.create({ plugins: [virtioPlugin] });
    expect(machine.busTypes()).to.include('virtio-mmio');
    const slot = createVirtioMmioSlot(machine, { memory: new GuestMemory() });
    expect(slot.bus.maxDevices).to.equal(1);
    expect(slot.bus.name).to.equal('virtio-mmio.0');
  });

  it('an empty slot answers magic, version, vendor and device id 0', async () => {
    const { slot } = await machineWithSlot();
    expect(slot.readRegister(R.MAGIC_VALUE, 4)).to.equal(0x74726976);
    expect(slot.readRegister(R.VERSION, 4)).to.equal(2);
    expect(slot.readRegister(R.DEVICE_ID, 4)).to.equal(0);
    slot.writeRegister(R.STATUS, 1, 4);
    expect(slot.readRegister(R.STATUS, 4)).to.equal(0);
  });

  it('deviceAdd plugs a virtio device into the slot; the guest drives it end to end in the machine main context', async () => {
    const { machine, slot, driverFor } = await machineWithSlot();
    const device = await machine.deviceAdd<EchoDevice>({
      type: 'virtio-echo',
      id: 'echo0',
      'queue-size': 32,
    });
    expect(slot.device).to.equal(device);
    expect(slot.readRegister(R.DEVICE_ID, 4)).to.equal(VIRTIO_ID_ECHO);
    const driver = driverFor();
    expect(driver.negotiate(~1n).ok).to.equal(true);
    const q = driver.setupQueue(0);
    expect(q.size).to.equal(32);
    driver.driverOk();
    const req = q.submit({ out: pattern(40), outSplit: [7, 33], inLength: 40, inSplit: [20, 20] });
    q.kick();
    runBottomHalves(machine.mainContext);
    expect(q.reap().map((u) => u.id)).to.deep.equal([req.head]);
    expect(q.readIn(req)).to.deep.equal(pattern(40));
    expect(driver.interrupts).to.equal(1);
  });

  it('the bus takes one device; deviceDel frees it and the same id can be added again', async () => {
    const { machine, slot } = await machineWithSlot();
    await machine.deviceAdd({ type: 'virtio-echo', id: 'echo0' });
    let error: unknown;
    try {
      await machine.deviceAdd({ type: 'virtio-echo', id: 'echo1', bus: 'virtio-mmio.0' });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as Error).message).to.match(/full/);
    const first = slot.device!;
    await machine.deviceDel('echo0');
    expect(slot.device).to.equal(null);
    expect(first.transport).to.equal(null);
    expect(slot.readRegister(R.DEVICE_ID, 4)).to.equal(0);
    await machine.deviceAdd({ type: 'virtio-echo', id: 'echo0' });
    expect(slot.device).to.not.equal(null);
    expect(slot.device).to.not.equal(first);
  });

  it('a device that is not a VirtioDevice is refused by the slot', async () => {
    const { machine, slot } = await machineWithSlot();
    let error: unknown;
    try {
      await machine.deviceAdd({ type: 'plain', id: 'p0' });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as Error).message).to.match(/not a virtio device/);
    expect(machine.hasDevice('p0')).to.equal(false);
    expect(slot.device).to.equal(null);
  });

  it('machine reset resets the virtio device through the transport', async () => {
    const { machine, slot, driverFor } = await machineWithSlot();
    await machine.deviceAdd({ type: 'virtio-echo', id: 'echo0' });
    const driver = driverFor();
    driver.negotiate();
    driver.setupQueue(0);
    driver.driverOk();
    machine.reset();
    expect(slot.readRegister(R.STATUS, 4)).to.equal(0);
    slot.writeRegister(R.QUEUE_SEL, 0, 4);
    expect(slot.readRegister(R.QUEUE_READY, 4)).to.equal(0);
  });
});
