/**
 * Block status and allocation (block/io.c bdrv_co_block_status,
 * bdrv_co_common_block_status_above, bdrv_is_allocated, bdrv_is_allocated_above).
 */
import { BlockStatus, type BlockStatusMask } from '../constants.js';
import type { BlockDriverState } from '../node.js';
import { alignDown, alignUp } from './check.js';
import { bdrvGetLength } from './driver-io.js';

/** Result of a block-status query: `status` bits or a negative errno. */
export interface BlockStatusInfo {
  status: BlockStatusMask;
  /** Bytes from `offset` with this status (0 at/after EOF or on error). */
  pnum: number;
  /** With OFFSET_VALID: offset of the data in `file`. */
  map: number;
  /** The node holding the data (OFFSET_VALID) or answering (unallocated zero past a short backing). */
  file: BlockDriverState | null;
}

function info(status: number, pnum: number, map = 0, file: BlockDriverState | null = null): BlockStatusInfo {
  return { status, pnum, map, file };
}

/** The filtered child, else the COW child (bdrv_filter_or_cow_bs). */
function filterOrCow(bs: BlockDriverState): BlockDriverState | null {
  return (bs.filtered ?? bs.cow)?.bs ?? null;
}

/** bdrv_co_block_status: one node (recursing only through RAW/filters). */
export async function bdrvBlockStatus(
  bs: BlockDriverState,
  wantZero: boolean,
  offset: number,
  bytes: number,
): Promise<BlockStatusInfo> {
  const totalSize = await bdrvGetLength(bs);
  if (totalSize < 0) return info(totalSize, 0);
  if (offset >= totalSize) return info(BlockStatus.EOF, 0);
  if (!bytes) return info(0, 0);
  if (totalSize - offset < bytes) bytes = totalSize - offset;
  const drv = bs.driver;
  const filtered = bs.filtered?.bs ?? null;
  if (!drv.blockStatus && filtered === null) {
    let status = BlockStatus.DATA | BlockStatus.ALLOCATED;
    if (offset + bytes === totalSize) status |= BlockStatus.EOF;
    if (drv.kind === 'protocol') return info(status | BlockStatus.OFFSET_VALID, bytes, offset, bs);
    return info(status, bytes);
  }
  bs.incInFlight();
  try {
    const align = bs.limits.requestAlignment;
    const alignedOffset = alignDown(offset, align);
    const alignedBytes = alignUp(offset + bytes, align) - alignedOffset;
    let status: number;
    let pnum: number;
    let map = 0;
    let file: BlockDriverState | null = null;
    if (drv.blockStatus) {
      const r = await drv.blockStatus(bs, wantZero, alignedOffset, alignedBytes);
      status = r.status;
      pnum = r.pnum;
      map = r.map ?? 0;
      file = r.file ?? null;
    } else {
      // Default for filters: the data is in the filtered child at the same offset.
      file = filtered;
      pnum = alignedBytes;
      map = alignedOffset;
      status = BlockStatus.RAW | BlockStatus.OFFSET_VALID;
    }
    if (status < 0) return info(status, 0);
    pnum -= offset - alignedOffset;
    if (pnum > bytes) pnum = bytes;
    if (status & BlockStatus.OFFSET_VALID) map += offset - alignedOffset;
    let result: BlockStatusInfo;
    if (status & BlockStatus.RAW && file !== null) {
      result = await bdrvBlockStatus(file, wantZero, map, pnum);
    } else {
      if (status & (BlockStatus.DATA | BlockStatus.ZERO)) {
        status |= BlockStatus.ALLOCATED;
      } else if (drv.supportsBacking) {
        const cow = bs.cow?.bs ?? null;
        if (cow === null) {
          status |= BlockStatus.ZERO;
        } else if (wantZero) {
          const size2 = await bdrvGetLength(cow);
          if (size2 >= 0 && offset >= size2) status |= BlockStatus.ZERO;
        }
      }
      if (
        wantZero &&
        status & BlockStatus.RECURSE &&
        file !== null &&
        file !== bs &&
        status & BlockStatus.DATA &&
        !(status & BlockStatus.ZERO) &&
        status & BlockStatus.OFFSET_VALID
      ) {
        const r2 = await bdrvBlockStatus(file, wantZero, map, pnum);
        if (r2.status >= 0) {
          if (r2.status & BlockStatus.EOF && (!r2.pnum || r2.status & BlockStatus.ZERO)) {
            status |= BlockStatus.ZERO;
          } else {
            pnum = r2.pnum;
            status |= r2.status & BlockStatus.ZERO;
          }
        }
      }
      result = info(status, pnum, map, file);
    }
    if (result.status >= 0 && offset + result.pnum === totalSize) result.status |= BlockStatus.EOF;
    return result;
  } finally {
    bs.decInFlight();
  }
}

/**
 * bdrv_co_common_block_status_above: status of `bs` looking through filters and backing files
 * down to `base` (inclusive when includeBase). `depth` counts the layers visited.
 */
export async function bdrvBlockStatusAbove(
  bs: BlockDriverState,
  base: BlockDriverState | null,
  includeBase: boolean,
  wantZero: boolean,
  offset: number,
  bytes: number,
): Promise<BlockStatusInfo & { depth: number }> {
  if (!includeBase && bs === base) return { ...info(0, bytes), depth: 0 };
  let r = await bdrvBlockStatus(bs, wantZero, offset, bytes);
  let depth = 1;
  if (r.status < 0 || r.pnum === 0 || r.status & BlockStatus.ALLOCATED || bs === base) return { ...r, depth };
  const eof = r.status & BlockStatus.EOF ? offset + r.pnum : -1;
  bytes = r.pnum;
  for (let p = filterOrCow(bs); p !== null && (includeBase || p !== base); p = filterOrCow(p)) {
    r = await bdrvBlockStatus(p, wantZero, offset, bytes);
    depth++;
    if (r.status < 0) return { ...r, depth };
    if (r.pnum === 0) {
      // A short lower layer: zeroes beyond its end count as allocated there.
      r = info(BlockStatus.ZERO | BlockStatus.ALLOCATED, bytes, 0, p);
      break;
    }
    if (r.status & BlockStatus.ALLOCATED) {
      r.status &= ~BlockStatus.EOF;
      break;
    }
    if (p === base) break;
    bytes = r.pnum;
  }
  if (offset + r.pnum === eof) r.status |= BlockStatus.EOF;
  return { ...r, depth };
}

/** bdrv_is_allocated: ret 1/0 (or negative errno) and the extent `pnum`. */
export async function bdrvIsAllocated(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
): Promise<{ ret: number; pnum: number }> {
  const r = await bdrvBlockStatusAbove(bs, bs, true, false, offset, bytes);
  if (r.status < 0) return { ret: r.status, pnum: r.pnum };
  return { ret: r.status & BlockStatus.ALLOCATED ? 1 : 0, pnum: r.pnum };
}

/**
 * bdrv_is_allocated_above: whether [offset, +pnum) is allocated anywhere from `top` down to `base`
 * (`ret` is the depth of the layer that has it, 0 if none).
 */
export async function bdrvIsAllocatedAbove(
  top: BlockDriverState,
  base: BlockDriverState | null,
  includeBase: boolean,
  offset: number,
  bytes: number,
): Promise<{ ret: number; pnum: number }> {
  const r = await bdrvBlockStatusAbove(top, base, includeBase, false, offset, bytes);
  if (r.status < 0) return { ret: r.status, pnum: r.pnum };
  return { ret: r.status & BlockStatus.ALLOCATED ? r.depth : 0, pnum: r.pnum };
}
