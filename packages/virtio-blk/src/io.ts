/**
 * The request path of virtio-blk (QEMU hw/block/virtio-blk.c): one pass over a virtqueue
 * (virtio_blk_handle_vq), request parsing and validation in QEMU's order
 * (virtio_blk_handle_request), reads and writes, completion and error actions. The other
 * commands are in commands.ts, merging in multireq.ts, the completion callbacks in
 * completions.ts, the retry of `stop`-ed requests in retry.ts.
 */
import { BlockAcctType, type BlockBackend } from '@vmkit/block-layer';
import type { AioContext } from '@vmkit/core';
import type { VirtQueue } from '@vmkit/virtio';
import type { VirtioBlkConf } from './conf.js';
import {
  BDRV_REQUEST_MAX_SECTORS,
  VIRTIO_BLK_MAX_MERGE_REQS,
  VIRTIO_BLK_OUTHDR_SIZE,
  VIRTIO_BLK_SECTOR_SIZE,
  VirtioBlkStatus,
  VirtioBlkType,
} from './constants.js';
import { CapacityCache } from './capacity.js';
import { handleDiscardWriteZeroes, handleFlush, handleGetId, handleScsi } from './commands.js';
import { rwComplete } from './completions.js';
import { MultiReqBuffer, submitMultireq } from './multireq.js';
import { VirtioBlkRequestPool, type VirtioBlkRequest } from './request.js';
import { StoppedRequests } from './retry.js';

const { IOERR, UNSUPP } = VirtioBlkStatus;
const T_OUT = VirtioBlkType.OUT;
/** Dispatch key: the type without the OUT and BARRIER bits. */
const KIND_MASK = 0x7fff_fffe;
const KIND_RW = 0;
const KIND_SCSI = VirtioBlkType.SCSI_CMD;
const KIND_FLUSH = VirtioBlkType.FLUSH;
const KIND_GET_ID = VirtioBlkType.GET_ID;
const KIND_DISCARD = VirtioBlkType.DISCARD & KIND_MASK;
const KIND_WRITE_ZEROES = VirtioBlkType.WRITE_ZEROES & KIND_MASK;
const TWO_32 = 0x1_0000_0000;

/** What the request path needs from its device. */
export interface VirtioBlkIoOwner {
  /** virtio_error: the device is broken until reset. */
  virtioError(message: string): void;
  /** The context the queues are processed in (for the retry after a `stop` action). */
  readonly ioContext: AioContext;
}

/** Who interrupts the guest for completed requests (the dataplane's notification bottom half). */
export interface VirtioBlkNotifier {
  /** A request was completed on `queue` (its used element filled): the guest may need an interrupt. */
  notify(queue: VirtQueue): void;
  /**
   * Requests were submitted: run the guest-notification bottom half after the completions
   * already queued in the context (it interrupts only for queues with published requests).
   */
  scheduleNotify(): void;
}

export class VirtioBlkIo {
  readonly pool = new VirtioBlkRequestPool(this);
  /** Incremented by reset: completions of older requests are dropped. */
  generation = 0;
  /** Requests kept by a `stop` error action until the machine runs again. */
  readonly stopped = new StoppedRequests(this);
  private readonly mrb = new MultiReqBuffer();
  /** 512-byte sectors per logical block, minus one (sector_mask). */
  private readonly sectorMask: number;
  /** Logical block size minus one (the size is a power of two). */
  private readonly blockMask: number;
  /** The serial as bytes followed by a NUL (GET_ID). */
  readonly serial: Uint8Array;
  /** The disk size for sectRangeOk. */
  private readonly capacity: CapacityCache;

  constructor(
    private readonly owner: VirtioBlkIoOwner,
    readonly blk: BlockBackend,
    readonly conf: VirtioBlkConf,
    /** Held directly: every completion goes through it. */
    private readonly notifier: VirtioBlkNotifier,
  ) {
    this.sectorMask = conf.logicalBlockSize / VIRTIO_BLK_SECTOR_SIZE - 1;
    this.blockMask = conf.logicalBlockSize - 1;
    this.capacity = new CapacityCache(blk);
    const serial = new TextEncoder().encode(conf.serial ?? '');
    this.serial = new Uint8Array(serial.length + 1);
    this.serial.set(serial);
  }

  /** Requests popped and not completed (including those kept for retry). */
  get inFlight(): number {
    return this.pool.live;
  }

  /** The context the queues are processed in now. */
  get context(): AioContext {
    return this.owner.ioContext;
  }

  // ---- one pass over a queue ----------------------------------------------------------------

  /**
   * virtio_blk_handle_vq: pops every available request with guest notifications suppressed,
   * re-enables them and re-checks, then submits what was buffered for merging. Submissions are
   * batched between deferCallBegin/End of `ctx` and the BlockBackend's plug/unplug.
   */
  handleVq(queue: VirtQueue, ctx: AioContext): void {
    const blk = this.blk;
    const mrb = this.mrb;
    const suppress = queue.notificationEnabled;
    ctx.deferCallBegin();
    blk.ioPlug();
    try {
      // One request object is taken ahead; the one left when the queue runs empty goes back.
      let req = this.pool.alloc(queue, this.generation);
      do {
        if (suppress) queue.setNotification(false);
        while (queue.pop(req.elem) !== null) {
          if (this.handleRequest(req, mrb) < 0) {
            queue.detach(req.elem);
            this.pool.release(req);
            req = this.pool.alloc(queue, this.generation);
            break;
          }
          req = this.pool.alloc(queue, this.generation);
        }
        if (suppress) queue.setNotification(true);
      } while (!queue.isEmpty());
      this.pool.unalloc(req);
      if (mrb.numReqs > 0) submitMultireq(blk, mrb, rwComplete);
      // Completions a backend delivers from bottom halves of this context are now queued: the
      // notification bottom half queued behind them interrupts the guest once for all of them
      // in the same batch, instead of one batch later (it is a no-op when none completed).
      if (this.pool.live > 0) this.notifier.scheduleNotify();
    } finally {
      blk.ioUnplug();
      ctx.deferCallEnd();
    }
  }

  // ---- parsing ------------------------------------------------------------------------------

  /**
   * virtio_blk_handle_request: 0 when the request was completed or submitted, -1 after a device
   * error (the caller detaches the element and stops processing the queue).
   */
  handleRequest(req: VirtioBlkRequest, mrb: MultiReqBuffer): number {
    const elem = req.elem;
    // The same chain as the request's last one: its layout was checked and derived then.
    if (!elem.reused || !req.layoutKnown) {
      if (!this.parseLayout(req)) return -1;
    }

    // The header is copied out once (no double fetch); in its own buffer it is read in place.
    let h = req.headerView;
    if (h === null) {
      elem.outSg.copyTo(req.header, 0, VIRTIO_BLK_OUTHDR_SIZE);
      h = req.headerCopy;
    }
    const type = h.getUint32(0, true);
    req.type = type;
    const sector = h.getUint32(8, true) + h.getUint32(12, true) * TWO_32;

    switch (type & KIND_MASK) {
      case KIND_RW:
        return this.handleRw(req, mrb, (type & T_OUT) !== 0, sector);
      case KIND_FLUSH:
        handleFlush(this, req, mrb);
        return 0;
      case KIND_GET_ID:
        handleGetId(this, req);
        return 0;
      case KIND_SCSI:
        handleScsi(this, req);
        return 0;
      case KIND_DISCARD:
      case KIND_WRITE_ZEROES:
        return handleDiscardWriteZeroes(this, req, type);
      default:
        // Zoned commands, SECURE_ERASE/ZONE_APPEND and unknown types.
        this.completeAndFree(req, UNSUPP);
        return 0;
    }
  }

  /**
   * The layout checks of virtio_blk_handle_request (a device error when they fail) and what the
   * request derives from the buffers alone: used length, status byte, header view.
   */
  private parseLayout(req: VirtioBlkRequest): boolean {
    const elem = req.elem;
    req.layoutKnown = false;
    if (req.qiovKind !== 0) {
      req.qiov.reset();
      req.qiovKind = 0;
    }
    if (elem.outNum < 1 || elem.inNum < 1) {
      this.deviceError('virtio-blk missing headers');
      return false;
    }
    const out = elem.outSg;
    if (out.size < VIRTIO_BLK_OUTHDR_SIZE) {
      this.deviceError('virtio-blk request outhdr too short');
      return false;
    }
    const inViews = elem.inSg.views;
    const last = inViews[inViews.length - 1];
    if (last === undefined || last.length < 1) {
      this.deviceError('virtio-blk request inhdr too short');
      return false;
    }
    req.inLen = elem.inSg.size;
    req.statusView = last;
    req.statusIndex = last.length - 1;
    const h = out.views[0];
    req.headerView =
      h.length < VIRTIO_BLK_OUTHDR_SIZE ? null : new DataView(h.buffer, h.byteOffset, VIRTIO_BLK_OUTHDR_SIZE);
    req.layoutKnown = true;
    return true;
  }

  /** virtio_blk_sect_range_ok. */
  sectRangeOk(sector: number, size: number): boolean {
    // An integer shift for the sizes of reads and writes (below 2^31).
    const nbSectors = size < 0x8000_0000 ? size >>> 9 : Math.floor(size / VIRTIO_BLK_SECTOR_SIZE);
    if (nbSectors > BDRV_REQUEST_MAX_SECTORS) return false;
    // The block size is a power of two: masks instead of remainders (a remainder of a sector
    // beyond 31 bits is a floating-point call). size < 2^31 after the check above.
    if (sector < 0x8000_0000 ? (sector & this.sectorMask) !== 0 : sector % (this.sectorMask + 1) !== 0) {
      return false;
    }
    if ((size & this.blockMask) !== 0) return false;
    const total = this.capacity.totalSectors();
    return sector <= total && nbSectors <= total - sector;
  }

  private handleRw(req: VirtioBlkRequest, mrb: MultiReqBuffer, isWrite: boolean, sector: number): number {
    req.sectorNum = sector;
    // The data vector of the same chain in the same direction is already built.
    if (req.qiovKind !== (isWrite ? 2 : 1)) this.buildQiov(req, isWrite);
    const qiov = req.qiov;
    const acctType = isWrite ? BlockAcctType.WRITE : BlockAcctType.READ;
    if (!this.sectRangeOk(sector, qiov.size)) {
      this.completeAndFree(req, IOERR);
      this.blk.acctInvalid(acctType);
      return 0;
    }
    this.blk.acctStart(req.cookie, qiov.size, acctType);
    if (
      mrb.numReqs > 0 &&
      (mrb.numReqs === VIRTIO_BLK_MAX_MERGE_REQS || isWrite !== mrb.isWrite || !this.conf.requestMerging)
    ) {
      submitMultireq(this.blk, mrb, rwComplete);
    }
    mrb.add(req, isWrite);
    return 0;
  }

  /** The data of a read or write: the element's buffers without header and status byte. */
  private buildQiov(req: VirtioBlkRequest, isWrite: boolean): void {
    const elem = req.elem;
    const qiov = req.qiov;
    if (qiov.niov !== 0) qiov.reset();
    if (isWrite) {
      const out = elem.outSg;
      const views = out.views;
      // Usual layout: the header alone in the first buffer; the data is then the other buffers.
      if (views[0].length === VIRTIO_BLK_OUTHDR_SIZE) {
        for (let i = 1; i < views.length; i++) qiov.add(views[i]);
      } else {
        qiov.concat(out, VIRTIO_BLK_OUTHDR_SIZE, out.size - VIRTIO_BLK_OUTHDR_SIZE);
      }
    } else {
      const inViews = elem.inSg.views;
      const n = inViews.length - 1;
      // Usual layout: the status byte alone in the last buffer; the data is then the others.
      if (inViews[n].length === 1) {
        for (let i = 0; i < n; i++) qiov.add(inViews[i]);
      } else {
        qiov.concat(elem.inSg, 0, req.inLen - 1);
      }
    }
    req.qiovKind = isWrite ? 2 : 1;
  }

  // ---- completion ---------------------------------------------------------------------------

  /**
   * virtio_blk_req_complete: status byte, used element, guest notification. The element is
   * published (used.idx) with the others of its batch when the notification bottom half runs,
   * just before the interrupt decision.
   */
  complete(req: VirtioBlkRequest, status: number): void {
    const queue = req.queue;
    if (queue === null || req.generation !== this.generation) return;
    req.setStatus(status);
    // used.idx is written once for the batch, by the guest-notification bottom half.
    queue.fillNext(req.elem, req.inLen);
    this.notifier.notify(queue);
  }

  /** virtio_error: the guest broke the protocol, the device is broken until reset. */
  deviceError(message: string): void {
    this.owner.virtioError(message);
  }

  free(req: VirtioBlkRequest): void {
    this.pool.release(req);
  }

  completeAndFree(req: VirtioBlkRequest, status: number): void {
    this.complete(req, status);
    this.pool.release(req);
  }

  /** A completion for a request popped before the last reset: forget it. */
  isStale(req: VirtioBlkRequest): boolean {
    return req.generation !== this.generation;
  }

  /**
   * virtio_blk_handle_rw_error: `stop` keeps the request for retry, `report` completes it with
   * IOERR (accounted as failed when `acctFailed`), `ignore` lets the caller complete it with OK.
   * BLOCK_IO_ERROR is raised for every action. Returns whether the caller must not complete it.
   */
  handleRwError(req: VirtioBlkRequest, ret: number, isRead: boolean, acctFailed: boolean): boolean {
    const blk = this.blk;
    const action = blk.getErrorAction(isRead, ret);
    if (action === 'stop') {
      this.stopped.keep(req);
    } else if (action === 'report') {
      this.complete(req, IOERR);
      if (acctFailed) blk.acctFailed(req.cookie);
      this.pool.release(req);
    }
    blk.errorAction(action, isRead, ret);
    return action !== 'ignore';
  }

  /**
   * Reset (virtio_blk_reset): requests kept for retry are dropped and later completions of
   * requests popped before now are ignored.
   */
  reset(): void {
    this.generation++;
    this.stopped.dropAll();
  }

  /** virtio_blk_dma_restart_cb: the machine runs again. */
  restart(): void {
    this.stopped.restart();
  }
}
