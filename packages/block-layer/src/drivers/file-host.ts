/**
 * What the `file` driver does with the host facilities of @vmkit/host-io (fallocate and
 * SEEK_DATA/SEEK_HOLE), with QEMU block/file-posix.c semantics:
 * - discard punches a hole (handle_aiocb_discard): the range reads as zeroes, its blocks are freed;
 * - write-zeroes with MAY_UNMAP first tries a hole (handle_aiocb_write_zeroes_unmap), else and
 *   without it FALLOC_FL_ZERO_RANGE (handle_aiocb_write_zeroes); -ENOTSUP lets the generic layer
 *   write a zero buffer;
 * - block status asks lseek for data and holes (raw_co_block_status / find_allocation).
 * Without the addon, or on file systems lacking a facility, every function gives the portable
 * answer the driver had before: -ENOTSUP for discard and write-zeroes, DATA for block status.
 *
 * A -ENOTSUP from the host is remembered per open file (QEMU's has_discard / has_write_zeroes),
 * so an unsupported file system costs one failed system call, not one per request.
 */
import * as fs from 'node:fs';
import { Errno, errnoFromNodeError } from '@vmkit/core';
import { HostErrno, hostIoAvailable, punchHole, seekData, seekHole, zeroRange } from '@vmkit/host-io';
import { BlockStatus, RequestFlags, type RequestFlagsMask } from '../constants.js';
import type { BlockStatusResult } from '../driver.js';
import type { BlockDriverState } from '../node.js';

/** The open host file (the driver's FileState satisfies it). */
export interface HostFile {
  readonly fd: number;
}

/** Facilities found missing on one open file (QEMU: !has_discard, !has_write_zeroes). */
interface HostCaps {
  punchHole: boolean;
  zeroRange: boolean;
}

const caps = new WeakMap<HostFile, HostCaps>();

function capsOf(file: HostFile): HostCaps {
  let c = caps.get(file);
  if (c === undefined) {
    c = { punchHole: true, zeroRange: true };
    caps.set(file, c);
  }
  return c;
}

let simulatedAbsent = false;

/** Tests: behave as if the host-io addon were not built (true) or as it is (false). */
export function simulateHostIoAbsent(absent: boolean): void {
  simulatedAbsent = absent;
}

/** Whether the driver can punch holes, zero ranges and find holes. */
export function fileHostIoAvailable(): boolean {
  return !simulatedAbsent && hostIoAvailable();
}

/** The write-zeroes flags the driver honours itself (raw_open_common: MAY_UNMAP | NO_FALLBACK). */
export function fileZeroFlags(): RequestFlagsMask {
  return fileHostIoAvailable() ? RequestFlags.MAY_UNMAP | RequestFlags.NO_FALLBACK : 0;
}

/** translate_err: "the host cannot do this" in its several spellings becomes -ENOTSUP. */
function translate(r: number): number {
  if (
    r === -HostErrno.EOPNOTSUPP ||
    r === -HostErrno.ENOSYS ||
    r === -HostErrno.ENODEV ||
    r === -HostErrno.ENOTTY
  ) {
    return -Errno.ENOTSUP;
  }
  return r;
}

function punch(file: HostFile, offset: number, bytes: number): Promise<number> {
  return new Promise((resolve) =>
    punchHole(file.fd, offset, bytes, (r) => {
      r = translate(r);
      if (r === -Errno.ENOTSUP) capsOf(file).punchHole = false;
      resolve(r);
    }),
  );
}

function zero(file: HostFile, offset: number, bytes: number): Promise<number> {
  return new Promise((resolve) =>
    zeroRange(file.fd, offset, bytes, (r) => {
      r = translate(r);
      if (r === -Errno.ENOTSUP) capsOf(file).zeroRange = false;
      resolve(r);
    }),
  );
}

function fileSize(fd: number): Promise<number> {
  return new Promise((resolve) =>
    fs.fstat(fd, (err, st) => resolve(err === null ? st.size : errnoFromNodeError(err))),
  );
}

/** raw_co_pdiscard: punches a hole; -ENOTSUP (ignored by the generic layer) when it cannot. */
export function filePdiscard(file: HostFile, offset: number, bytes: number): Promise<number> | number {
  if (!fileHostIoAvailable() || !capsOf(file).punchHole) return -Errno.ENOTSUP;
  return punch(file, offset, bytes);
}

/**
 * raw_co_pwrite_zeroes: MAY_UNMAP tries a hole first (-ENOTSUP, -EINVAL and -EBUSY move on to
 * ZERO_RANGE); then ZERO_RANGE, whose -EINVAL also means "cannot". -ENOTSUP makes the generic
 * layer write zeroes (or fail a NO_FALLBACK request).
 *
 * Unlike QEMU, a range ending past EOF is never punched (a hole with KEEP_SIZE would not grow the
 * file): ZERO_RANGE grows it, and never shrinks it under a concurrent extending write.
 */
export async function filePwriteZeroes(
  file: HostFile,
  offset: number,
  bytes: number,
  flags: RequestFlagsMask,
): Promise<number> {
  if (!fileHostIoAvailable()) return -Errno.ENOTSUP;
  const c = capsOf(file);
  if (flags & RequestFlags.MAY_UNMAP && c.punchHole) {
    const size = await fileSize(file.fd);
    if (size < 0) return size;
    if (offset + bytes <= size) {
      const r = await punch(file, offset, bytes);
      if (r !== -Errno.ENOTSUP && r !== -Errno.EINVAL && r !== -Errno.EBUSY) return r;
    }
  }
  if (!c.zeroRange) return -Errno.ENOTSUP;
  const r = await zero(file, offset, bytes);
  return r === -Errno.EINVAL ? -Errno.ENOTSUP : r;
}

/**
 * find_allocation: where [start, ...) is data up to `hole`, or a hole up to `data`; a negative
 * errno (-ENXIO: only a hole follows `start`; -EBUSY: the answers contradict each other, e.g.
 * the file changed in between; -EIO: the file system answered nonsense).
 */
function findAllocation(fd: number, start: number): { data: number; hole: number } | number {
  const data = seekData(fd, start);
  if (data < 0) return data;
  if (data < start) return -Errno.EIO;
  if (data > start) return { data, hole: start };
  const hole = seekHole(fd, start);
  if (hole < 0) return hole;
  if (hole < start) return -Errno.EIO;
  if (hole > start) return { data: start, hole };
  return -Errno.EBUSY;
}

/**
 * raw_co_block_status: DATA|OFFSET_VALID for a data extent (rounded up to the request alignment
 * at an unaligned EOF), ZERO|OFFSET_VALID for a hole up to the next data, and for the trailing
 * hole. Without `wantZero`, or when the host cannot tell, everything is data.
 */
export function fileBlockStatus(
  bs: BlockDriverState,
  file: HostFile,
  wantZero: boolean,
  offset: number,
  bytes: number,
): BlockStatusResult {
  let status: number = BlockStatus.DATA;
  let pnum = bytes;
  if (wantZero && fileHostIoAvailable()) {
    const a = findAllocation(file.fd, offset);
    if (typeof a === 'number') {
      // -ENXIO: a trailing hole; any other failure: no information, so no holes.
      if (a === -HostErrno.ENXIO) status = BlockStatus.ZERO;
    } else if (a.data === offset) {
      const align = bs.limits.requestAlignment;
      pnum = Math.ceil((a.hole - offset) / align) * align;
    } else {
      status = BlockStatus.ZERO;
      pnum = a.data - offset;
    }
  }
  return { status: status | BlockStatus.OFFSET_VALID, pnum: Math.min(pnum, bytes), map: offset, file: bs };
}
