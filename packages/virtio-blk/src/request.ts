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

/** Free requests beyond this many are left to the garbage collector. */
const POOL_MAX = 1024;

/** Free list of requests (virtio_blk_alloc_request / virtio_blk_free_request). */
export class VirtioBlkRequestPool {
  private readonly free: VirtioBlkRequest[] = [];
  private liveCount = 0;

  constructor(private readonly io: VirtioBlkIo) {}

  /** Requests allocated and not freed yet. */
  get live(): number {
    return this.liveCount;
  }

  alloc(queue: VirtQueue, generation: number): VirtioBlkRequest {
    const req = this.free.pop() ?? new VirtioBlkRequest();
    req.io = this.io;
    req.queue = queue;
    req.generation = generation;
    req.live = true;
    this.liveCount++;
    return req;
  }

  release(req: VirtioBlkRequest): void {
    if (!req.live) return;
    req.live = false;
    this.liveCount--;
    // IOVector.reset() truncates its array, which is not free: only when something is in it.
    if (req.qiov.niov !== 0) req.qiov.reset();
    if (req.mergedQiov.niov !== 0) req.mergedQiov.reset();
    req.cookie.reset();
    req.queue = null;
    req.statusView = null;
    req.mrNext = null;
    req.next = null;
    if (this.free.length < POOL_MAX) this.free.push(req);
  }
}
