/**
 * Block-layer constants (QEMU include/block/block-common.h, block_int-common.h).
 *
 * Sizes and offsets are JS numbers; anything above Number.MAX_SAFE_INTEGER is refused as too
 * large, so BDRV_MAX_LENGTH is effectively capped by the safe-integer range.
 */

export const BDRV_SECTOR_BITS = 9;
export const BDRV_SECTOR_SIZE = 512;
/** BDRV_REQUEST_MAX_SECTORS << 9: the largest read/write below the BlockBackend. */
export const BDRV_REQUEST_MAX_BYTES = 2147483136;
/** Largest request alignment a driver may ask for (2^30). */
export const BDRV_MAX_ALIGNMENT = 2 ** 30;
/**
 * INT64_MAX rounded down to 2^30 (9223372035781033984). As a double this is exact; the check
 * functions also refuse anything beyond Number.MAX_SAFE_INTEGER.
 */
export const BDRV_MAX_LENGTH = 2 ** 63 - 2 ** 30;
/** Bounce-buffer size cap for the write-zeroes fallback (MAX_WRITE_ZEROES_BOUNCE_BUFFER). */
export const MAX_WRITE_ZEROES_BOUNCE_BUFFER = 32768 * BDRV_SECTOR_SIZE;
/** IOV_MAX on Linux: default max_iov for protocol nodes. */
export const IOV_MAX = 1024;

/** Permission bits on a BdrvChild (BLK_PERM_*). */
export const Perm = {
  CONSISTENT_READ: 0x01,
  WRITE: 0x02,
  WRITE_UNCHANGED: 0x04,
  RESIZE: 0x08,
  ALL: 0x0f,
} as const;
/** A set of `Perm` bits. */
export type PermMask = number;

const permNameTable: ReadonlyArray<readonly [number, string]> = [
  [Perm.CONSISTENT_READ, 'consistent read'],
  [Perm.WRITE, 'write'],
  [Perm.WRITE_UNCHANGED, 'write unchanged'],
  [Perm.RESIZE, 'resize'],
];

/** QEMU's bdrv_perm_names: `'write, resize'` for a mask (empty string for 0). */
export function permNames(perm: PermMask): string {
  const out: string[] = [];
  for (const [bit, name] of permNameTable) if (perm & bit) out.push(name);
  return out.join(', ');
}

/** BdrvChildRole bits: what a child is for its parent. */
export const ChildRole = {
  DATA: 1,
  METADATA: 2,
  FILTERED: 4,
  COW: 8,
  PRIMARY: 16,
  /** DATA | METADATA | PRIMARY: the `file` child of a format driver. */
  IMAGE: 1 | 2 | 16,
} as const;
export type ChildRoleMask = number;

/** BdrvRequestFlags. */
export const RequestFlags = {
  NONE: 0,
  /** Do not use the unaligned/copy-on-read path (internal, used by COR itself). */
  COPY_ON_READ: 0x1,
  /** The request is a write-zeroes (internal marker on the write path). */
  ZERO_WRITE: 0x2,
  /** Write-zeroes may deallocate (discard) instead of writing zeroes. */
  MAY_UNMAP: 0x4,
  /** The write does not change the data (copy-on-read); needs only WRITE_UNCHANGED permission. */
  WRITE_UNCHANGED: 0x40,
  /** Forced unit access: data must be on stable storage when the request completes. */
  FUA: 0x10,
  /** Write-zeroes must not fall back to writing a zero buffer. */
  NO_FALLBACK: 0x100,
  /** Prefetch: copy-on-read without returning data. */
  PREFETCH: 0x200,
  /** Serialise the request against all overlapping requests (at cluster granularity). */
  SERIALISING: 0x80,
  /** With SERIALISING: fail with -EBUSY instead of waiting for a conflicting request. */
  NO_WAIT: 0x400,
  /** Buffer registered with the driver (not supported by vmkit: write-zeroes returns -EINVAL). */
  REGISTERED_BUF: 0x800,
} as const;
export type RequestFlagsMask = number;

/** Node 'discard' option. */
export type DiscardMode = 'unmap' | 'ignore';
/** Node 'detect-zeroes' option. */
export type DetectZeroes = 'off' | 'on' | 'unmap';

/** Cache mode of a node ('cache' option: direct = O_DIRECT, noFlush = cache=unsafe). */
export interface CacheMode {
  /** Host page cache bypassed (BDRV_O_NOCACHE). */
  direct: boolean;
  /** Flushes to disk are ignored (BDRV_O_NO_FLUSH, cache=unsafe). */
  noFlush: boolean;
  /** Guest-visible write cache enabled (default true). */
  writeback: boolean;
}

/** Open flags of a node (the parts of QEMU's BDRV_O_* that vmkit models). */
export interface OpenFlags {
  readOnly: boolean;
  discard: DiscardMode;
  cache: CacheMode;
  detectZeroes: DetectZeroes;
  /** Ask the node to try to drop its lock/relaxed semantics (not used by built-ins). */
  autoReadOnly: boolean;
}

/** Defaults for a node opened without flags (read-write, discard=ignore, cache=writeback). */
export function defaultOpenFlags(): OpenFlags {
  return {
    readOnly: false,
    discard: 'ignore',
    cache: { direct: false, noFlush: false, writeback: true },
    detectZeroes: 'off',
    autoReadOnly: false,
  };
}

/** Block status bits (BDRV_BLOCK_*). */
export const BlockStatus = {
  DATA: 0x01,
  ZERO: 0x02,
  OFFSET_VALID: 0x04,
  RAW: 0x08,
  ALLOCATED: 0x10,
  EOF: 0x20,
  RECURSE: 0x40,
} as const;
export type BlockStatusMask = number;

/** A value that is available now or later; I/O methods of synchronous drivers return numbers. */
export type MaybePromise<T> = T | Promise<T>;
