/**
 * Errors in vmkit come in two kinds (DESIGN.md §2):
 * - on the I/O path, results are numbers: 0 or a negative errno, as in QEMU;
 * - programming and configuration errors are exceptions (`ConfigError`, `BlockError` for the
 *   convenience APIs that turn an errno into an exception).
 */

/** Linux errno values used by the block layer and devices (positive; results carry them negated). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EIO: 5,
  E2BIG: 7,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  EINPROGRESS: 115,
  ENOMEDIUM: 123,
  ECANCELED: 125,
} as const;

export type ErrnoName = keyof typeof Errno;
export type ErrnoValue = (typeof Errno)[ErrnoName];

const messages: Readonly<Record<number, string>> = {
  [Errno.EPERM]: 'Operation not permitted',
  [Errno.ENOENT]: 'No such file or directory',
  [Errno.ESRCH]: 'No such process',
  [Errno.EIO]: 'Input/output error',
  [Errno.E2BIG]: 'Argument list too long',
  [Errno.EAGAIN]: 'Resource temporarily unavailable',
  [Errno.ENOMEM]: 'Cannot allocate memory',
  [Errno.EACCES]: 'Permission denied',
  [Errno.EFAULT]: 'Bad address',
  [Errno.EBUSY]: 'Device or resource busy',
  [Errno.EEXIST]: 'File exists',
  [Errno.ENODEV]: 'No such device',
  [Errno.EINVAL]: 'Invalid argument',
  [Errno.EFBIG]: 'File too large',
  [Errno.ENOSPC]: 'No space left on device',
  [Errno.EROFS]: 'Read-only file system',
  [Errno.ERANGE]: 'Numerical result out of range',
  [Errno.EOVERFLOW]: 'Value too large for defined data type',
  [Errno.ENOTSUP]: 'Operation not supported',
  [Errno.EINPROGRESS]: 'Operation now in progress',
  [Errno.ENOMEDIUM]: 'No medium found',
  [Errno.ECANCELED]: 'Operation canceled',
};

const names: Readonly<Record<number, ErrnoName>> = Object.fromEntries(
  Object.entries(Errno).map(([name, value]) => [value, name as ErrnoName]),
);

/** The C library's message for an errno; accepts the negative form used in results. */
export function strerror(errno: number): string {
  const e = Math.abs(errno);
  return messages[e] ?? `Unknown error ${e}`;
}

/** The symbolic name (`'EIO'`) for an errno, positive or negative; undefined if unknown. */
export function errnoName(errno: number): ErrnoName | undefined {
  return names[Math.abs(errno)];
}

/**
 * Maps a Node.js system error (`err.code === 'ENOSPC'`, or `err.errno` which libuv reports
 * negated) to a negative errno result; unknown errors become -EIO.
 */
export function errnoFromNodeError(err: unknown): number {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code in Errno) return -Errno[code as ErrnoName];
    if (code === 'EOPNOTSUPP') return -Errno.ENOTSUP;
  }
  return -Errno.EIO;
}

/** Base class of vmkit's exceptions. */
export class VmkitError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An I/O error surfaced by a convenience API (`blk.read()`): carries the positive errno and a
 * readable message such as `read failed: Input/output error`.
 */
export class BlockError extends VmkitError {
  /** Positive errno (`Errno.EIO`). */
  readonly errno: number;
  constructor(errno: number, message?: string, options?: ErrorOptions) {
    const e = Math.abs(errno);
    super(message ?? strerror(e), options);
    this.errno = e;
  }
  /** The errno name, e.g. `'EIO'`. */
  get code(): string {
    return errnoName(this.errno) ?? `E${this.errno}`;
  }

  /** Throws a BlockError if `ret` is a negative errno, with `what failed: <strerror>` as message. */
  static check(ret: number, what: string): number {
    if (ret < 0) throw new BlockError(-ret, `${what}: ${strerror(ret)}`);
    return ret;
  }
}

/** A configuration or usage error: bad options, unknown ids, invalid state for the call. */
export class ConfigError extends VmkitError {}
