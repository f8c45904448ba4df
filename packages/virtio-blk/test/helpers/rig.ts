/**
 * A machine with the block layer, a virtio-mmio slot and a virtio-blk device on a `vbtest`
 * node, driven by the testing driver through the slot's registers and guest memory only.
 */
import { GuestMemory, Machine, VirtualClock, type AioContext } from '@vmkit/core';
import { BlockLayer, blockLayerPlugin, type BlockBackend, type BlockDriverState } from '@vmkit/block-layer';
import { createVirtioMmioSlot, virtioPlugin, type VirtioMmioSlot } from '@vmkit/virtio';
import { GuestAllocator } from '@vmkit/virtio/testing';
import { virtioBlkPlugin, type VirtioBlk } from '../../src/index.js';
import { VirtioBlkDriver, type VirtioBlkInitOptions } from '../../src/testing/index.js';
import { vbtestPlugin, type VbState } from './test-driver.js';

export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 4 << 20;
export const DISK_SIZE = 64 << 20;

export interface RigOptions {
  readonly iothread?: boolean;
  /** Extra device properties. */
  readonly props?: Readonly<Record<string, unknown>>;
  /** Extra vbtest options (size, max-transfer, max-iov). */
  readonly disk?: Readonly<Record<string, unknown>>;
  /** blockdev read-only. */
  readonly readOnlyNode?: boolean;
  /** Driver init options; false leaves the driver uninitialised. */
  readonly init?: VirtioBlkInitOptions | false;
  readonly ramSize?: number;
}

export interface Rig {
  readonly machine: Machine;
  readonly clock: VirtualClock;
  readonly memory: GuestMemory;
  readonly slot: VirtioMmioSlot;
  readonly driver: VirtioBlkDriver;
  /** The device object (used only for `queue(0).restoreIndices`, as migration would). */
  readonly device: VirtioBlk;
  readonly layer: BlockLayer;
  readonly node: BlockDriverState<VbState>;
  readonly disk: VbState;
  /** The BlockBackend attached to the device. */
  blk(): BlockBackend;
  readonly contexts: AioContext[];
  /** Adds the device again (after deviceDel) with the rig's options. */
  addDevice(extra?: Readonly<Record<string, unknown>>): Promise<VirtioBlk>;
  newDriver(): VirtioBlkDriver;
}

export async function makeRig(options: RigOptions = {}): Promise<Rig> {
  const clock = new VirtualClock();
  const machine = await Machine.create({
    plugins: [blockLayerPlugin, virtioPlugin, vbtestPlugin, virtioBlkPlugin],
    clock,
  });
  const memory = new GuestMemory();
  const ramSize = options.ramSize ?? RAM_SIZE;
  memory.addRegion(RAM_BASE, new ArrayBuffer(ramSize), 'ram');
  const slot = createVirtioMmioSlot(machine, { memory, name: 'virtio-mmio.0' });
  if (options.iothread === true) machine.objectAdd({ type: 'iothread', id: 'io0' });
  await machine.blockdevAdd({
    driver: 'vbtest',
    nodeName: 'disk0',
    size: DISK_SIZE,
    discard: 'unmap',
    ...(options.readOnlyNode === true ? { readOnly: true } : {}),
    ...options.disk,
  });
  const layer = machine.blockLayer as BlockLayer;
  const node = layer.node('disk0') as BlockDriverState<VbState>;
  const addDevice = (extra: Readonly<Record<string, unknown>> = {}): Promise<VirtioBlk> =>
    machine.deviceAdd<VirtioBlk>({
      type: 'virtio-blk',
      id: 'vda',
      drive: 'disk0',
      ...(options.iothread === true ? { iothread: 'io0' } : {}),
      ...options.props,
      ...extra,
    });
  const device = await addDevice();
  const newDriver = (): VirtioBlkDriver => {
    const d = new VirtioBlkDriver(slot, memory, { allocator: new GuestAllocator(RAM_BASE, ramSize) });
    slot.setInterruptHandler(d.irq);
    return d;
  };
  const driver = newDriver();
  if (options.init !== false) driver.init(options.init ?? {});
  const contexts = [machine.mainContext];
  if (options.iothread === true) contexts.push(machine.iothread('io0'));
  return {
    machine,
    clock,
    memory,
    slot,
    driver,
    device,
    layer,
    node,
    disk: node.opaque,
    blk: () => layer.findBlockBackend('vda'),
    contexts,
    addDevice,
    newDriver,
  };
}

export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + 3) & 0xff;
  return out;
}

/** Runs the event loop until `cond` holds (BHs run on setImmediate turns). */
export async function until(cond: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error('until: condition not reached');
}

/** A few turns of the event loop. */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}
