/**
 * Byte-request checks of the BlockBackend (block-backend.c blk_check_byte_request), in QEMU's
 * order: a negative length, then availability (-ENOMEDIUM), then a negative offset, then the
 * range against the length unless writing beyond EOF is allowed (-EIO, for reads too).
 */
import { Errno } from '@vmkit/core';
import type { MaybePromise } from '../constants.js';
import { bdrvGetLength } from '../io/driver-io.js';
import type { BlockDriverState } from '../node.js';

/** What the checks need to know of a BlockBackend. */
export interface ByteRequestTarget {
  /** The root node when one is inserted and available (blk_co_is_available), else null. */
  availableNode(): BlockDriverState | null;
  readonly allowWriteBeyondEof: boolean;
}

function rangeCheck(offset: number, bytes: number, len: number): number {
  if (len < 0) return len;
  if (offset > len || len - offset < bytes) return -Errno.EIO;
  return 0;
}

async function rangeCheckLater(offset: number, bytes: number, len: Promise<number>): Promise<number> {
  return rangeCheck(offset, bytes, await len);
}

/** blk_check_byte_request: 0 or a negative errno; synchronous unless the length must be re-read. */
export function checkByteRequest(
  blk: ByteRequestTarget,
  offset: number,
  bytes: number,
): MaybePromise<number> {
  if (!(bytes >= 0) || !Number.isSafeInteger(bytes)) return -Errno.EIO;
  const bs = blk.availableNode();
  if (bs === null) return -Errno.ENOMEDIUM;
  if (!(offset >= 0) || !Number.isSafeInteger(offset)) return -Errno.EIO;
  if (blk.allowWriteBeyondEof) return 0;
  const len = bdrvGetLength(bs);
  if (typeof len === 'number') return rangeCheck(offset, bytes, len);
  return rangeCheckLater(offset, bytes, len);
}
