/**
 * Calls into the driver (block/io.c bdrv_driver_preadv/pwritev): flag masking, FUA emulation,
 * -ENOTSUP for missing methods. Results are passed on synchronously when the driver is.
 */
import { Errno, type IOVector } from '@vmkit/core';
import { type MaybePromise, RequestFlags, type RequestFlagsMask } from '../constants.js';
import type { BlockDriverState } from '../node.js';
import { bdrvFlush } from './flush.js';

/** bdrv_driver_preadv. */
export function driverPreadv(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
): MaybePromise<number> {
  const drv = bs.driver;
  if (bs.deleted) return -Errno.ENOMEDIUM;
  if (!drv.preadv) return -Errno.ENOTSUP;
  return drv.preadv(bs, offset, bytes, qiov, qiovOffset, 0);
}

async function fuaAfter(bs: BlockDriverState, pending: MaybePromise<number>): Promise<number> {
  const ret = await pending;
  if (ret < 0) return ret;
  return bdrvFlush(bs);
}

/** bdrv_driver_pwritev: FUA the driver cannot do is emulated with a flush afterwards. */
export function driverPwritev(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
  flags: RequestFlagsMask,
): MaybePromise<number> {
  const drv = bs.driver;
  if (bs.deleted) return -Errno.ENOMEDIUM;
  if (!drv.pwritev) return -Errno.ENOTSUP;
  const emulateFua = (flags & RequestFlags.FUA) !== 0 && (bs.supportedWriteFlags & RequestFlags.FUA) === 0;
  const r = drv.pwritev(bs, offset, bytes, qiov, qiovOffset, flags & bs.supportedWriteFlags);
  if (!emulateFua) return r;
  return fuaAfter(bs, r);
}

/** bdrv_co_getlength: the cached length, refreshed for variable-length nodes. */
export function bdrvGetLength(bs: BlockDriverState): MaybePromise<number> {
  if (bs.deleted) return -Errno.ENOMEDIUM;
  if (bs.limits.hasVariableLength && bs.driver.getLength) return bs.graph.refreshTotalBytes(bs);
  return bs.totalBytes;
}
