/**
 * `file`: a raw host regular file (QEMU block/file-posix.c), through Node's callback fs API
 * (libuv's thread pool, or io_uring when the process runs with UV_USE_IO_URING=1; the `aio`
 * option only records the wish). `fs/promises` is never used on the I/O path: each request is a
 * pooled `FileRequest` whose fs completion callback is allocated once, and one promise per request.
 *
 * Host facilities Node does not offer, and what the driver does instead:
 * - no fallocate: `pdiscard` and `pwriteZeroes` return -ENOTSUP. The generic layer ignores the
 *   discard (it is advisory) and emulates write-zeroes with a zero buffer (QEMU's behaviour on
 *   file systems without hole punching).
 * - no SEEK_DATA/SEEK_HOLE: block status reports DATA|OFFSET_VALID for the whole range.
 * - no flock/OFD locks: `locking` is validated and ignored.
 * - no aligned allocator: with `cache.direct` (O_DIRECT), buffers must be aligned to the logical
 *   block size, but the address of a JS ArrayBuffer is unknown. Aligned bounce buffers are made
 *   from WebAssembly memories (page-aligned mappings). A guest buffer is first tried directly when
 *   its offsets and lengths are multiples of the alignment; the kernel refuses a misaligned one with
 *   EINVAL before doing any I/O, and the driver then remembers that residue of that ArrayBuffer as
 *   bad and bounces; a success marks it good. The request alignment is the probed logical block
 *   size (512..4096).
 *
 * While the node is plugged (ioPlug 0→1), requests are queued; at unplug (1→0) runs of contiguous
 * requests in the same direction go to the kernel as one `readv`/`writev` (≤ IOV_MAX views).
 * Short reads are completed with zeroes at EOF; short writes are continued.
 */
import * as fs from 'node:fs';
import { ConfigError, Errno, errnoFromNodeError, errnoName, strerror, type IOVector } from '@vmkit/core';
import { BlockStatus, IOV_MAX } from '../constants.js';
import type { BlockDriver, DriverOptions, PreallocMode } from '../driver.js';
import type { BlockDriverState } from '../node.js';
import { checkKeys, sizeOption } from './options.js';

type ErrCallback = (err: NodeJS.ErrnoException | null) => void;
type IoCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

/** The fs calls the driver makes. Tests wrap or replace members (call counting, faults). */
export interface FileIoCalls {
  open(path: string, flags: number, mode: number, cb: (err: NodeJS.ErrnoException | null, fd: number) => void): void;
  close(fd: number, cb: ErrCallback): void;
  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number, cb: IoCallback): void;
  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number, cb: IoCallback): void;
  readv(fd: number, bufs: Uint8Array[], pos: number, cb: IoCallback): void;
  writev(fd: number, bufs: Uint8Array[], pos: number, cb: IoCallback): void;
  fdatasync(fd: number, cb: ErrCallback): void;
  ftruncate(fd: number, len: number, cb: ErrCallback): void;
  fstat(fd: number, cb: (err: NodeJS.ErrnoException | null, stats: fs.Stats) => void): void;
}

/** The fs functions in use (module-level hook: replace members to observe or fake the host). */
export const fileIo: FileIoCalls = {
  open: fs.open,
  close: fs.close,
  read: fs.read,
  write: fs.write,
  readv: fs.readv,
  writev: fs.writev,
  fdatasync: fs.fdatasync,
  ftruncate: fs.ftruncate,
  fstat: fs.fstat,
};

export type FileAio = 'threads' | 'io_uring';
export type FileLocking = 'auto' | 'on' | 'off';

export interface FileOptions {
  filename: string;
  aio: FileAio;
  locking: FileLocking;
}

// ---- aligned memory ------------------------------------------------------------------------------

interface WasmMemoryCtor {
  new (d: { initial: number; maximum?: number }): { readonly buffer: ArrayBuffer };
}
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } }).WebAssembly.Memory;
const WASM_PAGE = 65536;

/** A buffer starting on a page boundary (WebAssembly memories are separate page-aligned mappings). */
export function allocAligned(bytes: number): Uint8Array {
  const pages = Math.max(1, Math.ceil(bytes / WASM_PAGE));
  return new Uint8Array(new WasmMemory({ initial: pages, maximum: pages }).buffer);
}

/** What O_DIRECT taught us about an ArrayBuffer: the residue (byteOffset mod align) that works. */
interface BufferAlignment {
  good: number;
  bad: number[];
}
const bufferAlignment = new WeakMap<ArrayBufferLike, BufferAlignment>();

type DirectVerdict = 'yes' | 'no' | 'try';

function directVerdict(views: readonly Uint8Array[], align: number): DirectVerdict {
  let verdict: DirectVerdict = 'yes';
  for (const v of views) {
    if (v.length % align !== 0) return 'no';
    const residue = v.byteOffset % align;
    const known = bufferAlignment.get(v.buffer);
    if (known === undefined) verdict = 'try';
    else if (known.good >= 0) {
      if (known.good !== residue) return 'no';
    } else if (known.bad.includes(residue)) return 'no';
    else verdict = 'try';
  }
  return verdict;
}

function learnAlignment(views: readonly Uint8Array[], align: number, ok: boolean): void {
  for (const v of views) {
    const residue = v.byteOffset % align;
    let known = bufferAlignment.get(v.buffer);
    if (known === undefined) bufferAlignment.set(v.buffer, (known = { good: -1, bad: [] }));
    if (ok) known.good = residue;
    else if (known.good < 0 && !known.bad.includes(residue)) known.bad.push(residue);
  }
}

// ---- per-node state and requests ---------------------------------------------------------------

export class FileState {
  plugged = false;
  closed = false;
  /** Requests held while plugged, in submission order. */
  readonly queue: FileRequest[] = [];
  readonly pool: FileRequest[] = [];
  readonly batchPool: FileBatch[] = [];
  readonly bouncePool: Uint8Array[] = [];
  constructor(
    readonly fd: number,
    readonly filename: string,
    readonly direct: boolean,
    /** Request and memory alignment (1 without O_DIRECT). */
    readonly align: number,
    readonly aio: FileAio,
  ) {}

  takeBounce(bytes: number): Uint8Array {
    const pool = this.bouncePool;
    for (let i = 0; i < pool.length; i++) {
      if (pool[i].length >= bytes) {
        const b = pool[i];
        pool[i] = pool[pool.length - 1];
        pool.pop();
        return b;
      }
    }
    return allocAligned(bytes);
  }

  giveBounce(b: Uint8Array): void {
    if (this.bouncePool.length < 8) this.bouncePool.push(b);
  }
}

/** Views of qiov bytes [offset, offset + bytes) into `out` (no copy; whole views are reused). */
function collectViews(qiov: IOVector, offset: number, bytes: number, out: Uint8Array[]): void {
  out.length = 0;
  const views = qiov.views;
  let skip = offset;
  let left = bytes;
  for (let i = 0; i < views.length && left > 0; i++) {
    const v = views[i];
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    const n = Math.min(v.length - skip, left);
    out.push(skip === 0 && n === v.length ? v : v.subarray(skip, skip + n));
    left -= n;
    skip = 0;
  }
}

function submitViews(fd: number, write: boolean, views: Uint8Array[], pos: number, cb: IoCallback): void {
  if (views.length === 1) {
    const v = views[0];
    if (write) fileIo.write(fd, v, 0, v.length, pos, cb);
    else fileIo.read(fd, v, 0, v.length, pos, cb);
  } else if (write) fileIo.writev(fd, views, pos, cb);
  else fileIo.readv(fd, views, pos, cb);
}

/** One read or write in flight (pooled; its callbacks are allocated once). */
class FileRequest {
  write = false;
  offset = 0;
  bytes = 0;
  qiov: IOVector | null = null;
  qiovOffset = 0;
  /** Views for the part not yet transferred. */
  readonly views: Uint8Array[] = [];
  bounce: Uint8Array | null = null;
  /** O_DIRECT on guest buffers whose alignment is not known yet. */
  probing = false;
  done = 0;
  private resolve: ((ret: number) => void) | null = null;
  readonly executor = (resolve: (ret: number) => void): void => {
    this.resolve = resolve;
  };
  readonly onIo: IoCallback = (err, n) => this.ioDone(err, n);

  constructor(readonly s: FileState) {}

  start(write: boolean, offset: number, bytes: number, qiov: IOVector, qiovOffset: number): Promise<number> {
    const s = this.s;
    this.write = write;
    this.offset = offset;
    this.bytes = bytes;
    this.qiov = qiov;
    this.qiovOffset = qiovOffset;
    this.done = 0;
    collectViews(qiov, qiovOffset, bytes, this.views);
    if (s.direct) {
      const verdict = directVerdict(this.views, s.align);
      if (verdict === 'no') this.useBounce();
      else this.probing = verdict === 'try';
    }
    const p = new Promise<number>(this.executor);
    if (s.plugged) {
      s.queue.push(this);
      if (s.queue.length >= IOV_MAX) flushQueue(s);
    } else this.submit();
    return p;
  }

  private useBounce(): void {
    const b = this.s.takeBounce(this.bytes);
    this.bounce = b;
    this.probing = false;
    if (this.write) this.qiov!.copyTo(b, this.qiovOffset, this.bytes);
    this.views.length = 0;
    this.views.push(b.subarray(0, this.bytes));
  }

  submit(): void {
    submitViews(this.s.fd, this.write, this.views, this.offset + this.done, this.onIo);
  }

  /** Restarts from the beginning (after a failed batch or a refused O_DIRECT probe). */
  restart(): void {
    this.done = 0;
    if (this.bounce !== null) {
      this.views.length = 0;
      this.views.push(this.bounce.subarray(0, this.bytes));
    } else collectViews(this.qiov!, this.qiovOffset, this.bytes, this.views);
    this.submit();
  }

  private ioDone(err: NodeJS.ErrnoException | null, n: number): void {
    const s = this.s;
    if (err !== null) {
      if (this.probing && err.code === 'EINVAL') {
        learnAlignment(this.views, s.align, false);
        this.useBounce();
        this.done = 0;
        this.submit();
        return;
      }
      this.finish(errnoFromNodeError(err));
      return;
    }
    if (this.probing && n > 0) {
      learnAlignment(this.views, s.align, true);
      this.probing = false;
    }
    this.done += n;
    if (this.done >= this.bytes) {
      this.finish(0);
      return;
    }
    // A short transfer: at EOF for reads (the rest reads as zeroes); O_DIRECT cannot continue
    // at an unaligned position, which for regular files also only happens at EOF.
    const stuck = n === 0 || (s.direct && this.done % s.align !== 0);
    if (stuck) {
      if (this.write) this.finish(-Errno.EIO);
      else {
        if (this.bounce !== null) this.bounce.fill(0, this.done, this.bytes);
        else this.qiov!.fill(0, this.qiovOffset + this.done, this.bytes - this.done);
        this.finish(0);
      }
      return;
    }
    if (this.bounce !== null) {
      this.views.length = 0;
      this.views.push(this.bounce.subarray(this.done, this.bytes));
    } else collectViews(this.qiov!, this.qiovOffset + this.done, this.bytes - this.done, this.views);
    this.submit();
  }

  finish(ret: number): void {
    const s = this.s;
    const bounce = this.bounce;
    if (bounce !== null) {
      if (ret === 0 && !this.write) this.qiov!.copyFrom(bounce.subarray(0, this.bytes), this.qiovOffset);
      s.giveBounce(bounce);
      this.bounce = null;
    }
    const resolve = this.resolve!;
    this.resolve = null;
    this.qiov = null;
    this.views.length = 0;
    this.probing = false;
    s.pool.push(this);
    resolve(ret);
  }
}

/** Contiguous same-direction requests submitted as one vectored call (plug coalescing). */
class FileBatch {
  write = false;
  offset = 0;
  bytes = 0;
  readonly members: FileRequest[] = [];
  readonly views: Uint8Array[] = [];
  readonly onIo: IoCallback = (err, n) => this.ioDone(err, n);

  constructor(readonly s: FileState) {}

  private ioDone(err: NodeJS.ErrnoException | null, n: number): void {
    const members = this.members;
    const ok = err === null && n === this.bytes;
    const align = this.s.align;
    for (const m of members) {
      if (!ok) m.restart(); // errors and short transfers are sorted out request by request
      else {
        if (m.probing) learnAlignment(m.views, align, true);
        m.done = m.bytes;
        m.finish(0);
      }
    }
    members.length = 0;
    this.views.length = 0;
    this.s.batchPool.push(this);
  }

  submit(): void {
    submitViews(this.s.fd, this.write, this.views, this.offset, this.onIo);
  }
}

/** Submits what was queued while plugged, merging contiguous runs. */
function flushQueue(s: FileState): void {
  const q = s.queue;
  let i = 0;
  while (i < q.length) {
    const first = q[i];
    let j = i + 1;
    let niov = first.views.length;
    let end = first.offset + first.bytes;
    while (j < q.length) {
      const r = q[j];
      if (r.write !== first.write || r.offset !== end || niov + r.views.length > IOV_MAX) break;
      niov += r.views.length;
      end += r.bytes;
      j++;
    }
    if (j - i === 1) first.submit();
    else {
      const b = s.batchPool.pop() ?? new FileBatch(s);
      b.write = first.write;
      b.offset = first.offset;
      b.bytes = end - first.offset;
      for (let k = i; k < j; k++) {
        b.members.push(q[k]);
        for (const v of q[k].views) b.views.push(v);
      }
      b.submit();
    }
    i = j;
  }
  q.length = 0;
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

function openFd(path: string, flags: number, mode = 0o644): Promise<{ fd: number; err: NodeJS.ErrnoException | null }> {
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
  for (let pos = from; pos < to; ) {
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
    throw new ConfigError(`Parameter '${key}' does not accept value '${String(v)}'`);
  }
  return v as T;
}

function parseFileOptions(options: DriverOptions): FileOptions {
  checkKeys(options, ['filename', 'aio', 'locking']);
  const filename = options.filename;
  if (filename === undefined) throw new ConfigError("Parameter 'filename' is missing");
  if (typeof filename !== 'string') throw new ConfigError("Invalid parameter type for 'filename', expected: string");
  if (options.aio === 'native') {
    throw new ConfigError("aio=native is not available in vmkit (Node.js has no Linux AIO): use 'threads' or 'io_uring'");
  }
  return {
    filename,
    aio: enumOption(options, 'aio', ['threads', 'io_uring'] as const, 'threads'),
    locking: enumOption(options, 'locking', ['auto', 'on', 'off'] as const, 'auto'),
  };
}

async function openFile(bs: BlockDriverState<FileState>, o: FileOptions): Promise<void> {
  const flags = bs.openFlags;
  const direct = flags.cache.direct;
  const extra = direct ? fs.constants.O_DIRECT : 0;
  let { fd, err } = await openFd(o.filename, (flags.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR) | extra);
  if (err !== null && !flags.readOnly && flags.autoReadOnly && ['EACCES', 'EROFS', 'EPERM'].includes(err.code ?? '')) {
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
    if (align < 0) await fail(`Could not find working O_DIRECT alignment for '${o.filename}': try cache.direct=off`);
  }
  bs.opaque = new FileState(fd, o.filename, direct, align, o.aio);
}

function state(bs: BlockDriverState<FileState>): FileState {
  return bs.opaque;
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
  preadv(bs, offset, bytes, qiov, qiovOffset) {
    const s = state(bs);
    if (s.closed) return -Errno.EIO;
    if (bytes === 0) return 0;
    return (s.pool.pop() ?? new FileRequest(s)).start(false, offset, bytes, qiov, qiovOffset);
  },
  pwritev(bs, offset, bytes, qiov, qiovOffset) {
    const s = state(bs);
    if (s.closed) return -Errno.EIO;
    if (bytes === 0) return 0;
    return (s.pool.pop() ?? new FileRequest(s)).start(true, offset, bytes, qiov, qiovOffset);
  },
  // No fallocate in Node: the generic layer writes a zero buffer instead.
  pwriteZeroes: () => -Errno.ENOTSUP,
  // No hole punching in Node: discard is advisory and -ENOTSUP is ignored.
  pdiscard: () => -Errno.ENOTSUP,
  flushToDisk: (bs) => errCall((cb) => fileIo.fdatasync(state(bs).fd, cb)),
  truncate(bs, offset, _exact, prealloc) {
    // A regular file is always resized to exactly `offset` (raw_co_truncate).
    return resizeFd(state(bs).fd, offset, prealloc);
  },
  blockStatus(bs, _wantZero, offset, bytes) {
    return { status: BlockStatus.DATA | BlockStatus.OFFSET_VALID, pnum: bytes, map: offset, file: bs };
  },
  refreshLimits(bs) {
    const s = state(bs);
    if (!s.direct) return;
    bs.limits.requestAlignment = s.align;
    bs.limits.minMemAlignment = s.align;
    bs.limits.optMemAlignment = Math.max(4096, s.align);
  },
  ioPlug(bs) {
    state(bs).plugged = true;
  },
  ioUnplug(bs) {
    const s = state(bs);
    s.plugged = false;
    if (s.queue.length) flushQueue(s);
  },
  info: (bs) => ({ formatSpecific: { aio: state(bs).aio, direct: state(bs).direct, alignment: state(bs).align } }),
};
