/**
 * @vmkit/host-io: host file facilities Node.js lacks, from a small N-API addon.
 *
 * - `punchHole` / `zeroRange`: fallocate(2) on the libuv thread pool (they may take long, so
 *   they never block the event loop); the callback gets 0 or a negative errno.
 * - `seekData` / `seekHole`: lseek(2) with SEEK_DATA / SEEK_HOLE, synchronous (an extent lookup);
 *   the result is an offset or a negative errno (-ENXIO when `offset` is at or past EOF, or for
 *   `seekData` when only a hole follows).
 * - `preadvNowait` / `pwritevNowait`: preadv2(2)/pwritev2(2) with RWF_NOWAIT, synchronous on the
 *   calling thread: page-cached data is copied at once, and -EAGAIN says the call would block
 *   (data not cached), so the caller can use the thread pool instead.
 *
 * When the addon is not built (see {@link hostIoAvailable} and {@link hostIoUnavailableReason}),
 * every call fails with -EOPNOTSUPP, the answer of a file system without the feature, so callers
 * need one fallback path only. Arguments of the wrong type throw a TypeError.
 */
import { binding, hostIoStatus, type HostErrnoName, type HostIoCallback } from './native.js';

export {
  HOST_IO_ADDON_PATH,
  hostIoStatus,
  type HostErrnoName,
  type HostIoBinding,
  type HostIoCallback,
  type HostIoStatus,
} from './native.js';

/** Linux values, used when the addon (which reports the host's own) is missing. */
const LINUX_ERRNO: Readonly<Record<HostErrnoName, number>> = {
  EPERM: 1,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ESPIPE: 29,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
};

/** Positive errno values of this host for the errors these calls return. */
export const HostErrno: Readonly<Record<HostErrnoName, number>> = binding?.errno ?? LINUX_ERRNO;

/** Whether the native addon is loaded (hole punching and SEEK_DATA/SEEK_HOLE work). */
export function hostIoAvailable(): boolean {
  return hostIoStatus.available;
}

/** Why the addon is unavailable (with what to do about it), or null when it is loaded. */
export function hostIoUnavailableReason(): string | null {
  return hostIoStatus.available ? null : hostIoStatus.reason;
}

function unsupported(cb: HostIoCallback): void {
  process.nextTick(cb, -HostErrno.EOPNOTSUPP);
}

/**
 * Deallocates [offset, offset + length): fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).
 * The range then reads as zeroes, its blocks are freed, the file size does not change.
 */
export function punchHole(fd: number, offset: number, length: number, cb: HostIoCallback): void {
  if (binding === null) unsupported(cb);
  else binding.punchHole(fd, offset, length, cb);
}

/**
 * Zeroes [offset, offset + length) without writing data: fallocate(FALLOC_FL_ZERO_RANGE). The
 * range stays allocated; a range past EOF extends the file. -EOPNOTSUPP where the file system
 * lacks it: there is no fallback here, the caller decides (punch a hole, or write zeroes).
 */
export function zeroRange(fd: number, offset: number, length: number, cb: HostIoCallback): void {
  if (binding === null) unsupported(cb);
  else binding.zeroRange(fd, offset, length, cb);
}

/** lseek(SEEK_DATA): the first data byte at or after `offset`, or -ENXIO when none. */
export function seekData(fd: number, offset: number): number {
  return binding === null ? -HostErrno.EOPNOTSUPP : binding.seekData(fd, offset);
}

/** lseek(SEEK_HOLE): the first hole byte at or after `offset` (EOF is a hole), or -ENXIO past EOF. */
export function seekHole(fd: number, offset: number): number {
  return binding === null ? -HostErrno.EOPNOTSUPP : binding.seekHole(fd, offset);
}

/** The most views one {@link preadvNowait} / {@link pwritevNowait} call takes (Linux IOV_MAX). */
export const HOST_IOV_MAX = 1024;

/**
 * preadv2(fd, views, position, RWF_NOWAIT): reads what the page cache holds, without blocking.
 * Returns the bytes read (short when only a prefix is cached or at EOF; 0 at or past EOF) or a
 * negative errno: -EAGAIN when nothing of the range is cached (the read would wait for the disk),
 * -EOPNOTSUPP when the kernel or the file system does not do RWF_NOWAIT (e.g. tmpfs), or without
 * the addon. Throws a TypeError for arguments of the wrong type, a RangeError for more than
 * {@link HOST_IOV_MAX} views.
 */
export function preadvNowait(fd: number, views: readonly Uint8Array[], position: number): number {
  return binding === null ? -HostErrno.EOPNOTSUPP : binding.preadvNowait(fd, views, position);
}

/**
 * pwritev2(fd, views, position, RWF_NOWAIT): a buffered write that must not block. Returns the
 * bytes written (possibly short) or a negative errno: -EAGAIN when it would block (page not
 * cached, blocks to allocate, a lock held), -EOPNOTSUPP where buffered writes do not support
 * RWF_NOWAIT at all (ext4 on Linux 6.18, for one), or without the addon.
 */
export function pwritevNowait(fd: number, views: readonly Uint8Array[], position: number): number {
  return binding === null ? -HostErrno.EOPNOTSUPP : binding.pwritevNowait(fd, views, position);
}

/** Promise form of {@link punchHole}, for code off the hot path. */
export function punchHoleAsync(fd: number, offset: number, length: number): Promise<number> {
  return new Promise((resolve) => punchHole(fd, offset, length, resolve));
}

/** Promise form of {@link zeroRange}, for code off the hot path. */
export function zeroRangeAsync(fd: number, offset: number, length: number): Promise<number> {
  return new Promise((resolve) => zeroRange(fd, offset, length, resolve));
}

/** The C library's message for an errno (either sign); a generic text without the addon. */
export function hostStrerror(errno: number): string {
  if (binding !== null) return binding.strerror(errno);
  const e = Math.abs(errno);
  const name = (Object.keys(HostErrno) as HostErrnoName[]).find((k) => HostErrno[k] === e);
  return name ?? `Unknown error ${e}`;
}
