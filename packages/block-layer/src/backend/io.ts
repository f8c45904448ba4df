/**
 * The request path of a BlockBackend (block-backend.c blk_co_do_preadv_part,
 * blk_co_do_pwritev_part, blk_co_do_pdiscard, blk_co_do_flush, blk_co_truncate).
 *
 * The caller holds a reference in the BlockBackend's in-flight counter (coPreadv, aioPreadv, ...).
 * In order: park while the BlockBackend is quiesced (B4), check the byte request, count the
 * request on the root node, pass the throttle (reads and writes only), then go down the graph.
 * Without parking, throttling or an asynchronous driver, everything is synchronous: the result
 * is a plain number and no promise is made.
 */
import type { IOVector } from '@vmkit/core';
import { Errno } from '@vmkit/core';
import { RequestFlags, type MaybePromise, type RequestFlagsMask } from '../constants.js';
import type { BdrvChild } from '../child.js';
import type { BlockDriverState } from '../node.js';
import { bdrvPreadv } from '../io/read.js';
import { bdrvPwritev } from '../io/write.js';
import { bdrvPdiscard } from '../io/discard.js';
import { bdrvFlush } from '../io/flush.js';
import { bdrvTruncate, type TruncateOptions } from '../io/truncate.js';
import { ThrottleDirection } from '../throttle/config.js';
import { checkByteRequest } from './checks.js';
import type { BlockBackendBase } from './base.js';

/** The operations that take the byte-request checks. */
export type BlkRwKind = 'read' | 'write' | 'discard';

/**
 * B4 blk_wait_while_drained: a request arriving while the BlockBackend is quiesced gives up its
 * in-flight reference (the drain must not wait for it) and waits for the outermost drained_end,
 * which takes the reference back on its behalf before waking it.
 */
function waitWhileDrained(blk: BlockBackendBase): Promise<void> {
  blk.decInFlight();
  return new Promise<void>((resolve) => blk.queuedRequests.push(resolve));
}

function mustPark(blk: BlockBackendBase): boolean {
  return blk.quiesceCounter > 0 && !blk.disableRequestQueuing;
}

/** Free NodeRelease objects kept for reuse. */
const RELEASE_POOL_MAX = 4096;
const releasePool: NodeRelease[] = [];

/**
 * Drops the root node's in-flight reference when an asynchronous request settles. Pooled, with
 * its callbacks made once: one `then` per request, no closure, no async frame.
 */
class NodeRelease {
  private bs: BlockDriverState | null = null;
  readonly onResult = (ret: number): number => {
    this.release();
    return ret;
  };
  readonly onFailure = (error: unknown): never => {
    this.release();
    // Passed on as it came: the I/O path never rejects, a driver that throws has a bug.
    throw error;
  };

  static after(bs: BlockDriverState, pending: Promise<number>): Promise<number> {
    const r = releasePool.pop() ?? new NodeRelease();
    r.bs = bs;
    return pending.then(r.onResult, r.onFailure);
  }

  private release(): void {
    const bs = this.bs!;
    this.bs = null;
    bs.decInFlight();
    if (releasePool.length < RELEASE_POOL_MAX) releasePool.push(this);
  }
}

async function throttledRw(
  root: BdrvChild,
  bs: BlockDriverState,
  wait: Promise<void>,
  write: boolean,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  try {
    await wait;
    return await (write
      ? bdrvPwritev(root, offset, bytes, qiov, qiovOffset, flags)
      : bdrvPreadv(root, offset, bytes, qiov!, qiovOffset, flags));
  } finally {
    bs.decInFlight();
  }
}

/** After the checks: node in-flight, throttle, then the graph (bdrv_co_preadv_part / pwritev_part). */
function rwChecked(
  blk: BlockBackendBase,
  write: boolean,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): MaybePromise<number> {
  const root = blk.root!;
  const bs = root.bs!;
  bs.incInFlight();
  if (write && !blk.enableWriteCache) flags |= RequestFlags.FUA;
  const tgm = blk.throttle;
  if (tgm.group !== null) {
    const wait = tgm.intercept(bytes, write ? ThrottleDirection.write : ThrottleDirection.read);
    if (wait !== undefined) return throttledRw(root, bs, wait, write, offset, bytes, qiov, qiovOffset, flags);
  }
  const r = write
    ? bdrvPwritev(root, offset, bytes, qiov, qiovOffset, flags)
    : bdrvPreadv(root, offset, bytes, qiov!, qiovOffset, flags);
  if (typeof r === 'number') {
    bs.decInFlight();
    return r;
  }
  return NodeRelease.after(bs, r);
}

function dispatch(
  blk: BlockBackendBase,
  kind: BlkRwKind,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): MaybePromise<number> {
  if (kind === 'discard') return bdrvPdiscard(blk.root!, offset, bytes);
  return rwChecked(blk, kind === 'write', offset, bytes, qiov, qiovOffset, flags);
}

async function afterCheck(
  blk: BlockBackendBase,
  check: Promise<number>,
  kind: BlkRwKind,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  const ret = await check;
  if (ret < 0) return ret;
  // The length was re-read asynchronously: the medium may have gone meanwhile.
  if (blk.availableNode() === null) return -Errno.ENOMEDIUM;
  return dispatch(blk, kind, offset, bytes, qiov, qiovOffset, flags);
}

async function parkedRequest(
  blk: BlockBackendBase,
  kind: BlkRwKind,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): Promise<number> {
  await waitWhileDrained(blk);
  // Woken by the outermost drained_end; if another section began since, park again.
  return blkDoRequest(blk, kind, offset, bytes, qiov, qiovOffset, flags);
}

/**
 * blk_co_do_preadv_part / blk_co_do_pwritev_part / blk_co_do_pdiscard. `qiov` is null for
 * write-zeroes (flags carry ZERO_WRITE) and discard. Returns 0 or a negative errno.
 */
export function blkDoRequest(
  blk: BlockBackendBase,
  kind: BlkRwKind,
  offset: number,
  bytes: number,
  qiov: IOVector | null,
  qiovOffset: number,
  flags: RequestFlagsMask,
): MaybePromise<number> {
  if (mustPark(blk)) return parkedRequest(blk, kind, offset, bytes, qiov, qiovOffset, flags);
  const check = checkByteRequest(blk, offset, bytes);
  if (typeof check !== 'number') return afterCheck(blk, check, kind, offset, bytes, qiov, qiovOffset, flags);
  if (check < 0) return check;
  return dispatch(blk, kind, offset, bytes, qiov, qiovOffset, flags);
}

async function parkedFlush(blk: BlockBackendBase): Promise<number> {
  await waitWhileDrained(blk);
  return blkDoFlush(blk);
}

/** blk_co_do_flush: parks like the others, then only checks for a medium. */
export function blkDoFlush(blk: BlockBackendBase): MaybePromise<number> {
  if (mustPark(blk)) return parkedFlush(blk);
  const bs = blk.availableNode();
  if (bs === null) return -Errno.ENOMEDIUM;
  return bdrvFlush(bs);
}

/** blk_co_truncate: not parked, not throttled; needs a medium (-ENOMEDIUM) and RESIZE permission. */
export function blkDoTruncate(
  blk: BlockBackendBase,
  offset: number,
  opts: TruncateOptions,
): MaybePromise<number> {
  if (blk.availableNode() === null) return -Errno.ENOMEDIUM;
  return bdrvTruncate(blk.root!, offset, opts);
}
