/**
 * The frontend (producer) half of a blkif ring, as a guest's blkfront runs it (ring.h FRONT_RING
 * macros): writes requests in any of the three ABIs into a plain byte area, publishes them,
 * decides whether to notify, and reaps responses. For tests it also writes whatever a hostile
 * guest might: raw slot bytes, raw nr_segments, any req_prod.
 */
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_RESPONSE_ID,
  BLKIF_RESPONSE_OPERATION,
  BLKIF_RESPONSE_STATUS,
  BLKIF_SEGMENT_SIZE,
  BlkifOp,
  blkifLayout,
  constRingSize,
  ringPagesOf,
  SharedRingIndexes,
  SRING_HEADER_SIZE,
  type BlkifLayout,
  type BlkifProtocol,
} from '../ring/index.js';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** One segment as the frontend writes it. */
export interface FrontSegment {
  readonly gref: number;
  readonly firstSect: number;
  readonly lastSect: number;
}

/** A request as the frontend writes it into a slot. */
export interface FrontRequest {
  readonly operation: number;
  /** Any u64; echoed by the backend. */
  readonly id: bigint;
  readonly sector?: bigint | number;
  /** `handle` (the vdev), default 0. */
  readonly handle?: number;
  /** At most 11 are written (the slot has no room for more). */
  readonly segments?: readonly FrontSegment[];
  /** The raw `nr_segments` byte (default: segments.length); may lie, e.g. 12 or 255. */
  readonly nrSegments?: number;
  /** DISCARD: `nr_sectors` and `flag` (which sits in the nr_segments byte). */
  readonly nrSectors?: bigint | number;
  readonly flag?: number;
}

/** A response as the frontend reads it. */
export interface BlkifResponse {
  readonly id: bigint;
  readonly operation: number;
  /** Signed: 0 OKAY, -1 ERROR, -2 EOPNOTSUPP. */
  readonly status: number;
}

export interface FrontRingOptions {
  /**
   * Initialise the shared header (SHARED_RING_INIT) with both producers at `start`; default
   * true. With false the header is left alone and the private indexes start at `start`.
   */
  readonly init?: boolean;
  /** Free-running start index (default 0); start near 2^32 to exercise wrapping. */
  readonly start?: number;
}

/** Writes `req` in `layout` at byte `at` of `view`; the slot is zeroed first. */
export function encodeBlkifRequest(view: DataView, at: number, layout: BlkifLayout, req: FrontRequest): void {
  new Uint8Array(view.buffer, view.byteOffset + at, layout.requestSize).fill(0);
  const segs = req.segments ?? [];
  if (segs.length > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
    throw new RangeError(`blkif: a request slot holds at most ${BLKIF_MAX_SEGMENTS_PER_REQUEST} segments`);
  }
  view.setUint8(at, req.operation);
  const byte1 = req.operation === BlkifOp.DISCARD ? (req.flag ?? 0) : (req.nrSegments ?? segs.length);
  view.setUint8(at + 1, byte1);
  view.setUint16(at + 2, req.handle ?? 0, true);
  view.setBigUint64(at + layout.idOffset, BigInt.asUintN(64, req.id), true);
  view.setBigUint64(at + layout.sectorOffset, BigInt.asUintN(64, BigInt(req.sector ?? 0)), true);
  if (req.operation === BlkifOp.DISCARD) {
    view.setBigUint64(
      at + layout.discardNrSectorsOffset,
      BigInt.asUintN(64, BigInt(req.nrSectors ?? 0)),
      true,
    );
    return;
  }
  segs.forEach((s, i) => {
    const o = at + layout.segmentsOffset + i * BLKIF_SEGMENT_SIZE;
    view.setUint32(o, s.gref >>> 0, true);
    view.setUint8(o + 4, s.firstSect);
    view.setUint8(o + 5, s.lastSect);
  });
}

export class FrontRing {
  readonly layout: BlkifLayout;
  readonly size: number;
  readonly pages: number;
  readonly sring: SharedRingIndexes;
  /** Private: next request index to fill. */
  reqProdPvt: number;
  /** Private: next response index to read. */
  rspCons: number;
  private readonly view: DataView;
  /**
   * The area as u32 / i16 words when the host is little-endian and the area 4-aligned (every
   * field pushSimple and consumeResponses touch is aligned to its size), else null: DataView.
   */
  private readonly words: Uint32Array | null;
  private readonly halves: Int16Array | null;
  private readonly mask: number;
  private readonly strideWords: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly protocol: BlkifProtocol,
    options: FrontRingOptions = {},
  ) {
    this.pages = ringPagesOf(bytes);
    this.layout = blkifLayout(protocol);
    this.size = constRingSize(this.layout, bytes.length);
    this.sring = new SharedRingIndexes(bytes);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const aligned = LITTLE_ENDIAN_HOST && bytes.byteOffset % 4 === 0;
    this.words = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2) : null;
    this.halves = aligned ? new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1) : null;
    this.mask = this.size - 1;
    this.strideWords = this.layout.requestSize >> 2;
    const start = (options.start ?? 0) >>> 0;
    if (options.init ?? true) this.sring.init(start);
    this.reqProdPvt = start;
    this.rspCons = start;
  }

  slotOffset(idx: number): number {
    return SRING_HEADER_SIZE + (idx & (this.size - 1)) * this.layout.requestSize;
  }

  /** RING_FREE_REQUESTS. */
  get freeRequests(): number {
    return this.size - ((this.reqProdPvt - this.rspCons) >>> 0);
  }

  /** RING_FULL. */
  get full(): boolean {
    return this.freeRequests === 0;
  }

  /** Writes a request into the slot of `idx` without publishing anything. */
  writeRequest(idx: number, req: FrontRequest): void {
    encodeBlkifRequest(this.view, this.slotOffset(idx), this.layout, req);
  }

  /** Writes raw bytes (at most one slot) into the slot of `idx`. */
  writeSlotBytes(idx: number, raw: Uint8Array): void {
    if (raw.length > this.layout.requestSize) throw new RangeError('blkif: more bytes than a slot holds');
    this.bytes.set(raw, this.slotOffset(idx));
  }

  /** Fills the next slot (RING_GET_REQUEST at req_prod_pvt) and advances req_prod_pvt; throws when full. */
  pushRequest(req: FrontRequest): number {
    if (this.full) throw new RangeError('blkif: front ring full');
    const idx = this.reqProdPvt;
    this.writeRequest(idx, req);
    this.reqProdPvt = (idx + 1) >>> 0;
    return idx;
  }

  /**
   * Fills the next slot with a one-segment READ or WRITE without allocating (load generators):
   * the id as two u32 halves, the sector below 2^32.
   */
  pushSimple(
    operation: number,
    idLo: number,
    idHi: number,
    sector: number,
    handle: number,
    gref: number,
    firstSect: number,
    lastSect: number,
  ): void {
    if (this.full) throw new RangeError('blkif: front ring full');
    const l = this.layout;
    const u32 = this.words;
    if (u32 !== null) {
      const w = (SRING_HEADER_SIZE >> 2) + (this.reqProdPvt & this.mask) * this.strideWords;
      u32[w] = (operation & 0xff) | (1 << 8) | ((handle & 0xffff) << 16);
      const id = w + (l.idOffset >> 2);
      if (l.idOffset === 8) u32[w + 1] = 0;
      u32[id] = idLo;
      u32[id + 1] = idHi;
      const sec = w + (l.sectorOffset >> 2);
      u32[sec] = sector;
      u32[sec + 1] = 0;
      const seg = w + (l.segmentsOffset >> 2);
      u32[seg] = gref;
      u32[seg + 1] = (firstSect & 0xff) | ((lastSect & 0xff) << 8);
      this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
      return;
    }
    const at = this.slotOffset(this.reqProdPvt);
    const v = this.view;
    v.setUint32(at, (operation & 0xff) | (1 << 8) | ((handle & 0xffff) << 16), true);
    if (l.idOffset === 8) v.setUint32(at + 4, 0, true);
    v.setUint32(at + l.idOffset, idLo >>> 0, true);
    v.setUint32(at + l.idOffset + 4, idHi >>> 0, true);
    v.setUint32(at + l.sectorOffset, sector >>> 0, true);
    v.setUint32(at + l.sectorOffset + 4, 0, true);
    const seg = at + l.segmentsOffset;
    v.setUint32(seg, gref >>> 0, true);
    v.setUint32(seg + 4, (firstSect & 0xff) | ((lastSect & 0xff) << 8), true);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
  }

  /**
   * Reads the published responses without allocating: `each(idLo, idHi, operation, status)` per
   * response, rsp_cons advanced. Returns how many were read; throws like takeResponses().
   */
  consumeResponses(each: (idLo: number, idHi: number, operation: number, status: number) => void): number {
    const rp = this.sring.rspProd;
    if (this.responseProdOverflow(rp) || (rp - this.rspCons) >>> 0 > (this.reqProdPvt - this.rspCons) >>> 0) {
      throw new Error(
        `blkif: backend published rsp_prod ${rp} beyond the requests (rsp_cons ${this.rspCons})`,
      );
    }
    const u32 = this.words;
    const i16 = this.halves;
    if (u32 !== null && i16 !== null) {
      const bytes = this.bytes;
      const mask = this.mask;
      const stride = this.layout.requestSize;
      let cons = this.rspCons;
      let n = 0;
      while (cons !== rp) {
        const at = SRING_HEADER_SIZE + (cons & mask) * stride;
        cons = (cons + 1) >>> 0;
        this.rspCons = cons;
        n++;
        each(
          u32[(at + BLKIF_RESPONSE_ID) >> 2],
          u32[(at + BLKIF_RESPONSE_ID + 4) >> 2],
          bytes[at + BLKIF_RESPONSE_OPERATION],
          i16[(at + BLKIF_RESPONSE_STATUS) >> 1],
        );
      }
      return n;
    }
    const v = this.view;
    let n = 0;
    while (this.rspCons !== rp) {
      const at = this.slotOffset(this.rspCons);
      this.rspCons = (this.rspCons + 1) >>> 0;
      n++;
      each(
        v.getUint32(at + BLKIF_RESPONSE_ID, true),
        v.getUint32(at + BLKIF_RESPONSE_ID + 4, true),
        v.getUint8(at + BLKIF_RESPONSE_OPERATION),
        v.getInt16(at + BLKIF_RESPONSE_STATUS, true),
      );
    }
    return n;
  }

  /**
   * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publishes req_prod and returns whether the backend's
   * req_event lies in (old, new] (it asked to be woken).
   */
  pushRequestsAndCheckNotify(): boolean {
    const old = this.sring.reqProd;
    const next = this.reqProdPvt;
    this.sring.reqProd = next;
    const event = this.sring.reqEvent;
    return (next - event) >>> 0 < (next - old) >>> 0;
  }

  /** RING_HAS_UNCONSUMED_RESPONSES: published responses not yet read. */
  get unconsumedResponses(): number {
    return (this.sring.rspProd - this.rspCons) >>> 0;
  }

  /** RING_RESPONSE_PROD_OVERFLOW: a response producer no correct backend can publish. */
  responseProdOverflow(prod: number): boolean {
    return (prod - this.rspCons) >>> 0 > this.size;
  }

  /** Reads the response in slot `idx` (no index changes). */
  readResponse(idx: number): BlkifResponse {
    const at = this.slotOffset(idx);
    return {
      id: this.view.getBigUint64(at + BLKIF_RESPONSE_ID, true),
      operation: this.view.getUint8(at + BLKIF_RESPONSE_OPERATION),
      status: this.view.getInt16(at + BLKIF_RESPONSE_STATUS, true),
    };
  }

  /**
   * Reads every published response (rsp_prod read once) and advances rsp_cons. Throws when the
   * backend published more responses than there were requests (a backend bug).
   */
  takeResponses(): BlkifResponse[] {
    const rp = this.sring.rspProd;
    if (this.responseProdOverflow(rp) || (rp - this.rspCons) >>> 0 > (this.reqProdPvt - this.rspCons) >>> 0) {
      throw new Error(
        `blkif: backend published rsp_prod ${rp} beyond the requests (rsp_cons ${this.rspCons})`,
      );
    }
    const out: BlkifResponse[] = [];
    while (this.rspCons !== rp) {
      out.push(this.readResponse(this.rspCons));
      this.rspCons = (this.rspCons + 1) >>> 0;
    }
    return out;
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: unread responses; when none, re-arms rsp_event at
   * rsp_cons + 1 and checks again.
   */
  finalCheckForResponses(): number {
    let work = this.unconsumedResponses;
    if (work !== 0) return work;
    this.sring.rspEvent = (this.rspCons + 1) >>> 0;
    work = this.unconsumedResponses;
    return work;
  }
}
