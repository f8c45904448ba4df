/** The echo device as a machine device type on the virtio-mmio bus (an example plugin). */
import { defineDeviceType, definePlugin } from '@vmkit/core';
import { VIRTIO_MMIO_BUS } from '../machine/virtio-mmio-slot.js';
import { EchoDevice } from './echo-device.js';

export const virtioEchoDeviceType = defineDeviceType({
  name: 'virtio-echo',
  bus: VIRTIO_MMIO_BUS,
  description: 'test device copying device-readable bytes to device-writable buffers',
  properties: {
    'queue-size': { kind: 'int', min: 1, max: 1024, default: 256 },
    queues: { kind: 'int', min: 1, max: 64, default: 1 },
  },
  create: (props, ctx) =>
    new EchoDevice({ queueSize: props['queue-size'], queues: props.queues, name: ctx.id }),
});

export const virtioEchoPlugin = definePlugin('virtio-echo', (ctx) => ctx.deviceType(virtioEchoDeviceType), {
  dependencies: ['virtio'],
});
