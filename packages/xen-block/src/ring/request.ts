/**
 * The backend's private copy of one ring request (QEMU: the `blkif_request_t req` inside
 * XenBlockRequest, filled by blkif_get_x86_{32,64}_req). Preallocated and reused: decoding
 * never allocates. 64-bit fields are kept as two u32 halves so the hot path needs no BigInt;
 * the bigint getters give the exact values.
 */
import { BLKIF_MAX_SEGMENTS_PER_REQUEST, BlkifOp } from './constants.js';
import { BLKIF_SEGMENT_SIZE, type BlkifLayout } from './layout.js';

/** One `blkif_request_segment`: a granted page and the sectors [firstSect, lastSect] of it. */
export class BlkifSegment {
  gref = 0;
  firstSect = 0;
  lastSect = 0;
}

const TWO_32 = 4294967296;

/** Joins two u32 halves into the exact u64. */
export function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export class BlkifRequest {
  operation = 0;
  /**
   * The raw `nr_segments` byte, NOT clamped: only min(nrSegments, 11) segments are copied, and
   * the parse rejects 12 or more (QEMU keeps the raw count the same way). For a discard this byte
   * is the `flag` field.
   */
  nrSegments = 0;
  handle = 0;
  /** The request id, echoed bit-exactly in the response (ids are opaque u64s, often pointers). */
  idLo = 0;
  idHi = 0;
  /** `sector_number`, in 512-byte units. */
  sectorLo = 0;
  sectorHi = 0;
  /** Discard only: `nr_sectors`, in 512-byte units. */
  nrSectorsLo = 0;
  nrSectorsHi = 0;
  /** `seg[]`: entries at or beyond min(nrSegments, 11) are stale and must not be used. */
  readonly segments: readonly BlkifSegment[];

  constructor() {
    const segs: BlkifSegment[] = [];
    for (let i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) segs.push(new BlkifSegment());
    this.segments = segs;
  }

  get id(): bigint {
    return u64(this.idLo, this.idHi);
  }
  get sectorNumber(): bigint {
    return u64(this.sectorLo, this.sectorHi);
  }
  get nrSectors(): bigint {
    return u64(this.nrSectorsLo, this.nrSectorsHi);
  }
  /** `sector_number` as a number when it is below 2^53, else NaN. */
  get sectorNumberSafe(): number {
    return this.sectorHi < 0x200000 ? this.sectorHi * TWO_32 + this.sectorLo : NaN;
  }
  /** Discard `flag` (BLKIF_DISCARD_SECURE is bit 0): the byte where `nr_segments` sits. */
  get discardFlag(): number {
    return this.nrSegments;
  }
  /** How many `seg[]` entries were copied: 0 for a discard, else min(nrSegments, 11). */
  get copiedSegments(): number {
    return this.operation === BlkifOp.DISCARD ? 0 : Math.min(this.nrSegments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
  }

  /** Zeroes every field (QEMU reset_request). */
  reset(): void {
    this.operation = 0;
    this.nrSegments = 0;
    this.handle = 0;
    this.idLo = this.idHi = 0;
    this.sectorLo = this.sectorHi = 0;
    this.nrSectorsLo = this.nrSectorsHi = 0;
    for (const s of this.segments) {
      s.gref = 0;
      s.firstSect = 0;
      s.lastSect = 0;
    }
  }

  /** Copies every field of `other` (for callers that keep a request past the ring pass). */
  copyFrom(other: BlkifRequest): void {
    this.operation = other.operation;
    this.nrSegments = other.nrSegments;
    this.handle = other.handle;
    this.idLo = other.idLo;
    this.idHi = other.idHi;
    this.sectorLo = other.sectorLo;
    this.sectorHi = other.sectorHi;
    this.nrSectorsLo = other.nrSectorsLo;
    this.nrSectorsHi = other.nrSectorsHi;
    for (let i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
      const d = this.segments[i];
      const s = other.segments[i];
      d.gref = s.gref;
      d.firstSect = s.firstSect;
      d.lastSect = s.lastSect;
    }
  }
}

/**
 * Copies a request slot out of the ring: one sweep of little-endian u32 words from `area` at
 * `offset` into `words` (layout.requestSize / 4 entries). Slot offsets and strides are
 * multiples of 4, and every blkif field is 4-aligned within a word, so decoding from the words
 * needs no further access to shared memory.
 */
export function copyBlkifSlot(area: DataView, offset: number, layout: BlkifLayout, words: Uint32Array): void {
  const n = layout.requestSize >> 2;
  for (let i = 0; i < n; i++) words[i] = area.getUint32(offset + (i << 2), true);
}

/**
 * Decodes a request from its PRIVATE copy (`words`, from copyBlkifSlot) in `layout`. Like
 * blkif_get_x86_*_req: a discard copies only `nr_sectors`; any other operation copies
 * min(nr_segments, 11) segments and keeps the raw count.
 */
export function decodeBlkifWords(words: Uint32Array, layout: BlkifLayout, dest: BlkifRequest): void {
  const w0 = words[0];
  const op = w0 & 0xff;
  const nr = (w0 >>> 8) & 0xff;
  dest.operation = op;
  dest.nrSegments = nr;
  dest.handle = w0 >>> 16;
  const id = layout.idOffset >> 2;
  dest.idLo = words[id];
  dest.idHi = words[id + 1];
  const sector = layout.sectorOffset >> 2;
  dest.sectorLo = words[sector];
  dest.sectorHi = words[sector + 1];
  if (op === BlkifOp.DISCARD) {
    const at = layout.discardNrSectorsOffset >> 2;
    dest.nrSectorsLo = words[at];
    dest.nrSectorsHi = words[at + 1];
    return;
  }
  dest.nrSectorsLo = 0;
  dest.nrSectorsHi = 0;
  const n = nr < BLKIF_MAX_SEGMENTS_PER_REQUEST ? nr : BLKIF_MAX_SEGMENTS_PER_REQUEST;
  const segs = dest.segments;
  let at = layout.segmentsOffset >> 2;
  for (let i = 0; i < n; i++, at += BLKIF_SEGMENT_SIZE >> 2) {
    const seg = segs[i];
    seg.gref = words[at];
    const w = words[at + 1];
    seg.firstSect = w & 0xff;
    seg.lastSect = (w >>> 8) & 0xff;
  }
}

/** Copies and decodes a request at `offset` of `src` (convenience; allocates its word buffer). */
export function decodeBlkifRequest(
  src: DataView,
  offset: number,
  layout: BlkifLayout,
  dest: BlkifRequest,
): void {
  const words = new Uint32Array(layout.requestSize >> 2);
  copyBlkifSlot(src, offset, layout, words);
  decodeBlkifWords(words, layout, dest);
}
