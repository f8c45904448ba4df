/**
 * The request machinery of the `file` driver: the fs calls (overridable for tests), aligned
 * memory for O_DIRECT, pooled per-request objects and plug coalescing. See file.ts for the
 * driver and the design notes.
 */
import * as fs from 'node:fs';
import { Errno, errnoFromNodeError, type AioContext, type IOVector } from '@vmkit/core';
import { preadvNowait, pwritevNowait } from '@vmkit/host-io';
import { IOV_MAX } from '../constants.js';
import { NowaitGate } from './file-nowait.js';

export type ErrCallback = (err: NodeJS.ErrnoException | null) => void;
export type IoCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

/** The fs calls the driver makes. Tests wrap or replace members (call counting, faults). */
export interface FileIoCalls {
  open(
    path: string,
    flags: number,
    mode: number,
    cb: (err: NodeJS.ErrnoException | null, fd: number) => void,
  ): void;
  close(fd: number, cb: ErrCallback): void;
  read(fd: number, buf: Uint8Array, off: number, len: number, pos: number, cb: IoCallback): void;
  write(fd: number, buf: Uint8Array, off: number, len: number, pos: number, cb: IoCallback): void;
  readv(fd: number, bufs: Uint8Array[], pos: number, cb: IoCallback): void;
  writev(fd: number, bufs: Uint8Array[], pos: number, cb: IoCallback): void;
  fdatasync(fd: number, cb: ErrCallback): void;
  ftruncate(fd: number, len: number, cb: ErrCallback): void;
  fstat(fd: number, cb: (err: NodeJS.ErrnoException | null, stats: fs.Stats) => void): void;
  /** preadv2(RWF_NOWAIT), synchronous: bytes read (short at EOF or a cache edge) or -errno. */
  preadvNowait(fd: number, views: readonly Uint8Array[], pos: number): number;
  /** pwritev2(RWF_NOWAIT), synchronous: bytes written or -errno (-EAGAIN: it would block). */
  pwritevNowait(fd: number, views: readonly Uint8Array[], pos: number): number;
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
  preadvNowait,
  pwritevNowait,
};

export type FileAio = 'threads' | 'io_uring';

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

/**
 * What O_DIRECT taught us about an ArrayBuffer: the residue (byteOffset mod align) that works, for
 * one alignment (files on different devices can need different ones: a residue mod 512 says
 * nothing about the residue mod 4096).
 */
interface BufferAlignment {
  align: number;
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
    if (known === undefined || known.align !== align) verdict = 'try';
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
    if (known === undefined || known.align !== align) {
      bufferAlignment.set(v.buffer, (known = { align, good: -1, bad: [] }));
    }
    if (ok) known.good = residue;
    else if (known.good < 0 && !known.bad.includes(residue)) known.bad.push(residue);
  }
}

// ---- per-node state and requests ---------------------------------------------------------------

export class FileState {
  plugged = false;
  closed = false;
  /**
   * True from an fs completion callback until the flush bottom half that it scheduled runs (the
   * check phase of the same loop turn). Requests submitted meanwhile while others are still in
   * flight (typically by the callbacks of the completions being delivered, at depth > 1) are
   * held and then go out together, merged; with nothing else in flight a request goes at once,
   * so a lone request (depth 1) pays no extra latency.
   */
  delivering = false;
  /** Requests started and not finished. */
  inFlight = 0;
  /** A deferred flush is queued in the context's defer_call section. */
  deferred = false;
  /** Requests held while plugged, delivering or in a defer_call section, in submission order. */
  readonly queue: FileRequest[] = [];
  readonly pool: FileRequest[] = [];
  readonly batchPool: FileBatch[] = [];
  readonly bouncePool: Uint8Array[] = [];
  /** The `nowait` option in effect (false with O_DIRECT): what query reports. */
  readonly nowait: boolean;
  /** Inline RWF_NOWAIT attempts (file-nowait.ts), per direction. */
  readonly nowaitRead: NowaitGate;
  readonly nowaitWrite: NowaitGate;
  /** Views of the request being tried inline (reused; emptied after each attempt). */
  readonly nowaitViews: Uint8Array[] = [];
  constructor(
    readonly fd: number,
    readonly filename: string,
    readonly direct: boolean,
    /** Request and memory alignment (1 without O_DIRECT). */
    readonly align: number,
    readonly aio: FileAio,
    /** The node's AioContext (kept up to date by the driver's attachAioContext). */
    public ctx: AioContext,
    /** The `nowait` option (page-cache I/O inline first); ignored with O_DIRECT. */
    nowait = false,
  ) {
    this.nowait = nowait && !direct;
    this.nowaitRead = new NowaitGate(this.nowait);
    this.nowaitWrite = new NowaitGate(this.nowait);
  }

  /** Called first by every fs completion callback: holds new submissions until the flush BH. */
  enterDelivery(): void {
    if (this.delivering) return;
    this.delivering = true;
    this.ctx.scheduleOneshot(this.deliveryDone);
  }

  private readonly deliveryDone = (): void => {
    this.delivering = false;
    if (!this.plugged && !this.deferred && this.queue.length) flushQueue(this);
  };

  /** Queues `req` if submissions are being batched; false when it must go at once. */
  hold(req: FileRequest): boolean {
    if (this.plugged || (this.delivering && this.inFlight > 1)) {
      this.queue.push(req);
    } else if (this.ctx.deferCallDepth > 0) {
      this.queue.push(req);
      if (!this.deferred) {
        this.deferred = true;
        this.ctx.deferCall(flushDeferred, this);
      }
    } else return false;
    if (this.queue.length >= IOV_MAX) flushQueue(this);
    return true;
  }

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

export const NO_VIEW = new Uint8Array(0);

/**
 * Requests merged into one vectored call at most. Merging saves a thread-pool round trip (two
 * context switches) per request, but one call per batch would leave a single call in flight.
 * 4 KiB page-cached reads at depth 32 on 2 cores, CPU µs per request (all threads): cap 16: 3.0
 * (threads) / 4.0 (io_uring); cap 8: 3.9 / 4.7; cap 32: 3.7 / 5.2; no merging: 7.6-9.8.
 */
const MERGE_MAX = 16;

/** Makes `out` exactly `n` long (assigning `length` is a runtime call: only when it changes). */
function setViewCount(out: Uint8Array[], n: number): void {
  if (out.length !== n) out.length = n;
}

/** Views of qiov bytes [offset, offset + bytes) into `out` (no copy; whole views are reused). */
export function collectViews(qiov: IOVector, offset: number, bytes: number, out: Uint8Array[]): void {
  const views = qiov.views;
  let skip = offset;
  let left = bytes;
  let k = 0;
  for (let i = 0; i < views.length && left > 0; i++) {
    const v = views[i];
    if (skip >= v.length) {
      skip -= v.length;
      continue;
    }
    const n = Math.min(v.length - skip, left);
    out[k++] = skip === 0 && n === v.length ? v : v.subarray(skip, skip + n);
    left -= n;
    skip = 0;
  }
  setViewCount(out, k);
}

/** `out` = [view]. */
function oneView(out: Uint8Array[], view: Uint8Array): void {
  out[0] = view;
  setViewCount(out, 1);
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
export class FileRequest {
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
    s.inFlight++;
    if (!s.hold(this)) this.submit();
    return p;
  }

  private useBounce(): void {
    const b = this.s.takeBounce(this.bytes);
    this.bounce = b;
    this.probing = false;
    if (this.write) this.qiov!.copyTo(b, this.qiovOffset, this.bytes);
    oneView(this.views, b.subarray(0, this.bytes));
  }

  submit(): void {
    submitViews(this.s.fd, this.write, this.views, this.offset + this.done, this.onIo);
  }

  /** Restarts from the beginning (after a failed batch or a refused O_DIRECT probe). */
  restart(): void {
    this.done = 0;
    if (this.bounce !== null) {
      oneView(this.views, this.bounce.subarray(0, this.bytes));
    } else collectViews(this.qiov!, this.qiovOffset, this.bytes, this.views);
    this.submit();
  }

  private ioDone(err: NodeJS.ErrnoException | null, n: number): void {
    const s = this.s;
    s.enterDelivery();
    if (err !== null) {
      // EINVAL from O_DIRECT on guest buffers: a probe that failed, or knowledge that no longer
      // holds; either way the buffers are bounced from now on.
      if (s.direct && this.bounce === null && err.code === 'EINVAL') {
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
      oneView(this.views, this.bounce.subarray(this.done, this.bytes));
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
    s.inFlight--;
    this.resolve = null;
    this.qiov = null;
    // Drop the guest buffers without resizing (the next collectViews sets the count).
    const views = this.views;
    for (let i = 0; i < views.length; i++) views[i] = NO_VIEW;
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
    this.s.enterDelivery();
    const members = this.members;
    const ok = err === null && n === this.bytes;
    const align = this.s.align;
    for (const m of members) {
      if (!ok)
        m.restart(); // errors and short transfers are sorted out request by request
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

/** The defer_call flush (defer_call_end of the outermost section). */
function flushDeferred(s: FileState): void {
  s.deferred = false;
  if (!s.plugged && s.queue.length) flushQueue(s);
}

/** Submits what was queued while plugged, merging contiguous runs. */
export function flushQueue(s: FileState): void {
  const q = s.queue;
  let i = 0;
  while (i < q.length) {
    const first = q[i];
    let j = i + 1;
    let niov = first.views.length;
    let end = first.offset + first.bytes;
    while (j < q.length) {
      const r = q[j];
      if (
        r.write !== first.write ||
        r.offset !== end ||
        niov + r.views.length > IOV_MAX ||
        j - i >= MERGE_MAX
      )
        break;
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
