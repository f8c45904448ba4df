/**
 * Request limits of a node (QEMU BlockLimits, bdrv_refresh_limits / bdrv_merge_limits).
 * 0 means "no limit" for the max* fields and "none" for the alignment fields.
 */
import { ConfigError } from '@vmkit/core';
import { BDRV_MAX_ALIGNMENT, BDRV_SECTOR_SIZE, ChildRole, IOV_MAX } from './constants.js';
import type { BlockDriverState } from './node.js';

export interface BlockLimits {
  /** Alignment of offsets and lengths of requests the driver accepts (power of two). */
  requestAlignment: number;
  /** Largest read/write the driver accepts (multiple of requestAlignment); 0 = no limit. */
  maxTransfer: number;
  /** Preferred transfer size; 0 = none. */
  optTransfer: number;
  /** Alignment the driver wants for write-zeroes; 0 = requestAlignment. */
  pwriteZeroesAlignment: number;
  /** Largest write-zeroes; 0 = no limit. */
  maxPwriteZeroes: number;
  /** Alignment of discards; 0 = requestAlignment. */
  pdiscardAlignment: number;
  /** Largest discard; 0 = no limit. */
  maxPdiscard: number;
  /** Largest number of iovec entries per request; 0 = no limit. */
  maxIov: number;
  /** Memory alignment the driver requires / prefers for buffers. */
  minMemAlignment: number;
  optMemAlignment: number;
  /** Whether the length of the node may change without a truncate through it. */
  hasVariableLength: boolean;
}

export function emptyLimits(): BlockLimits {
  return {
    requestAlignment: 0,
    maxTransfer: 0,
    optTransfer: 0,
    pwriteZeroesAlignment: 0,
    maxPwriteZeroes: 0,
    pdiscardAlignment: 0,
    maxPdiscard: 0,
    maxIov: 0,
    minMemAlignment: 0,
    optMemAlignment: 0,
    hasVariableLength: false,
  };
}

/** MIN_NON_ZERO. */
export function minNonZero(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return a < b ? a : b;
}

/**
 * bdrv_merge_limits: a child's limits become defaults of its parent. Alignments merge by max,
 * transfer and iov limits by min-non-zero. The request alignment is NOT inherited: a parent
 * sending unaligned requests to its child gets them padded at the child.
 */
export function mergeLimits(dst: BlockLimits, src: Readonly<BlockLimits>): void {
  dst.pdiscardAlignment = Math.max(dst.pdiscardAlignment, src.pdiscardAlignment);
  dst.optTransfer = Math.max(dst.optTransfer, src.optTransfer);
  dst.maxTransfer = minNonZero(dst.maxTransfer, src.maxTransfer);
  dst.optMemAlignment = Math.max(dst.optMemAlignment, src.optMemAlignment);
  dst.minMemAlignment = Math.max(dst.minMemAlignment, src.minMemAlignment);
  dst.maxIov = minNonZero(dst.maxIov, src.maxIov);
}

/**
 * bdrv_refresh_limits: recompute `bs.limits` from its DATA/FILTERED/COW children (which must be
 * up to date) and the driver's refreshLimits hook. Throws ConfigError; on error `bs.limits`
 * keeps its previous value.
 */
export function refreshLimits(bs: BlockDriverState): void {
  const bl = emptyLimits();
  bl.requestAlignment = 1;
  let haveLimits = false;
  for (const c of bs.children) {
    const child = c.bs;
    if (child === null) continue;
    if (c.role & (ChildRole.DATA | ChildRole.FILTERED | ChildRole.COW)) {
      mergeLimits(bl, child.limits);
      haveLimits = true;
    }
    if (c.role & ChildRole.FILTERED) bl.hasVariableLength ||= child.limits.hasVariableLength;
  }
  if (!haveLimits) {
    bl.minMemAlignment = BDRV_SECTOR_SIZE;
    bl.optMemAlignment = 4096;
    bl.maxIov = IOV_MAX;
  }
  if (bs.driver.hasVariableLength) bl.hasVariableLength = true;
  const old = bs.limits;
  bs.limits = bl;
  try {
    bs.driver.refreshLimits?.(bs);
    validateLimits(bs.limits);
  } catch (e) {
    bs.limits = old;
    throw e;
  }
}

function isPow2(n: number): boolean {
  return n > 0 && Number.isSafeInteger(n) && (n & (n - 1)) === 0;
}

function validateLimits(bl: BlockLimits): void {
  if (bl.requestAlignment > BDRV_MAX_ALIGNMENT) {
    throw new ConfigError('Driver requires too large request alignment');
  }
  if (!isPow2(bl.requestAlignment)) {
    throw new ConfigError(`Request alignment ${bl.requestAlignment} is not a power of two`);
  }
  const align = bl.requestAlignment;
  if (bl.maxTransfer % align !== 0) {
    throw new ConfigError(
      `max-transfer ${bl.maxTransfer} is not a multiple of the request alignment ${align}`,
    );
  }
  if (zeroAlignment(bl) % align !== 0 || discardAlignment(bl) % align !== 0) {
    // QEMU asserts this; a driver breaking it is a programming error.
    throw new ConfigError('write-zeroes/discard alignment must be a multiple of the request alignment');
  }
  // block/io.c asserts that the aligned-down maxima still allow one aligned request.
  if (bl.maxPwriteZeroes && bl.maxPwriteZeroes - (bl.maxPwriteZeroes % zeroAlignment(bl)) < align) {
    throw new ConfigError(`max-write-zero ${bl.maxPwriteZeroes} is smaller than the write-zeroes alignment`);
  }
  if (bl.maxPdiscard && bl.maxPdiscard - (bl.maxPdiscard % discardAlignment(bl)) < align) {
    throw new ConfigError(`max-discard ${bl.maxPdiscard} is smaller than the discard alignment`);
  }
}

/** Rounds `bs` limits to the value the I/O path works with (max(x, requestAlignment)). */
export function zeroAlignment(bl: Readonly<BlockLimits>): number {
  return Math.max(bl.pwriteZeroesAlignment, bl.requestAlignment);
}

export function discardAlignment(bl: Readonly<BlockLimits>): number {
  return Math.max(bl.pdiscardAlignment, bl.requestAlignment);
}
