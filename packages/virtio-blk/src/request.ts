/**
 * One virtio-blk request (QEMU VirtIOBlockReq) and the pool that recycles them: every field a
 * request needs on its way through the device is preallocated here, so the hot path allocates
 * nothing per request (the element's IOVectors keep their arrays between uses).
 */
import { IOVector } from '@vmkit/core';
import { BlockAcctCookie } from '@vmkit/block-layer';
import { VirtQueueElement, type VirtQueue } from '@vmkit/virtio';
import type { VirtioBlkIo } from './io.js';

export class VirtioBlkRequest {
  /** The popped chain (its buffers are views of guest memory). */
  readonly elem = new VirtQueueElement();
  /** Data of a read or write: the element's buffers without header and status byte. */
  readonly qiov = new IOVector();
  /** The concatenated vector when this request heads a merged run (submit_requests). */
  readonly mergedQiov = new IOVector();
  /** Accounting cookie (block_acct_start/done). */
  readonly cookie = new BlockAcctCookie();
  /** Scratch for headers split across descriptors. */
  readonly header = new Uint8Array(16);
  /** `header` as a DataView. */
  readonly headerCopy = new DataView(this.header.buffer);
  /** The device's request path (completion callbacks find it here). */
  io: VirtioBlkIo | null = null;
  /** The queue the element came from. */
  queue: VirtQueue | null = null;
  /** `virtio_blk_outhdr.type` as read (BARRIER bit included). */
  type = 0;
  /** First 512-byte sector. */
  sectorNum = 0;
  /** Bytes the device-writable buffers hold (the used length QEMU reports). */
  inLen = 0;
  /** The buffer view holding the status byte and its index. */
  statusView: Uint8Array | null = null;
  statusIndex = 0;
  /**
   * `inLen`, the status byte's place and `headerView` were derived from the element's current
   * buffers. They stay valid, as does `qiov` (see `qiovKind`), while pops into the element keep
   * the same chain (VirtQueueElement.reused): the request is then parsed without re-checking its
   * layout.
   */
  layoutKnown = false;
  /** The header in place in the first device-readable buffer, or null when split (copied). */
  headerView: DataView | null = null;
  /** What `qiov` holds: nothing (0), the data of a read (1), of a write (2). */
  qiovKind = 0;
  /** Next request of the same merged backend request (mr_next). */
  mrNext: VirtioBlkRequest | null = null;
  /** Next request kept for retry (the `rq` list). */
  next: VirtioBlkRequest | null = null;
  /** The device's reset generation when popped; a request of an older one is dropped. */
  generation = 0;
  /** In use (popped and not freed); guards against freeing twice. */
  live = false;

  /** Writes the status byte (the last byte of the last device-writable buffer). */
  setStatus(status: number): void {
    const v = this.statusView;
    if (v !== null) v[this.statusIndex] = status;
  }
}

/** Free requests beyond this many are left to the garbage collector (a power of two). */
const POOL_MAX = 1024;

/**
 * Free requests (virtio_blk_alloc_request / virtio_blk_free_request), handed out first in, first
 * out: a guest that offers its chains again in the order they completed gets, for each chain, the
 * request (and element) that held it last time, whose parsed layout then still holds (see
 * VirtioBlkRequest.layoutKnown).
 */
export class VirtioBlkRequestPool {
  /** Ring of free requests: `count` of them from `first`. */
  private readonly ring: (VirtioBlkRequest | null)[] = new Array<VirtioBlkRequest | null>(POOL_MAX).fill(
    null,
  );
  private first = 0;
  private count = 0;
  private liveCount = 0;
  /**
   * A request given back by `unalloc` while the ring was empty: kept out of the ring so that the
   * requests freed next stay first in line (the ring order is the guest's completion order).
   */
  private spare: VirtioBlkRequest | null = null;

  constructor(private readonly io: VirtioBlkIo) {}

  /** Requests allocated and not freed yet. */
  get live(): number {
    return this.liveCount;
  }

  alloc(queue: VirtQueue, generation: number): VirtioBlkRequest {
    let req: VirtioBlkRequest;
    if (this.count > 0) {
      const i = this.first;
      req = this.ring[i]!;
      this.ring[i] = null;
      this.first = (i + 1) & (POOL_MAX - 1);
      this.count--;
    } else if (this.spare !== null) {
      req = this.spare;
      this.spare = null;
    } else {
      req = new VirtioBlkRequest();
    }
    req.io = this.io;
    req.queue = queue;
    req.generation = generation;
    req.live = true;
    this.liveCount++;
    return req;
  }

  /** Takes back a request `alloc` just gave and that was not used: the next `alloc` returns it. */
  unalloc(req: VirtioBlkRequest): void {
    if (!req.live) return;
    req.live = false;
    this.liveCount--;
    req.queue = null;
    if (this.count === 0) {
      this.spare = req;
      return;
    }
    if (this.count === POOL_MAX) return;
    this.first = (this.first - 1) & (POOL_MAX - 1);
    this.ring[this.first] = req;
    this.count++;
  }

  release(req: VirtioBlkRequest): void {
    if (!req.live) return;
    req.live = false;
    this.liveCount--;
    // The element, qiov and the parsed layout are kept for the next request popped into it
    // (see layoutKnown). IOVector.reset() truncates its array, which is not free: only when
    // something is in it.
    if (req.mergedQiov.niov !== 0) req.mergedQiov.reset();
    req.cookie.reset();
    req.queue = null;
    req.mrNext = null;
    req.next = null;
    if (this.count === POOL_MAX) return;
    this.ring[(this.first + this.count) & (POOL_MAX - 1)] = req;
    this.count++;
  }
}
