/**
 * Requests kept by a `stop` error action (QEMU's `s->rq` list) and their retry when the machine
 * runs again (virtio_blk_dma_restart_cb / virtio_blk_dma_restart_bh).
 */
import { trace } from '@vmkit/core';
import { rwComplete } from './completions.js';
import type { VirtioBlkIo } from './io.js';
import { MultiReqBuffer, submitMultireq } from './multireq.js';
import type { VirtioBlkRequest } from './request.js';

export class StoppedRequests {
  /** Kept requests, most recent first (s->rq). */
  private rq: VirtioBlkRequest | null = null;
  /** Requests handed to the retry bottom half, oldest first. */
  private restartList: VirtioBlkRequest | null = null;
  private readonly mrb = new MultiReqBuffer();

  constructor(private readonly io: VirtioBlkIo) {}

  /** Whether requests wait for a retry. */
  get pending(): boolean {
    return this.rq !== null || this.restartList !== null;
  }

  /** Keeps `req` for retry; its merge link is cut, the next request is re-parsed on its own. */
  keep(req: VirtioBlkRequest): void {
    req.mrNext = null;
    req.next = this.rq;
    this.rq = req;
  }

  /**
   * The machine runs again: the kept requests are re-parsed from their elements, oldest first,
   * in a bottom half of the queue's context. The BlockBackend's in-flight counter is held
   * meanwhile so a drain waits for them.
   */
  restart(): void {
    let rq = this.rq;
    if (rq === null) return;
    this.rq = null;
    // Reverse the most-recent-first list; append to a pending retry that has not run yet.
    let ordered: VirtioBlkRequest | null = null;
    while (rq !== null) {
      const next: VirtioBlkRequest | null = rq.next;
      rq.next = ordered;
      ordered = rq;
      rq = next;
    }
    if (this.restartList !== null) {
      let tail = this.restartList;
      while (tail.next !== null) tail = tail.next;
      tail.next = ordered;
      return;
    }
    this.restartList = ordered;
    this.io.blk.incInFlight();
    this.io.context.scheduleOneshot(this.restartBh);
  }

  private readonly restartBh = (): void => {
    const io = this.io;
    let req = this.restartList;
    this.restartList = null;
    const mrb = this.mrb;
    try {
      while (req !== null) {
        const next: VirtioBlkRequest | null = req.next;
        req.next = null;
        if (io.isStale(req)) {
          io.free(req);
        } else if (io.handleRequest(req, mrb) < 0) {
          // The device broke: drop this request and the remaining ones.
          req.next = next;
          this.dropList(req);
          break;
        }
        req = next;
      }
      if (mrb.numReqs > 0) submitMultireq(io.blk, mrb, rwComplete);
    } finally {
      io.blk.decInFlight();
    }
  };

  /**
   * Reset: every kept request is dropped (a retry bottom half already scheduled finds an empty
   * list and only drops its in-flight hold).
   */
  dropAll(): void {
    const dropped = this.dropList(this.rq) + this.dropList(this.restartList);
    this.rq = null;
    this.restartList = null;
    if (dropped > 0) trace('virtio-blk', 'reset-dropped', { dropped });
  }

  private dropList(head: VirtioBlkRequest | null): number {
    let n = 0;
    for (let r = head; r !== null;) {
      const next: VirtioBlkRequest | null = r.next;
      r.queue?.detach(r.elem);
      this.io.free(r);
      n++;
      r = next;
    }
    return n;
  }
}
