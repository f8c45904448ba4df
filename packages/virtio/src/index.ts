export * from './constants.js';
export * from './ring/layout.js';
export { VirtQueue, type VirtQueueOwner, type HostNotifierHandler } from './ring/virtqueue.js';
export {
  InterruptCoalescing,
  checkInterruptCoalescing,
  COALESCE_MAX_FRAMES,
  COALESCE_MAX_USECS,
  type InterruptCoalescingOptions,
  type CoalescingTimerFactory,
  type CoalescedQueue,
} from './ring/interrupt-coalescing.js';
export { VirtQueueElement } from './ring/virtqueue-element.js';
export { virtQueueErrorMessages, type VirtQueueErrorKind } from './ring/virtqueue-error.js';
export type { VirtioTransport } from './transport.js';
export {
  VirtioDevice,
  VIRTIO_COMMON_FEATURES,
  type VirtioDeviceOptions,
  type VirtioDeviceError,
} from './device/virtio-device.js';
export * from './mmio/registers.js';
export { VirtioMmioTransport, type VirtioMmioOptions } from './mmio/virtio-mmio.js';
export {
  VIRTIO_MMIO_BUS,
  virtioMmioBusType,
  VirtioMmioSlot,
  createVirtioMmioSlot,
  type VirtioMmioSlotOptions,
} from './machine/virtio-mmio-slot.js';
export { virtioPlugin } from './machine/plugin.js';
