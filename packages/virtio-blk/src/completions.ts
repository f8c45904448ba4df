/**
 * Completion callbacks of virtio-blk requests (QEMU virtio_blk_rw_complete,
 * virtio_blk_flush_complete, virtio_blk_discard_write_zeroes_complete). Module functions shared
 * by all requests, which come back as `opaque`: no closure is created per request.
 */
import { VirtioBlkStatus, VirtioBlkType } from './constants.js';
import type { VirtioBlkIo } from './io.js';
import type { VirtioBlkRequest } from './request.js';

const { OK } = VirtioBlkStatus;
const T_OUT = VirtioBlkType.OUT;

/** virtio_blk_rw_complete: every request of the run completes on its own. */
export function rwComplete(first: VirtioBlkRequest, ret: number): void {
  const io = first.io!;
  if (ret < 0) {
    rwFailed(io, first, ret);
    return;
  }
  const blk = io.blk;
  let next: VirtioBlkRequest | null = first;
  while (next !== null) {
    const req: VirtioBlkRequest = next;
    next = req.mrNext;
    req.mrNext = null;
    // A request popped before the last reset is only freed.
    if (!io.isStale(req)) {
      io.complete(req, OK);
      blk.acctDone(req.cookie);
    }
    io.free(req);
  }
}

/** virtio_blk_rw_complete with an error: the error action decides per request of the run. */
function rwFailed(io: VirtioBlkIo, first: VirtioBlkRequest, ret: number): void {
  let next: VirtioBlkRequest | null = first;
  while (next !== null) {
    const req: VirtioBlkRequest = next;
    next = req.mrNext;
    req.mrNext = null;
    if (io.isStale(req)) {
      io.free(req);
      continue;
    }
    if (io.handleRwError(req, ret, (req.type & T_OUT) === 0, true)) continue;
    io.complete(req, OK);
    io.blk.acctDone(req.cookie);
    io.free(req);
  }
}

/** virtio_blk_flush_complete: failures follow werror. */
export function flushComplete(req: VirtioBlkRequest, ret: number): void {
  const io = req.io!;
  if (io.isStale(req)) {
    io.free(req);
    return;
  }
  if (ret < 0 && io.handleRwError(req, ret, false, true)) return;
  io.complete(req, OK);
  io.blk.acctDone(req.cookie);
  io.free(req);
}

/** virtio_blk_discard_write_zeroes_complete: discards are never accounted. */
export function dwzComplete(req: VirtioBlkRequest, ret: number): void {
  const io = req.io!;
  if (io.isStale(req)) {
    io.free(req);
    return;
  }
  const isWriteZeroes = (req.type & ~VirtioBlkType.BARRIER) === VirtioBlkType.WRITE_ZEROES;
  if (ret < 0 && io.handleRwError(req, ret, false, isWriteZeroes)) return;
  io.complete(req, OK);
  if (isWriteZeroes) io.blk.acctDone(req.cookie);
  io.free(req);
}
