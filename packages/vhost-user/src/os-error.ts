import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { VmkitError } from '@vmkit/core';
import { native, nativeAddonStatus } from './native.js';

/** Linux errno values used by this package (positive; results carry them negated). */
export const OsErrno = {
  EAGAIN: constants.errno.EAGAIN,
  EBADF: constants.errno.EBADF,
  ECANCELED: constants.errno.ECANCELED,
  ECONNABORTED: constants.errno.ECONNABORTED,
  ECONNRESET: constants.errno.ECONNRESET,
  EINTR: constants.errno.EINTR,
  EINVAL: constants.errno.EINVAL,
  EPIPE: constants.errno.EPIPE,
  EPROTO: constants.errno.EPROTO,
} as const;

/** The errno's message from the C library (either sign). */
export function osStrerror(errno: number): string {
  return nativeAddonStatus.available ? native.strerror(errno) : `error ${Math.abs(errno)}`;
}

/** Symbolic name such as `'EAGAIN'` (either sign). */
export function osErrnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${Math.abs(errno)}`;
  }
}

/**
 * A failed system call surfaced as an exception, where failing is a setup error rather than an
 * I/O result (listening on a path, creating an eventfd).
 */
export class OsError extends VmkitError {
  /** Positive errno. */
  readonly errno: number;
  /** Name such as `'EADDRINUSE'`. */
  readonly code: string;
  constructor(errno: number, what: string) {
    const e = Math.abs(errno);
    super(`${what}: ${osStrerror(e)} (${osErrnoName(e)})`);
    this.errno = e;
    this.code = osErrnoName(e);
  }

  /** Returns `ret` unless it is a negative errno, which is thrown as an OsError. */
  static check<T>(ret: T | number, what: string): T {
    if (typeof ret === 'number' && ret < 0) throw new OsError(ret, what);
    return ret as T;
  }
}
