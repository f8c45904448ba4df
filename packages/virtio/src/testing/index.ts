export { GuestAllocator } from './guest-allocator.js';
export {
  GuestVirtqueue,
  type AddChainOptions,
  type ChainBuffer,
  type GuestRequest,
  type GuestVirtqueueLayout,
  type RawDescriptor,
  type SubmitOptions,
  type UsedElement,
} from './guest-virtqueue.js';
export {
  VirtioMmioDriver,
  type MmioWindow,
  type NegotiateResult,
  type SetupQueueOptions,
  type VirtioMmioDriverOptions,
} from './virtio-mmio-driver.js';
export {
  EchoDevice,
  VIRTIO_ID_ECHO,
  VIRTIO_ECHO_F_INVERT,
  ECHO_CONFIG_PROCESSED,
  ECHO_CONFIG_SCRATCH,
  ECHO_CONFIG_SIZE,
  type EchoDeviceOptions,
} from './echo-device.js';
export { virtioEchoDeviceType, virtioEchoPlugin } from './echo-plugin.js';
export { runBottomHalves, runAllBottomHalves } from './run-bottom-halves.js';
