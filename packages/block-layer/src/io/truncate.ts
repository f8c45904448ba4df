/**
 * Truncate (block/io.c bdrv_co_truncate): tracked, serialising when growing, forwarded to the
 * filtered child when the driver has no truncate, then the cached length is refreshed.
 */
import { Errno } from '@vmkit/core';
import { Perm, type RequestFlagsMask } from '../constants.js';
import { BdrvChild } from '../child.js';
import type { PreallocMode } from '../driver.js';
import { checkQiovRequest, nodeOf, type IoTarget } from './check.js';
import { bdrvGetLength } from './driver-io.js';
import { makeRequestSerialising, trackedRequestBegin, trackedRequestEnd } from './tracked.js';
import { writeReqFinish, writeReqPrepare } from './write.js';

export interface TruncateOptions {
  exact?: boolean;
  prealloc?: PreallocMode;
  flags?: RequestFlagsMask;
}

/**
 * bdrv_co_truncate: 0 or negative errno (-EINVAL negative size, -EFBIG too large, -EACCES
 * read-only, -ENOTSUP when nothing below can resize).
 */
export async function bdrvTruncate(
  target: IoTarget,
  offset: number,
  opts: TruncateOptions = {},
): Promise<number> {
  const bs = nodeOf(target);
  if (bs === null || bs.deleted) return -Errno.ENOMEDIUM;
  if (offset < 0) return -Errno.EINVAL;
  if (checkQiovRequest(offset, 0) < 0) return -Errno.EFBIG;
  const oldSize = await bdrvGetLength(bs);
  if (oldSize < 0) return oldSize;
  if (bs.readOnly) return -Errno.EACCES;
  if (target instanceof BdrvChild && !(target.perm & Perm.RESIZE)) return -Errno.EPERM;
  const newBytes = offset > oldSize ? offset - oldSize : 0;
  bs.incInFlight();
  const req = trackedRequestBegin(bs, offset - newBytes, newBytes, 'truncate');
  try {
    if (newBytes) {
      const w = makeRequestSerialising(req, 1);
      if (w) await w;
    }
    let ret = await writeReqPrepare(req, 0);
    if (ret < 0) return ret;
    const drv = bs.driver;
    const filtered = bs.filtered;
    if (drv.truncate) {
      ret = await drv.truncate(bs, offset, opts.exact ?? false, opts.prealloc ?? 'off', opts.flags ?? 0);
    } else if (filtered !== null && filtered.bs !== null) {
      ret = await bdrvTruncate(filtered, offset, opts);
    } else {
      return -Errno.ENOTSUP;
    }
    if (ret < 0) return ret;
    const len = await bs.graph.refreshTotalBytes(bs);
    const end = len < 0 ? offset : len;
    // Truncate always updates the length and tells the parents (write_req_finish).
    writeReqFinish(bs, end - newBytes, newBytes, 'truncate', 0);
    if (bs.wrHighestOffset > end) bs.wrHighestOffset = end;
    return 0;
  } finally {
    trackedRequestEnd(req);
    bs.decInFlight();
  }
}
