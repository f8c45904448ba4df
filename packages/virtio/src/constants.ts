/**
 * virtio constants shared by devices, queues and transports (Linux UAPI virtio_config.h,
 * virtio_ring.h, virtio_ids.h; reference/abi.md §4.3).
 */

/** Device status bits (virtio 1.x §2.1). */
export const VirtioStatus = {
  ACKNOWLEDGE: 0x01,
  DRIVER: 0x02,
  DRIVER_OK: 0x04,
  FEATURES_OK: 0x08,
  NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;
export type VirtioStatusBit = (typeof VirtioStatus)[keyof typeof VirtioStatus];

/** Transport-independent feature bit numbers (virtio 1.x §6). Device-specific bits are 0..23. */
export const VirtioFeature = {
  NOTIFY_ON_EMPTY: 24,
  ANY_LAYOUT: 27,
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  RING_RESET: 40,
} as const;
export type VirtioFeatureName = keyof typeof VirtioFeature;

/** The feature mask for bit number `bit` (0..63). */
export function featureBit(bit: number): bigint {
  if (!Number.isInteger(bit) || bit < 0 || bit > 63)
    throw new RangeError(`feature bit ${bit} is not in 0..63`);
  return 1n << BigInt(bit);
}

/** The mask of several feature bit numbers. */
export function featureBits(...bits: number[]): bigint {
  let mask = 0n;
  for (const bit of bits) mask |= featureBit(bit);
  return mask;
}

/** True when `features` contains bit number `bit`. */
export function hasFeature(features: bigint, bit: number): boolean {
  return (features & featureBit(bit)) !== 0n;
}

/** All 64 bits. */
export const FEATURES_MASK_64 = (1n << 64n) - 1n;

/** Split-ring descriptor flags (`vring_desc.flags`). */
export const VringDescFlag = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;

/** `vring_avail.flags`: the driver asks for no interrupts (without EVENT_IDX). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** `vring_used.flags`: the device asks for no kicks (without EVENT_IDX). */
export const VRING_USED_F_NO_NOTIFY = 1;

/** Size of one `vring_desc`. */
export const VRING_DESC_SIZE = 16;

/** QEMU's VIRTQUEUE_MAX_SIZE: the largest queue and the most buffers one element may map. */
export const VIRTQUEUE_MAX_SIZE = 1024;

/** Interrupt status bits (virtio-mmio InterruptStatus, PCI ISR). */
export const VirtioInterrupt = { VRING: 1, CONFIG: 2 } as const;
export type VirtioInterruptBit = (typeof VirtioInterrupt)[keyof typeof VirtioInterrupt];

/** Device ids (virtio_ids.h). */
export const VirtioDeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  RNG: 4,
  BALLOON: 5,
  SCSI: 8,
  NINEP: 9,
  GPU: 16,
  INPUT: 18,
  VSOCK: 19,
  CRYPTO: 20,
  FS: 26,
} as const;
