/**
 * virtio-blk wire constants (Linux UAPI virtio_blk.h; reference/abi.md §4.4, qemu-behaviour.md
 * §4.1) and the config-space layout.
 */

/** Request types (`virtio_blk_outhdr.type`). */
export const VirtioBlkType = {
  IN: 0,
  OUT: 1,
  SCSI_CMD: 2,
  FLUSH: 4,
  GET_ID: 8,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
  /** Legacy flag bit; always ignored. */
  BARRIER: 0x8000_0000,
} as const;

/** Status byte values written in the last device-writable byte. */
export const VirtioBlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
export type VirtioBlkStatusValue = (typeof VirtioBlkStatus)[keyof typeof VirtioBlkStatus];

/** Device feature bit numbers (VIRTIO_BLK_F_*). FLUSH is also known as WCE. */
export const VirtioBlkFeature = {
  BARRIER: 0,
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  SCSI: 7,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
  SECURE_ERASE: 16,
} as const;

/** Byte offsets of `struct virtio_blk_config` fields (packed, little-endian). */
export const VirtioBlkConfigOffset = {
  CAPACITY: 0,
  SIZE_MAX: 8,
  SEG_MAX: 12,
  CYLINDERS: 16,
  HEADS: 18,
  SECTORS: 19,
  BLK_SIZE: 20,
  PHYSICAL_BLOCK_EXP: 24,
  ALIGNMENT_OFFSET: 25,
  MIN_IO_SIZE: 26,
  OPT_IO_SIZE: 28,
  WCE: 32,
  NUM_QUEUES: 34,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  WRITE_ZEROES_MAY_UNMAP: 56,
} as const;

/** Config bytes exposed without discard/write-zeroes: up to and including `num_queues`. */
export const VIRTIO_BLK_CONFIG_SIZE_BASE = 36;
/** ... with discard: through `max_discard_seg` / `discard_sector_alignment`. */
export const VIRTIO_BLK_CONFIG_SIZE_DISCARD = 48;
/** ... with write-zeroes: through `write_zeroes_may_unmap`. */
export const VIRTIO_BLK_CONFIG_SIZE_WRITE_ZEROES = 57;

/** Size of `virtio_blk_outhdr`. */
export const VIRTIO_BLK_OUTHDR_SIZE = 16;
/** Size of one `virtio_blk_discard_write_zeroes` segment. */
export const VIRTIO_BLK_DWZ_SEGMENT_SIZE = 16;
/** `virtio_blk_discard_write_zeroes.flags` bit 0. */
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
/** Length of the GET_ID answer. */
export const VIRTIO_BLK_ID_BYTES = 20;
/** Most requests merged into one backend request (VIRTIO_BLK_MAX_MERGE_REQS). */
export const VIRTIO_BLK_MAX_MERGE_REQS = 32;
/** BDRV_REQUEST_MAX_SECTORS: the default and maximum of max-discard/write-zeroes-sectors. */
export const BDRV_REQUEST_MAX_SECTORS = 4194303;
/** virtio-blk sectors are always 512 bytes. */
export const VIRTIO_BLK_SECTOR_SIZE = 512;
