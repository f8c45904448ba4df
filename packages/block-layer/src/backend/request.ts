/**
 * AIO request objects of a BlockBackend (block-backend.c BlkAioEmAIOCB, blk_aio_prwv,
 * blk_aio_complete). They are pooled per BlockBackend and carry their completion callbacks as
 * fields created once per object, so submitting a request allocates no closure.
 *
 * Completion is always deferred: a result known during submission is delivered from a one-shot
 * bottom half of the BlockBackend's AioContext, a later result from its promise continuation.
 * The in-flight reference taken at submission is dropped after the device's callback has run.
 */
import { Errno, trace } from '@vmkit/core';
import type { MaybePromise } from '../constants.js';
import type { BlockBackendBase } from './base.js';
import type { BlockAIOCB, BlockAioOp, BlockCompletionFunc } from './types.js';

/** Free request objects kept per BlockBackend beyond which completed ones are dropped. */
const POOL_MAX = 1024;

export class BlkAioRequest implements BlockAIOCB {
  op: BlockAioOp = 'free';
  private blk: BlockBackendBase | null = null;
  private cb: BlockCompletionFunc<unknown> | null = null;
  private opaque: unknown = undefined;
  private ret = 0;

  private readonly completeBh = (): void => this.complete();
  private readonly onResult = (ret: number): void => {
    this.ret = ret;
    this.complete();
  };
  private readonly onFailure = (error: unknown): void => {
    // The I/O path never rejects; a driver that throws has a bug. Fail the request, keep counters right.
    trace('block', 'aio-exception', { op: this.op, error });
    this.ret = -Errno.EIO;
    this.complete();
  };

  /** @internal */
  init(blk: BlockBackendBase, op: BlockAioOp, cb: BlockCompletionFunc<unknown>, opaque: unknown): void {
    this.blk = blk;
    this.op = op;
    this.cb = cb;
    this.opaque = opaque;
    this.ret = 0;
  }

  /** @internal Hands the request its result (now or later); the callback runs later in any case. */
  submit(result: MaybePromise<number>): void {
    if (typeof result === 'number') {
      this.ret = result;
      this.blk!.aioContext.scheduleOneshot(this.completeBh);
    } else {
      void result.then(this.onResult, this.onFailure);
    }
  }

  private complete(): void {
    const blk = this.blk!;
    const cb = this.cb!;
    const opaque = this.opaque;
    const ret = this.ret;
    this.blk = null;
    this.cb = null;
    this.opaque = undefined;
    this.op = 'free';
    try {
      cb(opaque, ret);
    } finally {
      blk.decInFlight();
      blk.aioPool.release(this);
    }
  }
}

/** The free list of one BlockBackend's request objects. */
export class AioRequestPool {
  private readonly free: BlkAioRequest[] = [];

  /** A request object set up for `op` (blk_aio_get). */
  get<T>(blk: BlockBackendBase, op: BlockAioOp, cb: BlockCompletionFunc<T>, opaque: T): BlkAioRequest {
    const req = this.free.pop() ?? new BlkAioRequest();
    req.init(blk, op, cb as BlockCompletionFunc<unknown>, opaque);
    return req;
  }

  release(req: BlkAioRequest): void {
    if (this.free.length < POOL_MAX) this.free.push(req);
  }

  /** Free objects ready for reuse (for tests). */
  get size(): number {
    return this.free.length;
  }
}
