/**
 * Alignment padding and read-modify-write (block/io.c bdrv_init_padding, bdrv_pad_request,
 * bdrv_padding_rmw_read). An unaligned request is widened to request_alignment; the extra head
 * and tail bytes live in a bounce buffer (the only copy on the path).
 */
import { IOVector } from '@vmkit/core';
import type { BlockDriverState } from '../node.js';
import type { TrackedRequest } from './tracked.js';
import { alignedPreadv } from './read.js';

export class RequestPadding {
  constructor(
    readonly head: number,
    readonly tail: number,
    /** Bounce buffer: `align` bytes, or 2·align when head and tail fall in different blocks. */
    readonly buf: Uint8Array,
    /** Head and tail blocks are read with one request (head + bytes + tail == buf.length). */
    readonly mergeReads: boolean,
    readonly align: number,
  ) {}

  /** Offset of the tail block in `buf`. */
  get tailBufOffset(): number {
    return this.buf.length - this.align;
  }
}

/** bdrv_init_padding: null when the request is aligned. */
export function initPadding(bs: BlockDriverState, offset: number, bytes: number): RequestPadding | null {
  const align = bs.limits.requestAlignment;
  const head = offset % align;
  let tail = (offset + bytes) % align;
  if (tail) tail = align - tail;
  if (!head && !tail) return null;
  const sum = head + bytes + tail;
  const bufLen = sum > align && head && tail ? 2 * align : align;
  return new RequestPadding(head, tail, new Uint8Array(bufLen), sum === bufLen, align);
}

/** bdrv_pad_request: the widened vector (head bounce + caller's bytes + tail bounce). */
export function padQiov(
  pad: RequestPadding,
  qiov: IOVector | null,
  qiovOffset: number,
  bytes: number,
): IOVector {
  const v = new IOVector();
  if (pad.head) v.add(pad.buf.subarray(0, pad.head));
  if (qiov !== null) v.concat(qiov, qiovOffset, bytes);
  else v.add(new Uint8Array(bytes));
  if (pad.tail) v.add(pad.buf.subarray(pad.buf.length - pad.tail));
  return v;
}

/**
 * bdrv_padding_rmw_read: reads the head and/or tail blocks into the bounce buffer (one merged
 * read when possible), raising the RMW debug events. `zeroMiddle` clears the bytes between head
 * and tail (write-zeroes). `req` must already be serialising.
 */
export async function paddingRmwRead(
  bs: BlockDriverState,
  req: TrackedRequest,
  pad: RequestPadding,
  zeroMiddle: boolean,
): Promise<number> {
  const align = pad.align;
  if (pad.head || pad.mergeReads) {
    const bytes = pad.mergeReads ? pad.buf.length : align;
    const local = IOVector.fromBuffer(pad.buf.subarray(0, bytes));
    if (pad.head) {
      const ev = bs.debugEvent('pwritev_rmw_head');
      if (ev) await ev;
    }
    if (pad.mergeReads && pad.tail) {
      const ev = bs.debugEvent('pwritev_rmw_tail');
      if (ev) await ev;
    }
    const ret = await alignedPreadv(bs, req, req.overlapOffset, bytes, align, local, 0, 0);
    if (ret < 0) return ret;
    if (pad.head) {
      const ev = bs.debugEvent('pwritev_rmw_after_head');
      if (ev) await ev;
    }
    if (pad.mergeReads && pad.tail) {
      const ev = bs.debugEvent('pwritev_rmw_after_tail');
      if (ev) await ev;
    }
  }
  if (pad.tail && !pad.mergeReads) {
    const local = IOVector.fromBuffer(pad.buf.subarray(pad.tailBufOffset));
    {
      const ev = bs.debugEvent('pwritev_rmw_tail');
      if (ev) await ev;
    }
    const ret = await alignedPreadv(
      bs,
      req,
      req.overlapOffset + req.overlapBytes - align,
      align,
      align,
      local,
      0,
      0,
    );
    if (ret < 0) return ret;
    {
      const ev = bs.debugEvent('pwritev_rmw_after_tail');
      if (ev) await ev;
    }
  }
  if (zeroMiddle) pad.buf.fill(0, pad.head, pad.buf.length - pad.tail);
  return 0;
}
