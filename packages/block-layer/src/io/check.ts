/**
 * Request checks below the BlockBackend (block/io.c bdrv_check_qiov_request,
 * bdrv_check_request32): all failures are -EIO.
 */
import { Errno, type IOVector } from '@vmkit/core';
import { BDRV_MAX_LENGTH, BDRV_REQUEST_MAX_BYTES } from '../constants.js';
import { BdrvChild } from '../child.js';
import type { BlockDriverState } from '../node.js';

/** Where a request is sent: a node directly, or an edge (which also checks its permissions). */
export type IoTarget = BlockDriverState | BdrvChild;

/** The node of a target. */
export function nodeOf(target: IoTarget): BlockDriverState | null {
  return target instanceof BdrvChild ? target.bs : target;
}

function tooLarge(n: number): boolean {
  return n > BDRV_MAX_LENGTH || n > Number.MAX_SAFE_INTEGER;
}

/** bdrv_check_qiov_request: 0 or -EIO. */
export function checkQiovRequest(
  offset: number,
  bytes: number,
  qiov?: IOVector | null,
  qiovOffset = 0,
): number {
  if (!Number.isInteger(offset) || !Number.isInteger(bytes)) return -Errno.EIO;
  if (offset < 0 || bytes < 0) return -Errno.EIO;
  if (tooLarge(offset) || tooLarge(bytes) || tooLarge(offset + bytes)) return -Errno.EIO;
  if (!qiov) return 0;
  if (qiovOffset < 0 || qiovOffset > qiov.size || bytes > qiov.size - qiovOffset) return -Errno.EIO;
  return 0;
}

/** bdrv_check_request32: as above, plus reads/writes are limited to BDRV_REQUEST_MAX_BYTES. */
export function checkRequest32(
  offset: number,
  bytes: number,
  qiov?: IOVector | null,
  qiovOffset = 0,
): number {
  const ret = checkQiovRequest(offset, bytes, qiov, qiovOffset);
  if (ret < 0) return ret;
  if (bytes > BDRV_REQUEST_MAX_BYTES) return -Errno.EIO;
  return 0;
}

/** QEMU_IS_ALIGNED for possibly large numbers (no 32-bit bitwise arithmetic). */
export function isAligned(n: number, align: number): boolean {
  return n % align === 0;
}

export function alignDown(n: number, align: number): number {
  return n - (n % align);
}

export function alignUp(n: number, align: number): number {
  const r = n % align;
  return r === 0 ? n : n + align - r;
}
