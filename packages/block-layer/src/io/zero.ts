/**
 * Write-zeroes (block/io.c bdrv_co_do_zero_pwritev, bdrv_co_do_pwrite_zeroes).
 */
import { Errno, IOVector } from '@vmkit/core';
import { MAX_WRITE_ZEROES_BOUNCE_BUFFER, RequestFlags, type RequestFlagsMask } from '../constants.js';
import { minNonZero, zeroAlignment } from '../limits.js';
import type { BlockDriverState } from '../node.js';
import { alignDown } from './check.js';
import { driverPwritev } from './driver-io.js';
import { bdrvFlush } from './flush.js';
import { initPadding, paddingRmwRead } from './padding.js';
import { makeRequestSerialising, type TrackedRequest } from './tracked.js';
import { alignedPwritev } from './write.js';

/**
 * bdrv_co_do_zero_pwritev: unaligned head/tail blocks are read, zeroed in the middle and written
 * back (RMW); the aligned middle is one plain zero-write.
 */
export async function doZeroPwritev(
  bs: BlockDriverState,
  req: TrackedRequest,
  offset: number,
  bytes: number,
  flags: RequestFlagsMask,
): Promise<number> {
  const align = bs.limits.requestAlignment;
  flags &= ~RequestFlags.REGISTERED_BUF;
  const pad = initPadding(bs, offset, bytes);
  if (pad !== null) {
    const w = makeRequestSerialising(req, align);
    if (w) await w;
    let ret = await paddingRmwRead(bs, req, pad, true);
    if (ret < 0) return ret;
    if (pad.head || pad.mergeReads) {
      const alignedOffset = offset - pad.head;
      const writeBytes = pad.mergeReads ? pad.buf.length : align;
      const local = IOVector.fromBuffer(pad.buf.subarray(0, writeBytes));
      ret = await alignedPwritev(
        bs,
        req,
        alignedOffset,
        writeBytes,
        align,
        local,
        0,
        flags & ~RequestFlags.ZERO_WRITE,
      );
      if (ret < 0 || pad.mergeReads) return ret;
      offset += writeBytes - pad.head;
      bytes -= writeBytes - pad.head;
    }
  }
  if (bytes >= align) {
    const alignedBytes = alignDown(bytes, align);
    const ret = await alignedPwritev(bs, req, offset, alignedBytes, align, null, 0, flags);
    if (ret < 0) return ret;
    bytes -= alignedBytes;
    offset += alignedBytes;
  }
  if (bytes > 0 && pad !== null) {
    const local = IOVector.fromBuffer(pad.buf.subarray(pad.tailBufOffset));
    return alignedPwritev(bs, req, offset, align, align, local, 0, flags & ~RequestFlags.ZERO_WRITE);
  }
  return 0;
}

/**
 * bdrv_co_do_pwrite_zeroes: fragments at the write-zeroes alignment and max_pwrite_zeroes, falls
 * back to writing a zero buffer on -ENOTSUP (unless NO_FALLBACK), emulates FUA with one flush.
 */
export async function doPwriteZeroes(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  flags: RequestFlagsMask,
): Promise<number> {
  const drv = bs.driver;
  const bl = bs.limits;
  const maxTransfer = minNonZero(bl.maxTransfer, MAX_WRITE_ZEROES_BOUNCE_BUFFER);
  const alignment = zeroAlignment(bl);
  if (bs.deleted) return -Errno.ENOMEDIUM;
  if (flags & ~bs.supportedZeroFlags & RequestFlags.NO_FALLBACK) return -Errno.ENOTSUP;
  if (flags & RequestFlags.REGISTERED_BUF) return -Errno.EINVAL;
  if (bs.openFlags.discard !== 'unmap') flags &= ~RequestFlags.MAY_UNMAP;
  let head = offset % alignment;
  const tail = (offset + bytes) % alignment;
  const maxWriteZeroes = alignDown(minNonZero(bl.maxPwriteZeroes, Number.MAX_SAFE_INTEGER), alignment);
  let ret = 0;
  let needFlush = false;
  let buf: Uint8Array | null = null;
  while (bytes > 0 && ret === 0) {
    let num = bytes;
    if (head) {
      // A small request up to the first aligned boundary (capped at max_transfer).
      num = Math.min(bytes, maxTransfer, alignment - head);
      head = (head + num) % alignment;
    } else if (tail && num > alignment) {
      num -= tail;
    }
    if (num > maxWriteZeroes) num = maxWriteZeroes;
    if (num <= 0) return -Errno.EINVAL; // inconsistent limits (QEMU asserts)
    ret = -Errno.ENOTSUP;
    if (drv.pwriteZeroes) {
      ret = await drv.pwriteZeroes(bs, offset, num, flags & bs.supportedZeroFlags);
      if (ret !== -Errno.ENOTSUP && flags & RequestFlags.FUA && !(bs.supportedZeroFlags & RequestFlags.FUA)) {
        needFlush = true;
      }
    }
    if (ret === -Errno.ENOTSUP && !(flags & RequestFlags.NO_FALLBACK)) {
      let writeFlags = flags & ~RequestFlags.ZERO_WRITE;
      if (flags & RequestFlags.FUA && !(bs.supportedWriteFlags & RequestFlags.FUA)) {
        // One flush at the end instead of one per chunk.
        writeFlags &= ~RequestFlags.FUA;
        needFlush = true;
      }
      num = Math.min(num, maxTransfer);
      if (buf === null || buf.length < num) buf = new Uint8Array(num);
      const qiov = IOVector.fromBuffer(buf.length === num ? buf : buf.subarray(0, num));
      ret = await driverPwritev(bs, offset, num, qiov, 0, writeFlags);
    }
    if (ret > 0) ret = 0;
    offset += num;
    bytes -= num;
  }
  if (ret === 0 && needFlush) ret = await bdrvFlush(bs);
  return ret;
}
