/**
 * blkif protocol constants (xen/include/public/io/blkif.h, identical for i386 and x86_64).
 * See reference/abi.md §1.1.
 */

/** Request operations (`operation` byte of a request). */
export const BlkifOp = {
  READ: 0,
  WRITE: 1,
  /** Not implemented by QEMU's xen-block: answered with BLKIF_RSP_ERROR. */
  WRITE_BARRIER: 2,
  FLUSH_DISKCACHE: 3,
  RESERVED_1: 4,
  DISCARD: 5,
  /** Not offered by QEMU's xen-block (no feature-max-indirect-segments): answered with ERROR. */
  INDIRECT: 6,
} as const;

export type BlkifOpName = keyof typeof BlkifOp;

/** Response status (signed 16-bit at response offset 10). */
export const BlkifStatus = {
  OKAY: 0,
  ERROR: -1,
  EOPNOTSUPP: -2,
} as const;

export type BlkifStatusName = keyof typeof BlkifStatus;
export type BlkifStatusValue = (typeof BlkifStatus)[BlkifStatusName];

/** BLKIF_MAX_SEGMENTS_PER_REQUEST: a direct request's `seg[]` has this many entries. */
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
/** BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST. */
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;

/**
 * The unit of `sector_number`, `nr_sectors`, `first_sect` and `last_sect` (XEN_BLKIF_SECTOR_SIZE):
 * always 512 bytes, whatever the disk's `sector-size` (Xen commit 221f2748e8da).
 */
export const BLKIF_SECTOR_SIZE = 512;

/** Page size of rings and data segments (XEN_PAGE_SIZE, 1 << XEN_PAGE_SHIFT). */
export const BLKIF_PAGE_SIZE = 4096;

/** Sectors of one segment page: first_sect/last_sect are at most this minus one. */
export const BLKIF_SECTORS_PER_PAGE = BLKIF_PAGE_SIZE / BLKIF_SECTOR_SIZE;

/** `flag` bit of a discard request: BLKIF_DISCARD_SECURE. */
export const BLKIF_DISCARD_SECURE = 1;

/** `info` key bits (VDISK_*). */
export const VDISK_CDROM = 1;
export const VDISK_REMOVABLE = 2;
export const VDISK_READONLY = 4;

/** The largest `ring-page-order` Linux and QEMU backends accept (16 pages). */
export const BLKIF_MAX_RING_PAGE_ORDER = 4;

/**
 * BDRV_REQUEST_MAX_BYTES: QEMU splits a discard into chunks of at most this many bytes
 * (xen_block_split_discard).
 */
export const BLKIF_DISCARD_CHUNK_BYTES = 2147483136;
