/**
 * The backend (consumer) half of a blkif ring: ring.h's BACK_RING macros over the byte view of
 * the mapped ring area (reference/abi.md §2). The area is the frontend's 1, 2, 4, 8 or 16
 * granted pages laid out contiguously, so a slot may cross a 4 KiB page boundary; slots are
 * addressed in the whole area and never beyond `64 + size * stride`.
 *
 * Every request is copied out of shared memory into a private scratch slot before any field is
 * looked at (RING_COPY_REQUEST, the XSA-155 double-fetch defence: each shared byte is read at
 * most once), then decoded from that copy into the caller's preallocated BlkifRequest.
 *
 * The canonical loop (QEMU xen_block_handle_requests):
 *   ring.beginPass();
 *   while (ring.hasRequest()) { ring.takeRequest(req); ...handle, later ring.respond(req, status) }
 *   if (ring.pushResponsesAndCheckNotify()) port.notify();
 *   if (ring.checkForMoreRequests()) ...schedule another pass
 */
import {
  BLKIF_MAX_RING_PAGE_ORDER,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_PAGE_SIZE,
  BlkifOp,
} from './constants.js';
import {
  BLKIF_RESPONSE_ID,
  BLKIF_RESPONSE_OPERATION,
  BLKIF_RESPONSE_STATUS,
  blkifLayout,
  constRingSize,
  SRING_HEADER_SIZE,
  type BlkifLayout,
  type BlkifProtocol,
} from './layout.js';
import { decodeBlkifWords, type BlkifRequest } from './request.js';
import { SharedRingIndexes } from './shared-ring.js';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Words of one `blkif_request_segment`. */
const SEGMENT_WORDS = 2;

export interface BackRingOptions {
  /**
   * Where the private indexes start: a u32 (default 0: BACK_RING_INIT, what QEMU does on connect)
   * or 'attach' to resume from the shared `rsp_prod` (BACK_RING_ATTACH, Linux on reconnect).
   */
  readonly start?: number | 'attach';
}

/** Number of pages of a ring area, or a RangeError when it is not 2^order pages with order 0..4. */
export function ringPagesOf(bytes: Uint8Array): number {
  const pages = bytes.length / BLKIF_PAGE_SIZE;
  if (
    !Number.isInteger(pages) ||
    pages < 1 ||
    pages > 1 << BLKIF_MAX_RING_PAGE_ORDER ||
    (pages & (pages - 1)) !== 0
  ) {
    throw new RangeError(
      `blkif: a ring area must be 1, 2, 4, 8 or 16 pages of ${BLKIF_PAGE_SIZE} bytes, not ${bytes.length} bytes`,
    );
  }
  return pages;
}

export class BackRing {
  readonly layout: BlkifLayout;
  /** RING_SIZE: slots in the ring (a power of two, 32 per page). */
  readonly size: number;
  readonly pages: number;
  /** The shared header's indexes. */
  readonly sring: SharedRingIndexes;
  /** Private: the next request index to consume. */
  reqCons: number;
  /** Private: the next response index to produce (published by pushResponsesAndCheckNotify). */
  rspProdPvt: number;
  /**
   * Set by beginPass(): the frontend published more requests than the ring can hold
   * (RING_REQUEST_PROD_OVERFLOW). Linux halts such a ring; QEMU carries on, bounded by the
   * consumer-overflow guard. Either way no pass takes more than `size` requests.
   */
  producerOverflow = false;

  private passProd: number;
  /** Requests the current pass may still take (its bound, fixed by beginPass). */
  private passBudget = 0;
  private readonly area: DataView;
  private readonly scratch: Uint32Array;
  private readonly mask: number;
  /** The area as u32 words (little-endian host and a 4-aligned view), else null: use `area`. */
  private readonly areaWords: Uint32Array | null;
  /** Words before `seg[]`, and a discard's words after them (up to the end of nr_sectors). */
  private readonly headWords: number;
  private readonly discardWords: number;
  /** Word indexes within a slot of `id`, `sector_number`, `seg[0]` and a discard's `nr_sectors`. */
  private readonly idWord: number;
  private readonly sectorWord: number;
  private readonly discardWord: number;
  /** Slot stride in words. */
  private readonly strideWords: number;
  /** The area as bytes and u16s for the response fields (with `areaWords`; null otherwise). */
  private readonly areaHalves: Uint16Array | null;

  constructor(
    readonly bytes: Uint8Array,
    readonly protocol: BlkifProtocol,
    options: BackRingOptions = {},
  ) {
    this.pages = ringPagesOf(bytes);
    this.layout = blkifLayout(protocol);
    this.size = constRingSize(this.layout, bytes.length);
    this.mask = this.size - 1;
    this.sring = new SharedRingIndexes(bytes);
    this.area = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.scratch = new Uint32Array(this.layout.requestSize >> 2);
    this.areaWords =
      LITTLE_ENDIAN_HOST && bytes.byteOffset % 4 === 0
        ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2)
        : null;
    this.areaHalves =
      this.areaWords !== null ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1) : null;
    this.headWords = this.layout.segmentsOffset >> 2;
    this.discardWords = ((this.layout.discardNrSectorsOffset + 8) >> 2) - this.headWords;
    this.idWord = this.layout.idOffset >> 2;
    this.sectorWord = this.layout.sectorOffset >> 2;
    this.discardWord = this.layout.discardNrSectorsOffset >> 2;
    this.strideWords = this.layout.requestSize >> 2;
    const start = options.start ?? 0;
    const idx = start === 'attach' ? this.sring.rspProd : start >>> 0;
    this.reqCons = idx;
    this.rspProdPvt = idx;
    this.passProd = idx;
  }

  /** Byte offset of the slot of free-running index `idx` within the area. */
  slotOffset(idx: number): number {
    return SRING_HEADER_SIZE + (idx & this.mask) * this.layout.requestSize;
  }

  /** RING_REQUEST_CONS_OVERFLOW: taking `cons` would leave `size` or more requests unanswered. */
  requestConsOverflow(cons: number): boolean {
    return (cons - this.rspProdPvt) >>> 0 >= this.size;
  }

  /** RING_REQUEST_PROD_OVERFLOW: a producer index no well-behaved frontend can publish. */
  requestProdOverflow(prod: number): boolean {
    return (prod - this.rspProdPvt) >>> 0 > this.size;
  }

  /**
   * RING_HAS_UNCONSUMED_REQUESTS (a count, reading `req_prod` now): requests that may be taken,
   * capped by the free slots, so never more than `size` whatever the frontend wrote.
   */
  get unconsumedRequests(): number {
    const req = (this.sring.reqProd - this.reqCons) >>> 0;
    const rsp = this.size - ((this.reqCons - this.rspProdPvt) >>> 0);
    return req < rsp ? req : rsp;
  }

  /** Requests consumed and not yet answered (they occupy slots). */
  get inFlight(): number {
    return (this.reqCons - this.rspProdPvt) >>> 0;
  }

  /**
   * Starts a consumer pass: reads `req_prod` ONCE (an atomic load in shared memory: the rmb
   * before the slots are read) and remembers it; the pass never looks at `req_prod` again.
   * Returns how many requests this pass may take at most (≤ size), and sets producerOverflow.
   *
   * That count also bounds the pass. For a correct frontend it is exactly rp - req_cons, what
   * QEMU takes; a hostile req_prod far ahead, with requests answered as fast as they are taken,
   * would otherwise keep QEMU's `while (rc != rp)` loop spinning for up to 2^32 garbage slots.
   */
  beginPass(): number {
    const rp = this.sring.reqProd;
    this.passProd = rp;
    this.producerOverflow = this.requestProdOverflow(rp);
    const req = (rp - this.reqCons) >>> 0;
    const rsp = this.size - ((this.reqCons - this.rspProdPvt) >>> 0);
    this.passBudget = req < rsp ? req : rsp;
    return this.passBudget;
  }

  /** Whether the current pass has another request to take (rc != rp, no consumer overflow, within the pass bound). */
  hasRequest(): boolean {
    return this.passBudget > 0 && this.reqCons !== this.passProd && !this.requestConsOverflow(this.reqCons);
  }

  /**
   * Copies the next request of the pass into `dest` and consumes it (req_cons++); false (and
   * nothing consumed) when the pass has none left. Callers that may fail to get a request struct
   * check hasRequest() first, as QEMU does before xen_block_start_request().
   */
  takeRequest(dest: BlkifRequest): boolean {
    if (!this.hasRequest()) return false;
    this.takeNext(dest);
    return true;
  }

  /**
   * takeRequest() for a caller that has just seen hasRequest() return true (the dataplane's
   * loop, which checks before it takes a request struct): the same copy and consume, without
   * checking the pass bounds a second time.
   */
  takeNext(dest: BlkifRequest): void {
    this.copySlot(this.reqCons, dest);
    this.reqCons = (this.reqCons + 1) >>> 0;
    this.passBudget--;
  }

  /**
   * Copies slot `idx` (any free-running index) out of shared memory and decodes it, without
   * consuming anything: RING_COPY_REQUEST + blkif_get_*_req.
   *
   * Each shared word is read once, into the private scratch words, and decoding reads only the
   * scratch: first the fixed head (operation, nr_segments, handle, id, sector), then, as the
   * PRIVATE nr_segments says, only the segments that will be used (or a discard's nr_sectors).
   */
  copySlot(idx: number, dest: BlkifRequest): void {
    const u32 = this.areaWords;
    if (u32 === null) {
      this.copySlotWords(idx, dest);
      return;
    }
    // Fast path (little-endian host, aligned area): each shared word is loaded exactly once into
    // a local or a field of `dest` (the private copy), and every decision is taken on those
    // copies, never on shared memory. Same fields and rules as the scratch-word path below.
    const at = (SRING_HEADER_SIZE >> 2) + (idx & this.mask) * this.strideWords;
    const w0 = u32[at];
    const op = w0 & 0xff;
    const nr = (w0 >>> 8) & 0xff;
    dest.operation = op;
    dest.nrSegments = nr;
    dest.handle = w0 >>> 16;
    const id = at + this.idWord;
    dest.idLo = u32[id];
    dest.idHi = u32[id + 1];
    const sector = at + this.sectorWord;
    dest.sectorLo = u32[sector];
    dest.sectorHi = u32[sector + 1];
    if (op === BlkifOp.DISCARD) {
      const d = at + this.discardWord;
      dest.nrSectorsLo = u32[d];
      dest.nrSectorsHi = u32[d + 1];
      return;
    }
    dest.nrSectorsLo = 0;
    dest.nrSectorsHi = 0;
    const n = nr < BLKIF_MAX_SEGMENTS_PER_REQUEST ? nr : BLKIF_MAX_SEGMENTS_PER_REQUEST;
    const segs = dest.segments;
    for (let i = 0, w = at + this.headWords; i < n; i++, w += SEGMENT_WORDS) {
      const seg = segs[i];
      seg.gref = u32[w];
      const bits = u32[w + 1];
      seg.firstSect = bits & 0xff;
      seg.lastSect = (bits >>> 8) & 0xff;
    }
  }

  // The portable path: the used words of the slot into the private scratch, then decode it.
  private copySlotWords(idx: number, dest: BlkifRequest): void {
    const at = this.slotOffset(idx);
    const w = this.scratch;
    const head = this.headWords;
    this.copyWords(at, 0, head);
    const w0 = w[0];
    const op = w0 & 0xff;
    let more: number;
    if (op === BlkifOp.DISCARD) {
      more = this.discardWords;
    } else {
      const nr = (w0 >>> 8) & 0xff;
      more = (nr < BLKIF_MAX_SEGMENTS_PER_REQUEST ? nr : BLKIF_MAX_SEGMENTS_PER_REQUEST) * SEGMENT_WORDS;
    }
    if (more > 0) this.copyWords(at, head, more);
    decodeBlkifWords(w, this.layout, dest);
  }

  // Words [from, from + n) of the slot at byte `at` into the scratch words at the same indexes.
  private copyWords(at: number, from: number, n: number): void {
    const w = this.scratch;
    const u32 = this.areaWords;
    if (u32 !== null) {
      const base = (at >> 2) + from;
      for (let i = 0; i < n; i++) w[from + i] = u32[base + i];
    } else {
      const area = this.area;
      const base = at + (from << 2);
      for (let i = 0; i < n; i++) w[from + i] = area.getUint32(base + (i << 2), true);
    }
  }

  /**
   * Writes a response {id, operation, status} at `rsp_prod_pvt` in the ABI's layout and advances
   * it (not yet visible to the frontend). Only the fields are written, never the padding.
   * Throws if no consumed request is waiting for a response (a backend bug: it would overwrite
   * a slot the frontend still owns).
   */
  pushResponse(idLo: number, idHi: number, operation: number, status: number): void {
    if (this.reqCons === this.rspProdPvt) {
      throw new Error('blkif: response pushed with no request awaiting one');
    }
    const at = SRING_HEADER_SIZE + (this.rspProdPvt & this.mask) * this.layout.requestSize;
    const u32 = this.areaWords;
    const u16 = this.areaHalves;
    if (u32 !== null && u16 !== null) {
      u32[(at + BLKIF_RESPONSE_ID) >> 2] = idLo;
      u32[(at + BLKIF_RESPONSE_ID + 4) >> 2] = idHi;
      this.bytes[at + BLKIF_RESPONSE_OPERATION] = operation;
      u16[(at + BLKIF_RESPONSE_STATUS) >> 1] = status;
    } else {
      const area = this.area;
      area.setUint32(at + BLKIF_RESPONSE_ID, idLo >>> 0, true);
      area.setUint32(at + BLKIF_RESPONSE_ID + 4, idHi >>> 0, true);
      area.setUint8(at + BLKIF_RESPONSE_OPERATION, operation & 0xff);
      area.setInt16(at + BLKIF_RESPONSE_STATUS, status, true);
    }
    this.rspProdPvt = (this.rspProdPvt + 1) >>> 0;
  }

  /** pushResponse() echoing the request's id and operation (QEMU xen_block_send_response). */
  respond(req: BlkifRequest, status: number): void {
    this.pushResponse(req.idLo, req.idHi, req.operation, status);
  }

  /**
   * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes `rsp_prod` (after the response writes) and
   * returns whether the frontend asked to be notified, i.e. `rsp_event` lies in (old, new] mod
   * 2^32. False when nothing new was published.
   */
  pushResponsesAndCheckNotify(): boolean {
    const sring = this.sring;
    const old = sring.rspProd;
    const next = this.rspProdPvt;
    sring.rspProd = next;
    const event = sring.rspEvent;
    return (next - event) >>> 0 < (next - old) >>> 0;
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: the unconsumed count; when it is 0, re-arms `req_event` at
   * req_cons + 1 and checks again so a request published meanwhile is not missed.
   */
  finalCheckForRequests(): number {
    let work = this.unconsumedRequests;
    if (work !== 0) return work;
    this.sring.reqEvent = (this.reqCons + 1) >>> 0;
    work = this.unconsumedRequests;
    return work;
  }

  /**
   * The tail of QEMU's xen_block_send_response: with every consumed request answered, a final
   * check (which re-arms req_event); otherwise a plain unconsumed check. True: more requests.
   */
  checkForMoreRequests(): boolean {
    return this.rspProdPvt === this.reqCons
      ? this.finalCheckForRequests() !== 0
      : this.unconsumedRequests !== 0;
  }
}
