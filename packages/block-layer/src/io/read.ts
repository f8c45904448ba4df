/**
 * Read path (block/io.c bdrv_co_preadv_part, bdrv_aligned_preadv).
 *
 * Fast path (DESIGN §7): an aligned read inside the node, no larger than max_transfer, with no
 * serialising request in flight and no copy-on-read, goes straight to the driver; a synchronous
 * driver result is returned as a plain number without tracking (nothing can observe a request
 * that never yields). Everything else takes the general path below.
 */
import { Errno, type IOVector } from '@vmkit/core';
import { type MaybePromise, RequestFlags, type RequestFlagsMask } from '../constants.js';
import { minNonZero } from '../limits.js';
import type { BlockDriverState } from '../node.js';
import { alignDown, alignUp, checkRequest32, nodeOf, type IoTarget } from './check.js';
import { driverPreadv, bdrvGetLength } from './driver-io.js';
import { initPadding, padQiov } from './padding.js';
import {
  makeRequestSerialising,
  trackedRequestBegin,
  trackedRequestEnd,
  waitSerialisingRequests,
  type TrackedRequest,
} from './tracked.js';
import { copyOnReadv, clusterSize } from './copy-on-read.js';
import { bdrvIsAllocated } from './block-status.js';
import { trackYielded } from './yielded.js';

const INT_MAX = 0x7fffffff;

/**
 * bdrv_co_preadv_part: reads `bytes` at `offset` into `qiov` from `qiovOffset`. Returns 0 or a
 * negative errno, synchronously when the whole stack below is synchronous.
 */
export function bdrvPreadv(
  target: IoTarget,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset = 0,
  flags: RequestFlagsMask = 0,
): MaybePromise<number> {
  const bs = nodeOf(target);
  if (bs === null || bs.deleted) return -Errno.ENOMEDIUM;
  const ret = checkRequest32(offset, bytes, qiov, qiovOffset);
  if (ret < 0) return ret;
  const bl = bs.limits;
  const align = bl.requestAlignment;
  if (bytes === 0 && offset % align !== 0) return 0;
  const drv = bs.driver;
  if (
    flags === 0 &&
    bs.copyOnRead === 0 &&
    bs.serialisingInFlight === 0 &&
    offset % align === 0 &&
    bytes % align === 0 &&
    !bl.hasVariableLength &&
    offset + bytes <= bs.totalBytes &&
    (bl.maxTransfer === 0 || bytes <= bl.maxTransfer) &&
    drv.preadv !== undefined &&
    drv.debugEvent === undefined
  ) {
    const r = drv.preadv(bs, offset, bytes, qiov, qiovOffset, 0);
    if (typeof r === 'number') return r < 0 ? r : 0;
    return trackYielded(bs, offset, bytes, 'read', r);
  }
  return preadvGeneral(bs, offset, bytes, qiov, qiovOffset, flags);
}

async function preadvGeneral(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  bs.incInFlight();
  try {
    if (bs.copyOnRead > 0) flags |= RequestFlags.COPY_ON_READ;
    const pad = initPadding(bs, offset, bytes);
    if (pad !== null) {
      qiov = padQiov(pad, qiov, qiovOffset, bytes);
      qiovOffset = 0;
      offset -= pad.head;
      bytes += pad.head + pad.tail;
    }
    const req = trackedRequestBegin(bs, offset, bytes, 'read');
    try {
      return await alignedPreadv(bs, req, offset, bytes, bs.limits.requestAlignment, qiov, qiovOffset, flags);
    } finally {
      trackedRequestEnd(req);
    }
  } finally {
    bs.decInFlight();
  }
}

/**
 * bdrv_aligned_preadv: an aligned, tracked read. Waits for serialising requests (or serialises
 * itself for copy-on-read), zero-fills beyond EOF and fragments at max_transfer.
 */
export async function alignedPreadv(
  bs: BlockDriverState,
  req: TrackedRequest,
  offset: number,
  bytes: number,
  align: number,
  qiov: IOVector,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  const maxTransfer = alignDown(minNonZero(bs.limits.maxTransfer, INT_MAX), align);
  if (flags & RequestFlags.COPY_ON_READ) {
    // Touching the same cluster counts as an overlap: allocating writes are serialised.
    const w = makeRequestSerialising(req, clusterSize(bs));
    if (w) await w;
  } else {
    const w = waitSerialisingRequests(req);
    if (w) await w;
  }

  if (flags & RequestFlags.COPY_ON_READ) {
    flags &= ~RequestFlags.COPY_ON_READ;
    const { ret, pnum } = await bdrvIsAllocated(bs, offset, bytes);
    if (ret < 0) return ret;
    if (!ret || pnum !== bytes) return copyOnReadv(bs, offset, bytes, qiov, qiovOffset, flags);
    if (flags & RequestFlags.PREFETCH) return 0;
  }

  // No await unless needed: a synchronous driver is then called in the same tick.
  let totalBytes = bdrvGetLength(bs);
  if (typeof totalBytes !== 'number') totalBytes = await totalBytes;
  if (totalBytes < 0) return totalBytes;
  let maxBytes = alignUp(Math.max(0, totalBytes - offset), align);
  if (bytes <= maxBytes && bytes <= maxTransfer) {
    const ret = await driverPreadv(bs, offset, bytes, qiov, qiovOffset);
    return ret < 0 ? ret : 0;
  }
  let remaining = bytes;
  while (remaining > 0) {
    const done = bytes - remaining;
    let num: number;
    if (maxBytes) {
      num = Math.min(remaining, maxBytes, maxTransfer);
      const ret = await driverPreadv(bs, offset + done, num, qiov, qiovOffset + done);
      if (ret < 0) return ret;
      maxBytes -= num;
    } else {
      // Past the end of the node: zeroes.
      num = remaining;
      qiov.fill(0, qiovOffset + done, num);
    }
    remaining -= num;
  }
  return 0;
}
