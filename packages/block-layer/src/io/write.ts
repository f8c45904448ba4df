/**
 * Write path (block/io.c bdrv_co_pwritev_part, bdrv_aligned_pwritev, write_req_prepare/finish).
 * Fast path as for reads: aligned, within max_transfer, no serialising request in flight, no
 * detect-zeroes, no emulated FUA, synchronous driver → no tracking, no await. Emulated FUA is
 * one flush per request, counted as written first (see alignedPwritev).
 */
import { Errno, type IOVector } from '@vmkit/core';
import { type MaybePromise, Perm, RequestFlags, type RequestFlagsMask } from '../constants.js';
import { BdrvChild } from '../child.js';
import { minNonZero } from '../limits.js';
import type { BlockDriverState } from '../node.js';
import { alignDown, alignUp, checkQiovRequest, checkRequest32, nodeOf, type IoTarget } from './check.js';
import { driverPwritev } from './driver-io.js';
import { bdrvFlush } from './flush.js';
import { initPadding, padQiov, paddingRmwRead } from './padding.js';
import {
  findConflictingRequest,
  makeRequestSerialising,
  setSerialising,
  trackedRequestBegin,
  trackedRequestEnd,
  waitSerialisingRequests,
  waitSerialisingRequestsLocked,
  type TrackedRequest,
  type TrackedRequestType,
} from './tracked.js';
import { clusterSize } from './copy-on-read.js';
import { doPwriteZeroes, doZeroPwritev } from './zero.js';
import { trackYielded } from './yielded.js';

const INT_MAX = 0x7fffffff;

/** Whether the target may write (QEMU asserts the edge permission; we fail with -EPERM). */
export function writePermitted(target: IoTarget, bs: BlockDriverState, flags: RequestFlagsMask): boolean {
  if (target instanceof BdrvChild) {
    const need = flags & RequestFlags.WRITE_UNCHANGED ? Perm.WRITE | Perm.WRITE_UNCHANGED : Perm.WRITE;
    return (target.perm & need) !== 0;
  }
  return !bs.readOnly;
}

/**
 * bdrv_co_write_req_finish: write generation, growth past EOF (with parent resize
 * notification) and the highest written offset (also for failed writes).
 */
export function writeReqFinish(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  type: TrackedRequestType,
  ret: number,
): void {
  bs.writeGen++;
  const end = alignUp(offset + bytes, 512);
  if (ret === 0 && type !== 'discard' && (type === 'truncate' || end > bs.totalBytes)) {
    bs.totalBytes = end;
    for (const c of bs.parents.slice()) c.parent.resize?.(c);
  }
  if (bytes && type === 'write' && offset + bytes > bs.wrHighestOffset) bs.wrHighestOffset = offset + bytes;
}

/** writeReqFinish for a fast-path write that yielded. */
function finishYieldedWrite(bs: BlockDriverState, offset: number, bytes: number, ret: number): void {
  writeReqFinish(bs, offset, bytes, 'write', ret);
}

/** bdrv_co_write_req_prepare: serialisation (SERIALISING/NO_WAIT → -EBUSY) or overlap wait. */
export function writeReqPrepare(req: TrackedRequest, flags: RequestFlagsMask): MaybePromise<number> {
  let w: Promise<void> | undefined;
  if (flags & RequestFlags.SERIALISING) {
    setSerialising(req, clusterSize(req.bs));
    const conflict = findConflictingRequest(req);
    if (conflict === null) return 0;
    if (flags & RequestFlags.NO_WAIT) return -Errno.EBUSY;
    w = waitSerialisingRequestsLocked(req);
  } else {
    w = waitSerialisingRequests(req);
  }
  return w === undefined ? 0 : w.then(() => 0);
}

/**
 * bdrv_co_pwritev_part: writes `bytes` at `offset` from `qiov`. With RequestFlags.ZERO_WRITE
 * `qiov` may be null (see bdrvPwriteZeroes). Returns 0 or a negative errno.
 */
export function bdrvPwritev(
  target: IoTarget,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset = 0,
  flags: RequestFlagsMask = 0,
): MaybePromise<number> {
  const bs = nodeOf(target);
  if (bs === null || bs.deleted) return -Errno.ENOMEDIUM;
  const zero = (flags & RequestFlags.ZERO_WRITE) !== 0;
  const ret = zero
    ? checkQiovRequest(offset, bytes, qiov, qiovOffset)
    : checkRequest32(offset, bytes, qiov, qiovOffset);
  if (ret < 0) return ret;
  if (!zero && qiov === null) return -Errno.EINVAL;
  if (!writePermitted(target, bs, flags)) return -Errno.EPERM;
  const bl = bs.limits;
  const align = bl.requestAlignment;
  if (flags & RequestFlags.NO_FALLBACK && (offset % align !== 0 || bytes % align !== 0))
    return -Errno.ENOTSUP;
  if (bytes === 0 && offset % align !== 0) return 0;
  const drv = bs.driver;
  if (
    qiov !== null &&
    (flags & ~bs.supportedWriteFlags) === 0 &&
    bs.serialisingInFlight === 0 &&
    bs.openFlags.detectZeroes === 'off' &&
    offset % align === 0 &&
    bytes % align === 0 &&
    (bl.maxTransfer === 0 || bytes <= bl.maxTransfer) &&
    drv.pwritev !== undefined &&
    drv.debugEvent === undefined
  ) {
    const r = drv.pwritev(bs, offset, bytes, qiov, qiovOffset, flags);
    if (typeof r !== 'number') return trackYielded(bs, offset, bytes, 'write', r, finishYieldedWrite);
    const res = r < 0 ? r : 0;
    writeReqFinish(bs, offset, bytes, 'write', res);
    return res;
  }
  return pwritevGeneral(bs, offset, bytes, qiov, qiovOffset, flags);
}

async function pwritevGeneral(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  const align = bs.limits.requestAlignment;
  const pad = flags & RequestFlags.ZERO_WRITE ? null : initPadding(bs, offset, bytes);
  if (pad !== null) {
    qiov = padQiov(pad, qiov, qiovOffset, bytes);
    qiovOffset = 0;
    offset -= pad.head;
    bytes += pad.head + pad.tail;
  }
  bs.incInFlight();
  const req = trackedRequestBegin(bs, offset, bytes, 'write');
  try {
    if (flags & RequestFlags.ZERO_WRITE) return await doZeroPwritev(bs, req, offset, bytes, flags);
    if (pad !== null) {
      // RMW: the widened range must not interleave with other requests.
      const w = makeRequestSerialising(req, align);
      if (w) await w;
      const r = await paddingRmwRead(bs, req, pad, false);
      if (r < 0) return r;
    }
    return await alignedPwritev(bs, req, offset, bytes, align, qiov, qiovOffset, flags);
  } finally {
    trackedRequestEnd(req);
    bs.decInFlight();
  }
}

/**
 * bdrv_aligned_pwritev: an aligned, tracked write (or write-zeroes when `qiov` is null or
 * detect-zeroes converts it), fragmented at max_transfer with FUA only on the last fragment.
 */
export async function alignedPwritev(
  bs: BlockDriverState,
  req: TrackedRequest,
  offset: number,
  bytes: number,
  align: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  if (bs.deleted) return -Errno.ENOMEDIUM;
  const drv = bs.driver;
  const maxTransfer = alignDown(minNonZero(bs.limits.maxTransfer, INT_MAX), align);
  const prep = writeReqPrepare(req, flags);
  let ret = typeof prep === 'number' ? prep : await prep;
  const dz = bs.openFlags.detectZeroes;
  if (
    ret === 0 &&
    dz !== 'off' &&
    !(flags & RequestFlags.ZERO_WRITE) &&
    drv.pwriteZeroes !== undefined &&
    qiov !== null &&
    qiov.isZero(qiovOffset, bytes)
  ) {
    flags |= RequestFlags.ZERO_WRITE;
    if (dz === 'unmap') flags |= RequestFlags.MAY_UNMAP;
  }
  // FUA the driver cannot honour is emulated by one flush after the whole request (every
  // fragment, every write-zeroes chunk or bounce write goes down without it).
  let emulateFua = false;
  if (flags & RequestFlags.FUA) {
    const zero = (flags & RequestFlags.ZERO_WRITE) !== 0 || qiov === null;
    const native = zero ? bs.supportedZeroFlags : bs.supportedWriteFlags;
    if (!(native & RequestFlags.FUA)) {
      emulateFua = true;
      flags &= ~RequestFlags.FUA;
    }
  }
  if (ret < 0) {
    // Nothing: the request was refused before reaching the driver.
  } else if (flags & RequestFlags.ZERO_WRITE || qiov === null) {
    {
      const ev = bs.debugEvent('pwritev_zero');
      if (ev) await ev;
    }
    ret = await doPwriteZeroes(bs, offset, bytes, flags);
  } else if (bytes <= maxTransfer) {
    {
      const ev = bs.debugEvent('pwritev');
      if (ev) await ev;
    }
    ret = await driverPwritev(bs, offset, bytes, qiov, qiovOffset, flags);
  } else {
    {
      const ev = bs.debugEvent('pwritev');
      if (ev) await ev;
    }
    let remaining = bytes;
    while (remaining > 0) {
      const num = Math.min(remaining, maxTransfer);
      const done = bytes - remaining;
      ret = await driverPwritev(bs, offset + done, num, qiov, qiovOffset + done, flags);
      if (ret < 0) break;
      remaining -= num;
    }
  }
  if (ret >= 0 && emulateFua) {
    // Deliberate deviation from QEMU: bdrv_driver_pwritev flushes before
    // bdrv_co_write_req_finish bumps write_gen, so that flush finds flushed_gen == write_gen
    // whenever nothing was written since the last flush (or ever) and skips flush_to_disk: the
    // FUA data is not durable. Counting the write first makes its flush reach the disk (a
    // concurrent flush that snapshots this generation started after the data was written, so
    // it covers it). writeReqFinish counts it again: generations are only compared for equality.
    bs.writeGen++;
    ret = await bdrvFlush(bs);
  }
  {
    const ev = bs.debugEvent('pwritev_done');
    if (ev) await ev;
  }
  if (ret >= 0) ret = 0;
  writeReqFinish(bs, offset, bytes, req.type, ret);
  return ret;
}

/** bdrv_co_pwrite_zeroes: MAY_UNMAP is dropped unless the node has discard=unmap. */
export function bdrvPwriteZeroes(
  target: IoTarget,
  offset: number,
  bytes: number,
  flags: RequestFlagsMask = 0,
): MaybePromise<number> {
  const bs = nodeOf(target);
  if (bs !== null && bs.openFlags.discard !== 'unmap') flags &= ~RequestFlags.MAY_UNMAP;
  return bdrvPwritev(target, offset, bytes, null, 0, flags | RequestFlags.ZERO_WRITE);
}
