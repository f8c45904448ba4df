/**
 * The I/O methods of a BlockBackend: coroutine-style (`co*`, promises of 0 or a negative errno),
 * AIO for devices (`aio*`, completion callbacks with pooled request objects) and the
 * convenience methods for users (exceptions). The request path itself is in io.ts.
 */
import { Errno, type IOVector } from '@vmkit/core';
import { RequestFlags, type RequestFlagsMask } from '../constants.js';
import { ioPlug, ioUnplug } from '../plug.js';
import { bdrvGetLength } from '../io/driver-io.js';
import type { TruncateOptions } from '../io/truncate.js';
import { BlockBackendBase } from './base.js';
import * as convenience from './convenience.js';
import { blkDoFlush, blkDoRequest, blkDoTruncate } from './io.js';
import type { BlockAIOCB, BlockCompletionFunc } from './types.js';

async function settleCo(blk: BlockBackendBase, pending: Promise<number>): Promise<number> {
  try {
    return await pending;
  } finally {
    blk.decInFlight();
  }
}

export abstract class BlockBackendIoApi extends BlockBackendBase {
  // ---- coroutine-style I/O -------------------------------------------------------------------

  private co(r: number | Promise<number>): Promise<number> {
    if (typeof r === 'number') {
      this.decInFlight();
      return Promise.resolve(r);
    }
    return settleCo(this, r);
  }

  /** blk_co_preadv: reads `bytes` at `offset` into `qiov`; 0 or a negative errno. */
  coPreadv(offset: number, bytes: number, qiov: IOVector, flags: RequestFlagsMask = 0): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'read', offset, bytes, qiov, 0, flags));
  }

  /** blk_co_pwritev. */
  coPwritev(offset: number, bytes: number, qiov: IOVector, flags: RequestFlagsMask = 0): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'write', offset, bytes, qiov, 0, flags));
  }

  /** blk_co_pwrite_zeroes (a write without data: throttled by its byte count). */
  coPwriteZeroes(offset: number, bytes: number, flags: RequestFlagsMask = 0): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'write', offset, bytes, null, 0, flags | RequestFlags.ZERO_WRITE));
  }

  /** blk_co_pdiscard. */
  coPdiscard(offset: number, bytes: number): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'discard', offset, bytes, null, 0, 0));
  }

  /** blk_co_flush. */
  coFlush(): Promise<number> {
    this.inFlight++;
    return this.co(blkDoFlush(this));
  }

  /** blk_co_truncate: 0 or a negative errno (-ENOMEDIUM, -EINVAL, -EACCES, -EPERM, -ENOTSUP). */
  async coTruncate(offset: number, opts: TruncateOptions = {}): Promise<number> {
    return blkDoTruncate(this, offset, opts);
  }

  /** blk_co_getlength: the length in bytes or a negative errno. */
  async coGetLength(): Promise<number> {
    const bs = this.availableNode();
    if (bs === null) return -Errno.ENOMEDIUM;
    return bdrvGetLength(bs);
  }

  // ---- AIO (devices) -------------------------------------------------------------------------

  /**
   * blk_aio_preadv: reads `qiov.size` bytes at `offset`. `cb(opaque, ret)` runs later, never
   * inside this call; the in-flight reference is dropped after it.
   */
  aioPreadv<T>(
    offset: number,
    qiov: IOVector,
    flags: RequestFlagsMask,
    cb: BlockCompletionFunc<T>,
    opaque: T,
  ): BlockAIOCB {
    const req = this.aioPool.get(this, 'read', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'read', offset, qiov.size, qiov, 0, flags));
    return req;
  }

  /** blk_aio_pwritev. */
  aioPwritev<T>(
    offset: number,
    qiov: IOVector,
    flags: RequestFlagsMask,
    cb: BlockCompletionFunc<T>,
    opaque: T,
  ): BlockAIOCB {
    const req = this.aioPool.get(this, 'write', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'write', offset, qiov.size, qiov, 0, flags));
    return req;
  }

  /** blk_aio_pwrite_zeroes. */
  aioPwriteZeroes<T>(
    offset: number,
    bytes: number,
    flags: RequestFlagsMask,
    cb: BlockCompletionFunc<T>,
    opaque: T,
  ): BlockAIOCB {
    const req = this.aioPool.get(this, 'write-zeroes', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'write', offset, bytes, null, 0, flags | RequestFlags.ZERO_WRITE));
    return req;
  }

  /** blk_aio_pdiscard. */
  aioPdiscard<T>(offset: number, bytes: number, cb: BlockCompletionFunc<T>, opaque: T): BlockAIOCB {
    const req = this.aioPool.get(this, 'discard', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'discard', offset, bytes, null, 0, 0));
    return req;
  }

  /** blk_aio_flush. */
  aioFlush<T>(cb: BlockCompletionFunc<T>, opaque: T): BlockAIOCB {
    const req = this.aioPool.get(this, 'flush', cb, opaque);
    this.inFlight++;
    req.submit(blkDoFlush(this));
    return req;
  }

  /** blk_abort_aio_request: completes with `ret` from a bottom half, like any other request. */
  abortAioRequest<T>(cb: BlockCompletionFunc<T>, opaque: T, ret: number): BlockAIOCB {
    const req = this.aioPool.get(this, 'abort', cb, opaque);
    this.inFlight++;
    req.submit(ret);
    return req;
  }

  // ---- convenience API (exceptions, accounted like qemu-io's aio_* commands) -----------------

  /** Reads `length` bytes at `offset`; throws BlockError (`read failed: Input/output error`). */
  read(offset: number, length: number): Promise<Uint8Array> {
    return convenience.read(this, offset, length);
  }

  /** Writes `data` at `offset`; throws BlockError (`write failed: ...`). */
  write(offset: number, data: Uint8Array, flags: RequestFlagsMask = 0): Promise<void> {
    return convenience.write(this, offset, data, flags);
  }

  writeZeroes(offset: number, bytes: number, flags: RequestFlagsMask = 0): Promise<void> {
    return convenience.writeZeroes(this, offset, bytes, flags);
  }

  discard(offset: number, bytes: number): Promise<void> {
    return convenience.discard(this, offset, bytes);
  }

  flush(): Promise<void> {
    return convenience.flush(this);
  }

  truncate(size: number, opts: TruncateOptions = {}): Promise<void> {
    return convenience.truncate(this, size, opts);
  }

  /** The length in bytes; throws BlockError (`getlength failed: No medium found`). */
  getLength(): Promise<number> {
    return convenience.getLength(this);
  }

  // ---- plug ----------------------------------------------------------------------------------

  /** blk_io_plug: batches submissions to the root node until ioUnplug. */
  ioPlug(): void {
    const bs = this.bs;
    if (bs !== null) ioPlug(bs);
  }

  ioUnplug(): void {
    const bs = this.bs;
    if (bs !== null) ioUnplug(bs);
  }
}
