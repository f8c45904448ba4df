/**
 * The plugin contributing the `virtio-crc32` device type on the virtio-mmio bus. Load it after
 * `virtioPlugin` (which contributes the bus type), then plug the device into a slot:
 * `machine.deviceAdd({ type: 'virtio-crc32', id: 'crc0', bus: slot.bus.name })`.
 */
import { defineDeviceType, definePlugin, type VmkitPlugin } from '@vmkit/core';
import { VIRTIO_MMIO_BUS } from '@vmkit/virtio';
import { VirtioCrc32Device } from './crc32-device.js';

export const virtioCrc32DeviceType = defineDeviceType({
  name: 'virtio-crc32',
  bus: VIRTIO_MMIO_BUS,
  description: 'checksum accelerator: answers the CRC-32 or CRC-32C of the data the guest posts',
  properties: {
    'queue-size': { kind: 'int', powerOfTwo: true, min: 2, max: 1024, default: 128 },
    castagnoli: { kind: 'bool', default: true, description: 'offer CRC-32C (feature bit 0)' },
  },
  create: (props, ctx) =>
    new VirtioCrc32Device({ name: ctx.id, queueSize: props['queue-size'], castagnoli: props.castagnoli }),
});

export const virtioCrc32Plugin: VmkitPlugin = definePlugin(
  'virtio-crc32',
  (ctx) => ctx.deviceType(virtioCrc32DeviceType),
  { dependencies: ['virtio'] },
);
