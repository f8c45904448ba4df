/**
 * One pooled request of the xen-block dataplane (QEMU's XenBlockRequest): the private copy of
 * the ring slot, its parse, a bounce buffer of 11 pages that the grant copy fills or drains,
 * preallocated I/O vectors and grant-copy segments, and the accounting cookie. Nothing here is
 * allocated per request once the struct exists; structs are created lazily up to the ring size.
 */
import { IOVector } from '@vmkit/core';
import { BlockAcctCookie } from '@vmkit/block-layer';
import type { XenGrantCopySegment } from '@vmkit/xen-bus';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_PAGE_SIZE,
  BLKIF_SECTOR_SIZE,
  BlkifParsedRequest,
  BlkifRequest,
} from '../ring/index.js';

/** Bytes of one request's bounce buffer: 11 full pages. */
export const XEN_BLOCK_BUFFER_SIZE = BLKIF_MAX_SEGMENTS_PER_REQUEST * BLKIF_PAGE_SIZE;

/** Buffer positions are multiples of 512: one view per position, made once. */
const POSITIONS = XEN_BLOCK_BUFFER_SIZE / BLKIF_SECTOR_SIZE;
const SECTORS_PER_PAGE = BLKIF_PAGE_SIZE / BLKIF_SECTOR_SIZE;

/** What a request's AIO completion calls back into (the dataplane). */
export interface XenBlockRequestOwner {
  aioComplete(request: XenBlockRequest, ret: number): void;
}

/** The completion function shared by every request: no closure per request (QEMU xen_block_complete_aio). */
export function xenBlockAioComplete(request: XenBlockRequest, ret: number): void {
  request.owner.aioComplete(request, ret);
}

export class XenBlockRequest {
  /** The private copy of the ring slot (RING_COPY_REQUEST). */
  readonly req = new BlkifRequest();
  readonly parsed = new BlkifParsedRequest();
  /** BLKIF_RSP_* to answer with. */
  status = 0;
  /** FLUSH_DISKCACHE: the flush is still to come before the write (QEMU `presync`). */
  presync = false;
  /** The write data was already copied in from the guest (done once, before the presync flush). */
  copiedIn = false;
  /** AIO calls in flight, plus one held by the submitter while it issues them. */
  aioInflight = 0;
  aioErrors = 0;
  readonly acct = new BlockAcctCookie();

  /** The bounce buffer: block I/O reads into it / writes from it, grant copy fills / drains it. */
  readonly buf = new Uint8Array(XEN_BLOCK_BUFFER_SIZE);
  readonly segments: XenGrantCopySegment[];
  /**
   * Exact views `buf[at, at + length)` by (at / 512) * 8 + (length / 512 - 1): a segment's local
   * bytes, made on first use, so grant copy never has to slice the buffer per request.
   */
  private readonly views: Uint8Array[] = new Array<Uint8Array>(POSITIONS * SECTORS_PER_PAGE);
  /** A one-view vector over `buf[0, k * 512)`, per size k (made on first use). */
  private readonly vectors: IOVector[] = new Array<IOVector>(POSITIONS + 1);

  constructor(
    /** The dataplane the request belongs to (its AIO completions go there). */
    readonly owner: XenBlockRequestOwner,
    frontendId: number,
  ) {
    const segs: XenGrantCopySegment[] = [];
    for (let i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
      segs.push({ domid: frontendId, ref: 0, offset: 0, length: 0, local: this.buf, status: 0 });
    }
    this.segments = segs;
  }

  /** The view `buf[at, at + length)`: `at` a multiple of 512, `length` 512..4096 in steps of 512. */
  local(at: number, length: number): Uint8Array {
    const k = (at / BLKIF_SECTOR_SIZE) * SECTORS_PER_PAGE + length / BLKIF_SECTOR_SIZE - 1;
    return (this.views[k] ??= this.buf.subarray(at, at + length));
  }

  /** A vector over the first `bytes` of the buffer (a multiple of 512, at most 11 pages). */
  vector(bytes: number): IOVector {
    const k = bytes / BLKIF_SECTOR_SIZE;
    return (this.vectors[k] ??= IOVector.fromBuffer(this.buf.subarray(0, bytes)));
  }

  /** reset_request: ready for the next use (the buffer keeps its stale bytes, as in QEMU). */
  reset(): void {
    this.status = 0;
    this.presync = false;
    this.copiedIn = false;
    this.aioInflight = 0;
    this.aioErrors = 0;
    this.acct.reset();
  }
}
