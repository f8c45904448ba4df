/**
 * Why a virtqueue stopped. Each is a guest error that QEMU reports through `virtio_error`: the
 * device sets NEEDS_RESET and stops processing until the driver resets it.
 */
export type VirtQueueErrorKind =
  /** A ring (descriptor table, avail or used) is not inside one region of guest memory. */
  | 'ring-unmapped'
  /** avail.idx moved more than the queue size ahead of the last consumed index. */
  | 'avail-idx-jump'
  /** The avail ring names a head descriptor index >= queue size. */
  | 'head-out-of-range'
  /** A `next` field points outside the table it belongs to. */
  | 'next-out-of-range'
  /** The chain is longer than its table (a loop) or maps more than VIRTQUEUE_MAX_SIZE buffers. */
  | 'chain-too-long'
  /** A descriptor has length 0. */
  | 'zero-length'
  /** A buffer is not inside guest memory. */
  | 'buffer-unmapped'
  /** INDIRECT used though VIRTIO_RING_F_INDIRECT_DESC was not negotiated. */
  | 'indirect-not-negotiated'
  /** An indirect table's length is 0 or not a multiple of 16. */
  | 'bad-indirect-length'
  /** The indirect table itself is not inside one region of guest memory. */
  | 'indirect-unmapped'
  /** INDIRECT inside an indirect table, or on a descriptor other than the head. */
  | 'nested-indirect'
  /** INDIRECT together with NEXT on the same descriptor. */
  | 'indirect-with-next'
  /** A device-readable buffer after a device-writable one. */
  | 'readable-after-writable'
  /** The device reported an error about a request it could not parse (`VirtioDevice.virtioError`). */
  | 'device';

export const virtQueueErrorMessages: Readonly<Record<VirtQueueErrorKind, string>> = {
  'ring-unmapped': 'cannot map the rings',
  'avail-idx-jump': 'guest moved the avail index too far',
  'head-out-of-range': 'head descriptor index out of range',
  'next-out-of-range': 'next descriptor index out of range',
  'chain-too-long': 'looped or too long descriptor chain',
  'zero-length': 'zero sized buffers are not allowed',
  'buffer-unmapped': 'buffer outside guest memory',
  'indirect-not-negotiated': 'indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC',
  'bad-indirect-length': 'invalid size for indirect buffer table',
  'indirect-unmapped': 'cannot map indirect buffer table',
  'nested-indirect': 'nested or misplaced indirect descriptor',
  'indirect-with-next': 'indirect descriptor with the NEXT flag',
  'readable-after-writable': 'incorrect order for descriptors',
  device: 'device error',
};
