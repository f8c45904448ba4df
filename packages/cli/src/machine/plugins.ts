/**
 * The machine `vmkit run` builds: the block layer, virtio-mmio with virtio-blk, and the Xen bus
 * (an in-process hypervisor) with xen-block; and the schema validation needs from it.
 */
import { Machine, type Clock, type PropertySchema } from '@vmkit/core';
import { blockLayerPlugin } from '@vmkit/block-layer';
import { virtioPlugin } from '@vmkit/virtio';
import { virtioBlkPlugin } from '@vmkit/virtio-blk';
import { xenBusPlugin } from '@vmkit/xen-bus';
import { xenBlockPlugin } from '@vmkit/xen-block';
import { DISK_DEVICE_TYPES, type DiskDeviceType } from '../config/types.js';
import type { MachineSchema } from '../config/validate-machine.js';

/** A machine with every plugin vmkit run uses, on `clock` (default: the host clock). */
export function createRunMachine(clock?: Clock): Promise<Machine> {
  return Machine.create({
    name: 'vmkit-run',
    plugins: [blockLayerPlugin, virtioPlugin, virtioBlkPlugin, xenBusPlugin, xenBlockPlugin],
    ...(clock !== undefined ? { clock } : {}),
  });
}

/** Object types, block drivers and disk device types registered in `machine`. */
export function machineSchema(machine: Machine): MachineSchema {
  const { objectTypes, blockDrivers, deviceTypes } = machine.registries;
  const disks = new Map<DiskDeviceType, PropertySchema>();
  for (const name of DISK_DEVICE_TYPES) {
    const type = deviceTypes.get(name);
    if (type !== undefined) disks.set(name, type.properties);
  }
  return {
    objectTypes: new Map(objectTypes.names().map((n) => [n, objectTypes.get(n)!.properties])),
    blockDrivers: blockDrivers.names().sort(),
    deviceTypes: disks,
  };
}
