/**
 * The I/O of one parsed request (QEMU xen_block_do_aio, xen_block_complete_aio,
 * xen_block_copy_request, xen_block_split_discard). Data moves only by grant copy between the
 * guest's pages and the request's bounce buffer, which the block layer reads into or writes
 * from; the completion function is shared by all requests (the request is the opaque).
 */
import { trace } from '@vmkit/core';
import { BlockAcctType } from '@vmkit/block-layer';
import type { GrantCopyDirection } from '@vmkit/xen-bus';
import { BlkifOp, BlkifStatus, BLKIF_DISCARD_CHUNK_BYTES } from '../ring/index.js';
import type { XenBlockDataPlane } from './dataplane.js';
import { xenBlockAioComplete, type XenBlockRequest } from './request.js';

/**
 * xen_block_copy_request: grant copy between the segments' pages and the bounce buffer, the
 * segments laid end to end in it. Returns false (and counts an error) when any segment fails:
 * an ungranted or revoked ref, a ref of another domain, or a read-only page as a read's
 * destination.
 */
function copyRequest(dp: XenBlockDataPlane, r: XenBlockRequest, direction: GrantCopyDirection): boolean {
  const p = r.parsed;
  const n = p.segmentCount;
  if (n === 0) return true;
  const segs = r.segments;
  const reqSegs = r.req.segments;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const seg = segs[i];
    const length = p.segmentLength[i];
    seg.ref = reqSegs[i].gref;
    seg.offset = p.segmentOffset[i];
    seg.length = length;
    seg.local = r.local(at, length);
    at += length;
  }
  if (dp.host.copyGrantRefs(direction, segs, n) !== 0) {
    r.aioErrors++;
    return false;
  }
  return true;
}

/**
 * xen_block_split_discard: chunks of at most BDRV_REQUEST_MAX_BYTES. The range was checked by
 * the parse (no wrap, below INT64_MAX); chunks are issued only while they lie on the disk. A
 * chunk reaching past the end would fail the block layer's range check, and so would every
 * later one, so it counts as one error instead of being issued: a guest cannot make us issue
 * billions of doomed chunks.
 */
function splitDiscard(dp: XenBlockDataPlane, r: XenBlockRequest): void {
  const length = dp.disk.length;
  const p = r.parsed;
  if (p.discardOffset > BigInt(length)) {
    r.aioErrors++;
    return;
  }
  let offset = Number(p.discardOffset);
  let remaining = p.discardBytes > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(p.discardBytes);
  do {
    const chunk = remaining > BLKIF_DISCARD_CHUNK_BYTES ? BLKIF_DISCARD_CHUNK_BYTES : remaining;
    if (chunk > length - offset) {
      r.aioErrors++;
      return;
    }
    r.aioInflight++;
    dp.blk.aioPdiscard(offset, chunk, xenBlockAioComplete, r);
    remaining -= chunk;
    offset += chunk;
  } while (remaining > 0);
}

/**
 * block_acct_start with the pass's clock reading: every request taken in one pass starts at the
 * same instant (one clock read per pass instead of one per request; the cookie is the public
 * BlockAcctCookie that BlockAcctStats.start fills the same way).
 */
function acctStart(dp: XenBlockDataPlane, r: XenBlockRequest, bytes: number, type: BlockAcctType): void {
  const cookie = r.acct;
  cookie.bytes = bytes;
  cookie.startTimeNs = dp.acctNow();
  cookie.type = type;
}

/** xen_block_do_aio: submits a parsed request (the flush first when presync is set). */
export function doAio(dp: XenBlockDataPlane, r: XenBlockRequest): void {
  const blk = dp.blk;
  const p = r.parsed;
  const op = r.req.operation;
  // The write data is copied in once, before a FLUSH_DISKCACHE's presync flush (QEMU copies it
  // again after the flush; the bytes written are the same for any guest that waits for its
  // response before reusing the pages).
  if (p.size > 0 && op !== BlkifOp.READ && !r.copiedIn) {
    r.copiedIn = true;
    if (!copyRequest(dp, r, 'from-guest')) {
      r.status = BlkifStatus.ERROR;
      dp.completeRequest(r);
      return;
    }
  }

  // Held until everything is issued, so no completion can finish the request meanwhile.
  r.aioInflight++;
  if (r.presync) {
    blk.aioFlush(xenBlockAioComplete, r);
    return;
  }

  switch (p.action) {
    case 'read':
      acctStart(dp, r, p.size, BlockAcctType.READ);
      r.aioInflight++;
      blk.aioPreadv(p.start, r.vector(p.size), 0, xenBlockAioComplete, r);
      break;
    case 'write':
    case 'flush':
      if (p.size === 0) break;
      acctStart(dp, r, p.size, op === BlkifOp.WRITE ? BlockAcctType.WRITE : BlockAcctType.FLUSH);
      r.aioInflight++;
      blk.aioPwritev(p.start, r.vector(p.size), 0, xenBlockAioComplete, r);
      break;
    case 'discard':
      splitDiscard(dp, r);
      break;
  }
  completeAio(dp, r, 0);
}

/** xen_block_complete_aio: one AIO (or the submitter's hold) finished with `ret`. */
export function completeAio(dp: XenBlockDataPlane, r: XenBlockRequest, ret: number): void {
  if (ret !== 0) {
    trace('xen-block', 'io-error', { id: dp.host.id, operation: r.req.operation, ret });
    r.aioErrors++;
  }
  r.aioInflight--;
  if (r.presync) {
    r.presync = false;
    doAio(dp, r);
    return;
  }
  if (r.aioInflight > 0) return;

  const op = r.req.operation;
  if (op === BlkifOp.READ && ret === 0) copyRequest(dp, r, 'to-guest');
  r.status = r.aioErrors !== 0 ? BlkifStatus.ERROR : BlkifStatus.OKAY;

  // Reads, and writes/flushes that carried data, are accounted; discards never are.
  const accounted =
    op === BlkifOp.READ ||
    ((op === BlkifOp.WRITE || op === BlkifOp.FLUSH_DISKCACHE) && r.req.nrSegments !== 0);
  if (accounted) {
    if (r.status === BlkifStatus.OKAY) dp.blk.acctDone(r.acct);
    else dp.blk.acctFailed(r.acct);
  }

  dp.completeRequest(r);
  if (dp.moreWork !== 0) dp.scheduleMoreWork();
}
