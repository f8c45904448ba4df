/**
 * `file`: a raw host regular file (QEMU block/file-posix.c), through Node's callback fs API
 * (libuv's thread pool, or io_uring when the process runs with UV_USE_IO_URING=1; the `aio`
 * option only records the wish). `fs/promises` is never used on the I/O path: each request is a
 * pooled `FileRequest` whose fs completion callback is allocated once, and one promise per request.
 *
 * Host facilities Node does not offer, and what the driver does instead:
 * - no fallocate, no SEEK_DATA/SEEK_HOLE: the optional @vmkit/host-io addon provides them and
 *   file-host.ts uses them (hole punching for discard, ZERO_RANGE for write-zeroes, holes in
 *   block status). Without it `pdiscard` and `pwriteZeroes` return -ENOTSUP (the generic layer
 *   ignores the discard and writes a zero buffer instead) and block status is all DATA.
 * - no flock/OFD locks: `locking` is validated and ignored.
 * - no aligned allocator: with `cache.direct` (O_DIRECT), buffers must be aligned to the logical
 *   block size, but the address of a JS ArrayBuffer is unknown. Aligned bounce buffers are made
 *   from WebAssembly memories (page-aligned mappings). A guest buffer is first tried directly when
 *   its offsets and lengths are multiples of the alignment; the kernel refuses a misaligned one with
 *   EINVAL before doing any I/O, and the driver then remembers that residue of that ArrayBuffer as
 *   bad and bounces; a success marks it good. The request alignment is the probed logical block
 *   size (512..4096).
 *
 * Submissions are held, then flushed with runs of contiguous requests in the same direction
 * merged into one `readv`/`writev` (≤ 16 requests, ≤ IOV_MAX views), while:
 * - the node is plugged (ioPlug 0→1, flushed at unplug 1→0);
 * - a defer_call section of the node's AioContext is open (flushed at its outermost end);
 * - fs completions are being delivered and other requests of the node are in flight (flushed by
 *   a bottom half in the same loop turn): what the completion callbacks resubmit goes out merged,
 *   which at depth 32 cut the CPU per request by more than half. A lone request goes at once.
 * Short reads are completed with zeroes at EOF; short writes are continued.
 *
 * `nowait` (default on, buffered files only): a request of at most NOWAIT_MAX_BYTES with nothing
 * held in the queue (submission order is kept) is first tried inline with preadv2/pwritev2 and
 * RWF_NOWAIT. What the page cache serves completes synchronously (no thread-pool round trip);
 * the rest of a short transfer, and a request that would block (-EAGAIN) or fails, takes the
 * path above, so errors are reported as without it. When the host refuses RWF_NOWAIT the
 * direction is disabled for the file; -EAGAIN streaks back off (file-nowait.ts). FUA writes are
 * never inline (they need RWF_DSYNC). QEMU's io_uring and linux-aio paths likewise copy cached
 * buffered data in the submitting thread.
 */
import * as fs from 'node:fs';
import { ConfigError, Errno, errnoFromNodeError, errnoName, strerror, type IOVector } from '@vmkit/core';
import { HostErrno } from '@vmkit/host-io';
import { IOV_MAX, RequestFlags, type MaybePromise, type RequestFlagsMask } from '../constants.js';
import type { BlockDriver, DriverOptions, PreallocMode } from '../driver.js';
import type { BlockDriverState } from '../node.js';
import { boolOption, checkKeys, sizeOption } from './options.js';
import { fileBlockStatus, filePdiscard, filePwriteZeroes, fileZeroFlags } from './file-host.js';
import {
  allocAligned,
  collectViews,
  fileIo,
  flushQueue,
  FileRequest,
  FileState,
  NO_VIEW,
  type ErrCallback,
  type FileAio,
} from './file-io.js';
import { NOWAIT_MAX_BYTES, type NowaitGate } from './file-nowait.js';

export { allocAligned, fileIo, FileState, type FileAio, type FileIoCalls } from './file-io.js';

export type FileLocking = 'auto' | 'on' | 'off';

export interface FileOptions {
  filename: string;
  aio: FileAio;
  locking: FileLocking;
  /** Try page-cache I/O inline with RWF_NOWAIT first (buffered files only). */
  nowait: boolean;
}

// ---- small async helpers (open/close/flush/truncate: not per-byte hot) -------------------------

function errCall(fn: (cb: ErrCallback) => void): Promise<number> {
  return new Promise<number>((resolve) => fn((err) => resolve(err === null ? 0 : errnoFromNodeError(err))));
}

function fstatNumber(fd: number, pick: (st: fs.Stats) => number): Promise<number> {
  return new Promise<number>((resolve) =>
    fileIo.fstat(fd, (err, st) => resolve(err === null ? pick(st) : errnoFromNodeError(err))),
  );
}

function openFd(
  path: string,
  flags: number,
  mode = 0o644,
): Promise<{ fd: number; err: NodeJS.ErrnoException | null }> {
  return new Promise((resolve) => fileIo.open(path, flags, mode, (err, fd) => resolve({ fd, err })));
}

/** `No such file or directory`, or the host's text for errnos outside Errno. */
function describe(err: NodeJS.ErrnoException): string {
  const e = errnoFromNodeError(err);
  if (err.code !== undefined && errnoName(e) === err.code) return strerror(e);
  const m = /^[A-Z0-9]+: ([^,]+)/.exec(err.message);
  return m ? m[1].charAt(0).toUpperCase() + m[1].slice(1) : err.message;
}

/** Writes zeroes over [from, to) (preallocation=full). */
async function writeZeroRange(fd: number, from: number, to: number): Promise<number> {
  const chunk = new Uint8Array(Math.min(to - from, 1 << 20));
  for (let pos = from; pos < to;) {
    const len = Math.min(chunk.length, to - pos);
    const r = await new Promise<number>((resolve) =>
      fileIo.write(fd, chunk, 0, len, pos, (err, n) => resolve(err === null ? n : errnoFromNodeError(err))),
    );
    if (r < 0) return r;
    if (r === 0) return -Errno.EIO;
    pos += r;
  }
  return 0;
}

async function resizeFd(fd: number, size: number, prealloc: PreallocMode): Promise<number> {
  if (prealloc !== 'off' && prealloc !== 'full') return -Errno.ENOTSUP;
  const old = await fstatNumber(fd, (st) => st.size);
  if (old < 0) return old;
  const r = await errCall((cb) => fileIo.ftruncate(fd, size, cb));
  if (r < 0 || prealloc === 'off' || size <= old) return r;
  return writeZeroRange(fd, old, size);
}

/**
 * raw_probe_alignment: the smallest of 512..4096 that an O_DIRECT read at offset 0 accepts.
 * A read at EOF proves nothing (the kernel returns 0 before checking), so an empty file gets 4096.
 */
async function probeAlignment(fd: number): Promise<number> {
  const buf = allocAligned(4096);
  for (const align of [512, 1024, 2048, 4096]) {
    const r = await new Promise<number>((resolve) =>
      fileIo.read(fd, buf, 0, align, 0, (err, n) => resolve(err === null ? n : errnoFromNodeError(err))),
    );
    if (r > 0) return align;
    if (r === 0) return 4096;
    if (r !== -Errno.EINVAL) return r;
  }
  return -Errno.EINVAL;
}

function enumOption<T extends string>(options: DriverOptions, key: string, values: readonly T[], dflt: T): T {
  const v = options[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ConfigError(
      `Parameter '${key}' does not accept value '${typeof v === 'string' ? v : JSON.stringify(v)}'`,
    );
  }
  return v as T;
}

function parseFileOptions(options: DriverOptions): FileOptions {
  checkKeys(options, ['filename', 'aio', 'locking', 'nowait']);
  const filename = options.filename;
  if (filename === undefined) throw new ConfigError("Parameter 'filename' is missing");
  if (typeof filename !== 'string')
    throw new ConfigError("Invalid parameter type for 'filename', expected: string");
  if (options.aio === 'native') {
    throw new ConfigError(
      "aio=native is not available in vmkit (Node.js has no Linux AIO): use 'threads' or 'io_uring'",
    );
  }
  return {
    filename,
    aio: enumOption(options, 'aio', ['threads', 'io_uring'] as const, 'threads'),
    locking: enumOption(options, 'locking', ['auto', 'on', 'off'] as const, 'auto'),
    nowait: boolOption(options, 'nowait') ?? true,
  };
}

async function openFile(bs: BlockDriverState<FileState>, o: FileOptions): Promise<void> {
  const flags = bs.openFlags;
  const direct = flags.cache.direct;
  const extra = direct ? fs.constants.O_DIRECT : 0;
  let { fd, err } = await openFd(
    o.filename,
    (flags.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR) | extra,
  );
  if (
    err !== null &&
    !flags.readOnly &&
    flags.autoReadOnly &&
    ['EACCES', 'EROFS', 'EPERM'].includes(err.code ?? '')
  ) {
    // auto-read-only: fall back to a read-only open (bdrv_apply_auto_read_only).
    ({ fd, err } = await openFd(o.filename, fs.constants.O_RDONLY | extra));
    if (err === null) flags.readOnly = true;
  }
  if (err !== null) {
    if (direct && err.code === 'EINVAL') {
      throw new ConfigError(
        `Could not open '${o.filename}': the file system does not support O_DIRECT (cache.direct=on): ${describe(err)}`,
      );
    }
    throw new ConfigError(`Could not open '${o.filename}': ${describe(err)}`);
  }
  const fail = async (msg: string): Promise<never> => {
    await errCall((cb) => fileIo.close(fd, cb));
    throw new ConfigError(msg);
  };
  const isReg = await new Promise<number>((resolve) =>
    fileIo.fstat(fd, (e, st) => resolve(e === null ? (st.isFile() ? 1 : 0) : errnoFromNodeError(e))),
  );
  if (isReg < 0) await fail(`Could not stat '${o.filename}': ${strerror(isReg)}`);
  if (isReg === 0) await fail(`'file' driver requires '${o.filename}' to be a regular file`);
  let align = 1;
  if (direct) {
    align = await probeAlignment(fd);
    if (align < 0)
      await fail(`Could not find working O_DIRECT alignment for '${o.filename}': try cache.direct=off`);
  }
  bs.opaque = new FileState(fd, o.filename, direct, align, o.aio, bs.aioContext, o.nowait);
  bs.supportedZeroFlags = fileZeroFlags();
}

function state(bs: BlockDriverState<FileState>): FileState {
  return bs.opaque;
}

/**
 * Tries [offset, offset + bytes) inline with RWF_NOWAIT; returns the bytes transferred (0 when
 * nothing was: the request takes the thread-pool path whole). Teaches `gate` the outcome.
 */
function tryNowait(
  s: FileState,
  gate: NowaitGate,
  write: boolean,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
): number {
  const views = s.nowaitViews;
  collectViews(qiov, qiovOffset, bytes, views);
  const n = views.length;
  let r = 0;
  if (n <= IOV_MAX) {
    r = write ? fileIo.pwritevNowait(s.fd, views, offset) : fileIo.preadvNowait(s.fd, views, offset);
  }
  // Do not keep guest buffers alive until the next attempt.
  for (let i = 0; i < n; i++) views[i] = NO_VIEW;
  if (r > 0) {
    gate.hit();
    return r;
  }
  if (r === -HostErrno.EAGAIN) gate.miss();
  else if (r === -HostErrno.EOPNOTSUPP || r === -HostErrno.EINVAL || r === -HostErrno.ENOSYS) gate.refuse();
  // 0 (EOF) and other errors: the thread-pool path zero-fills or reports them as it always did.
  return 0;
}

/** preadv/pwritev: inline first when allowed, then the pooled request for what is left. */
function fileRw(
  s: FileState,
  write: boolean,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
  flags: RequestFlagsMask,
): MaybePromise<number> {
  if (s.closed) return -Errno.EIO;
  if (bytes === 0) return 0;
  let done = 0;
  const gate = write ? s.nowaitWrite : s.nowaitRead;
  if (bytes <= NOWAIT_MAX_BYTES && s.queue.length === 0 && (flags & RequestFlags.FUA) === 0 && gate.admit()) {
    done = tryNowait(s, gate, write, offset, bytes, qiov, qiovOffset);
    if (done >= bytes) return 0;
  }
  return (s.pool.pop() ?? new FileRequest(s)).start(
    write,
    offset + done,
    bytes - done,
    qiov,
    qiovOffset + done,
  );
}

export const fileDriver: BlockDriver<FileState, FileOptions> = {
  name: 'file',
  kind: 'protocol',
  parseOptions: parseFileOptions,
  open: openFile,
  close(bs) {
    const s = state(bs);
    if (s.queue.length) flushQueue(s);
    s.closed = true;
    return errCall((cb) => fileIo.close(s.fd, cb)).then(() => undefined);
  },
  async create(options) {
    checkKeys(options, ['filename', 'size', 'preallocation']);
    const o = parseFileOptions({ filename: options.filename });
    const size = sizeOption(options, 'size') ?? 0;
    const prealloc = enumOption(options, 'preallocation', ['off', 'full'] as const, 'off');
    const { fd, err } = await openFd(o.filename, fs.constants.O_RDWR | fs.constants.O_CREAT);
    if (err !== null) throw new ConfigError(`Could not create file: ${describe(err)}`);
    // Clear the file first (raw_co_create), then grow it.
    let r = await errCall((cb) => fileIo.ftruncate(fd, 0, cb));
    if (r === 0) r = await resizeFd(fd, size, prealloc);
    await errCall((cb) => fileIo.close(fd, cb));
    if (r < 0) throw new ConfigError(`Could not resize file: ${strerror(r)}`);
  },
  getLength: (bs) => fstatNumber(state(bs).fd, (st) => st.size),
  getAllocatedFileSize: (bs) => fstatNumber(state(bs).fd, (st) => st.blocks * 512),
  preadv: (bs, offset, bytes, qiov, qiovOffset) =>
    fileRw(state(bs), false, offset, bytes, qiov, qiovOffset, 0),
  pwritev: (bs, offset, bytes, qiov, qiovOffset, flags) =>
    fileRw(state(bs), true, offset, bytes, qiov, qiovOffset, flags),
  // fallocate through host-io; -ENOTSUP: the generic layer writes a zero buffer instead.
  pwriteZeroes: (bs, offset, bytes, flags) => filePwriteZeroes(state(bs), offset, bytes, flags),
  // Hole punching through host-io; -ENOTSUP: discard is advisory and the generic layer ignores it.
  pdiscard: (bs, offset, bytes) => filePdiscard(state(bs), offset, bytes),
  flushToDisk: (bs) => errCall((cb) => fileIo.fdatasync(state(bs).fd, cb)),
  truncate(bs, offset, _exact, prealloc) {
    // A regular file is always resized to exactly `offset` (raw_co_truncate).
    return resizeFd(state(bs).fd, offset, prealloc);
  },
  blockStatus: (bs, wantZero, offset, bytes) => fileBlockStatus(bs, state(bs), wantZero, offset, bytes),
  refreshLimits(bs) {
    const s = state(bs);
    if (!s.direct) return;
    bs.limits.requestAlignment = s.align;
    bs.limits.minMemAlignment = s.align;
    bs.limits.optMemAlignment = Math.max(4096, s.align);
  },
  attachAioContext(bs) {
    state(bs).ctx = bs.aioContext;
  },
  ioPlug(bs) {
    state(bs).plugged = true;
  },
  ioUnplug(bs) {
    const s = state(bs);
    s.plugged = false;
    if (!s.deferred && s.queue.length) flushQueue(s);
  },
  info: (bs) => ({
    formatSpecific: {
      aio: state(bs).aio,
      direct: state(bs).direct,
      alignment: state(bs).align,
      nowait: state(bs).nowait,
    },
  }),
};
