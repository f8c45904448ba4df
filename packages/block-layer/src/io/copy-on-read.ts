/**
 * Copy-on-read (block/io.c bdrv_co_do_copy_on_readv): unallocated clusters are read through the
 * driver (which fetches them from the backing file) and written back to this node.
 */
import { bufferIsZero, IOVector } from '@vmkit/core';
import {
  BDRV_REQUEST_MAX_BYTES,
  MAX_WRITE_ZEROES_BOUNCE_BUFFER,
  RequestFlags,
  type RequestFlagsMask,
} from '../constants.js';
import { minNonZero } from '../limits.js';
import type { BlockDriverState } from '../node.js';
import { alignDown, alignUp } from './check.js';
import { driverPreadv, driverPwritev } from './driver-io.js';
import { bdrvIsAllocated } from './block-status.js';
import { doPwriteZeroes } from './zero.js';

/** bdrv_get_cluster_size: the driver's cluster size, else the request alignment. */
export function clusterSize(bs: BlockDriverState): number {
  const c = bs.driver.info?.(bs).clusterSize ?? 0;
  return c > 0 ? c : bs.limits.requestAlignment;
}

export async function copyOnReadv(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  const cluster = clusterSize(bs);
  let clusterOffset = alignDown(offset, cluster);
  let clusterBytes = alignUp(offset - clusterOffset + bytes, cluster);
  let skipBytes = offset - clusterOffset;
  const maxTransfer = minNonZero(bs.limits.maxTransfer, BDRV_REQUEST_MAX_BYTES);
  let bounce: Uint8Array | null = null;
  let progress = 0;
  const prefetch = (flags & RequestFlags.PREFETCH) !== 0;
  while (clusterBytes > 0) {
    const alloc = await bdrvIsAllocated(bs, clusterOffset, Math.min(clusterBytes, maxTransfer));
    const ret = alloc.ret;
    let pnum = alloc.pnum;
    if (ret < 0) {
      // Treat as unallocated; the read below will report a proper error if any.
      pnum = Math.min(clusterBytes, maxTransfer);
    }
    if (ret === 0 && pnum === 0) break; // EOF in the middle of the cluster
    if (ret <= 0) {
      pnum = Math.min(pnum, MAX_WRITE_ZEROES_BOUNCE_BUFFER);
      if (bounce === null || bounce.length < pnum)
        bounce = new Uint8Array(Math.max(pnum, Math.min(MAX_WRITE_ZEROES_BOUNCE_BUFFER, clusterBytes)));
      const buf = bounce.subarray(0, pnum);
      const local = IOVector.fromBuffer(buf);
      let r = await driverPreadv(bs, clusterOffset, pnum, local, 0);
      if (r < 0) return r;
      {
        const ev = bs.debugEvent('cor_write');
        if (ev) await ev;
      }
      if (bs.driver.pwriteZeroes && bufferIsZero(buf)) {
        r = await doPwriteZeroes(bs, clusterOffset, pnum, RequestFlags.WRITE_UNCHANGED);
      } else {
        r = await driverPwritev(bs, clusterOffset, pnum, local, 0, RequestFlags.WRITE_UNCHANGED);
      }
      if (r < 0) return r;
      if (!prefetch) {
        const n = Math.min(pnum - skipBytes, bytes - progress);
        qiov.copyFrom(buf.subarray(skipBytes, skipBytes + n), qiovOffset + progress);
      }
    } else if (!prefetch) {
      const r = await driverPreadv(
        bs,
        offset + progress,
        Math.min(pnum - skipBytes, bytes - progress),
        qiov,
        qiovOffset + progress,
      );
      if (r < 0) return r;
    }
    clusterOffset += pnum;
    clusterBytes -= pnum;
    progress += pnum - skipBytes;
    skipBytes = 0;
  }
  return 0;
}
