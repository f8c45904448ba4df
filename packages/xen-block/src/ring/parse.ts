/**
 * Validation of a copied-out request, following QEMU's xen_block_parse_request (with the
 * XEN_BLKIF_SECTOR_SIZE rules of current QEMU, reference/qemu-behaviour.md §4.6) and the range
 * check of xen_block_split_discard. Independent of any BlockBackend: the caller passes the disk
 * length, its logical sector size and whether it is read-only. Nothing allocates on the
 * read/write/flush path; results go into a preallocated BlkifParsedRequest.
 */
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_PAGE_SIZE,
  BLKIF_SECTOR_SIZE,
  BLKIF_DISCARD_SECURE,
  BlkifOp,
} from './constants.js';
import type { BlkifRequest } from './request.js';

/** Why a request is answered with BLKIF_RSP_ERROR without any I/O, in QEMU's check order. */
export type BlkifParseError =
  /** Not READ, WRITE, FLUSH_DISKCACHE or DISCARD (WRITE_BARRIER and INDIRECT included). */
  | 'unknown-operation'
  /** WRITE, or FLUSH_DISKCACHE with segments, on a read-only disk. */
  | 'read-only'
  /** sector_number * 512 is not a multiple of the disk's sector size. */
  | 'misaligned-sector'
  /** nr_segments > 11 (found when the loop reaches the 12th). */
  | 'too-many-segments'
  /** A segment with first_sect > last_sect. */
  | 'first-after-last'
  /** A segment with last_sect * 512 >= 4096. */
  | 'page-crossing'
  /** A segment whose first_sect is not a multiple of sector-size / 512. */
  | 'misaligned-first-sect'
  /** A segment whose length is not a multiple of the sector size. */
  | 'misaligned-segment-size'
  /** start + total size > disk length. */
  | 'beyond-end'
  /** DISCARD whose sector + count wraps 2^64 or exceeds INT64_MAX / 512 (xen_block_split_discard). */
  | 'discard-range';

/** QEMU's error_report() text for each reason. */
export const blkifParseErrorMessage: Readonly<Record<BlkifParseError, string>> = Object.freeze({
  'unknown-operation': 'unknown operation',
  'read-only': 'write req for ro device',
  'misaligned-sector': 'sector_number misaligned with sector-size',
  'too-many-segments': 'nr_segments too big',
  'first-after-last': 'first > last sector',
  'page-crossing': 'page crossing',
  'misaligned-first-sect': 'first_sect misaligned with sector-size',
  'misaligned-segment-size': 'segment size misaligned with sector-size',
  'beyond-end': 'access beyond end of file',
  'discard-range': 'discard range overflows',
});

/** What the parse needs to know about the disk. */
export interface BlkifDisk {
  /** Disk length in bytes (a safe integer). */
  readonly length: number;
  /** Logical sector size (`sector-size`): a power of two, at least 512. */
  readonly sectorSize: number;
  readonly readOnly: boolean;
}

/** What a valid request asks for. */
export type BlkifAction =
  | 'read'
  /** WRITE (size 0 when it has no segments: nothing to do but answer OKAY). */
  | 'write'
  /** FLUSH_DISKCACHE: flush first (presync); then, if size > 0, write the segments. */
  | 'flush'
  | 'discard';

/** Block accounting class of a request (block_acct_invalid on a parse error); none for discard. */
export type BlkifAccounting = 'read' | 'write' | 'flush' | undefined;

/** The accounting class QEMU uses for an operation (xen_block_handle_requests). */
export function blkifAccounting(operation: number): BlkifAccounting {
  switch (operation) {
    case BlkifOp.READ:
      return 'read';
    case BlkifOp.WRITE:
      return 'write';
    case BlkifOp.FLUSH_DISKCACHE:
      return 'flush';
    default:
      return undefined;
  }
}

const INT64_MAX_SECTORS = (2n ** 63n - 1n) / BigInt(BLKIF_SECTOR_SIZE);

/**
 * The result of a successful parse (its fields mean nothing after a failed one); preallocate one
 * per request struct and reuse it.
 */
export class BlkifParsedRequest {
  action: BlkifAction = 'read';
  /** FLUSH_DISKCACHE: flush before anything else. */
  presync = false;
  /** Byte offset on the disk (read/write/flush with segments). */
  start = 0;
  /** Total bytes of the segments. */
  size = 0;
  /** Valid entries of segmentOffset/segmentLength (= nr_segments). */
  segmentCount = 0;
  /** Per segment: byte offset within its granted page (first_sect * 512). */
  readonly segmentOffset = new Int32Array(BLKIF_MAX_SEGMENTS_PER_REQUEST);
  /** Per segment: byte length ((last_sect - first_sect + 1) * 512). */
  readonly segmentLength = new Int32Array(BLKIF_MAX_SEGMENTS_PER_REQUEST);
  /** DISCARD: byte range (below 2^63; may exceed the disk, the block layer rejects that). */
  discardOffset = 0n;
  discardBytes = 0n;
  /** DISCARD: BLKIF_DISCARD_SECURE was set (QEMU ignores it). */
  discardSecure = false;

  reset(): void {
    this.action = 'read';
    this.presync = false;
    this.start = 0;
    this.size = 0;
    this.segmentCount = 0;
    this.discardOffset = 0n;
    this.discardBytes = 0n;
    this.discardSecure = false;
  }
}

/**
 * Parses `req` for `disk`: returns `out` filled in, or the reason for BLKIF_RSP_ERROR.
 * Checks run in QEMU's order, so the first failing rule is the one reported.
 */
export function parseBlkifRequest(
  req: BlkifRequest,
  disk: BlkifDisk,
  out: BlkifParsedRequest,
): BlkifParsedRequest | BlkifParseError {
  // Every success path writes every field once (no reset() first): read, write and flush here
  // and below, discard in parseDiscard.
  const op = req.operation;
  switch (op) {
    case BlkifOp.READ:
      out.action = 'read';
      out.presync = false;
      break;
    case BlkifOp.WRITE:
      out.action = 'write';
      out.presync = false;
      break;
    case BlkifOp.FLUSH_DISKCACHE:
      out.action = 'flush';
      out.presync = true;
      if (req.nrSegments === 0) {
        out.start = 0;
        out.size = 0;
        out.segmentCount = 0;
        return noDiscard(out);
      }
      break;
    case BlkifOp.DISCARD:
      return parseDiscard(req, out);
    default:
      return 'unknown-operation';
  }

  if (op !== BlkifOp.READ && disk.readOnly) return 'read-only';

  const sectorSize = disk.sectorSize;
  const ratio = sectorSize / BLKIF_SECTOR_SIZE;
  // sector_number * 512 aligned to sectorSize <=> sector_number is a multiple of `ratio`; for a
  // power-of-two ratio below 2^32 the low word decides.
  if (ratio > 1 && (req.sectorLo & (ratio - 1)) !== 0) return 'misaligned-sector';

  const nr = req.nrSegments;
  let size = 0;
  for (let i = 0; i < nr; i++) {
    if (i === BLKIF_MAX_SEGMENTS_PER_REQUEST) return 'too-many-segments';
    const seg = req.segments[i];
    const first = seg.firstSect;
    const last = seg.lastSect;
    if (first > last) return 'first-after-last';
    if (last * BLKIF_SECTOR_SIZE >= BLKIF_PAGE_SIZE) return 'page-crossing';
    if (ratio > 1 && first % ratio !== 0) return 'misaligned-first-sect';
    const len = (last - first + 1) * BLKIF_SECTOR_SIZE;
    if (len % sectorSize !== 0) return 'misaligned-segment-size';
    out.segmentOffset[i] = first * BLKIF_SECTOR_SIZE;
    out.segmentLength[i] = len;
    size += len;
  }
  out.segmentCount = nr;
  out.size = size;

  // Exact comparison without 64-bit wrap (QEMU's off_t product could wrap; we refuse instead):
  // sector >= 2^52 puts start at or beyond 2^61, past any disk; below that start is exact.
  if (req.sectorHi >= 0x100000) return 'beyond-end';
  const start = req.sectorNumberSafe * BLKIF_SECTOR_SIZE;
  if (start > disk.length - size) return 'beyond-end';
  out.start = start;
  return noDiscard(out);
}

// The discard fields of a success that is not a discard.
function noDiscard(out: BlkifParsedRequest): BlkifParsedRequest {
  out.discardOffset = 0n;
  out.discardBytes = 0n;
  out.discardSecure = false;
  return out;
}

function parseDiscard(req: BlkifRequest, out: BlkifParsedRequest): BlkifParsedRequest | BlkifParseError {
  out.action = 'discard';
  out.presync = false;
  out.start = 0;
  out.size = 0;
  out.segmentCount = 0;
  const sector = req.sectorNumber;
  const count = req.nrSectors;
  // u64 wrap-around of sector + count, or a byte range beyond INT64_MAX: both mean the exact
  // sum exceeds INT64_MAX / 512.
  if (sector + count > INT64_MAX_SECTORS) return 'discard-range';
  out.discardOffset = sector * BigInt(BLKIF_SECTOR_SIZE);
  out.discardBytes = count * BigInt(BLKIF_SECTOR_SIZE);
  out.discardSecure = (req.discardFlag & BLKIF_DISCARD_SECURE) !== 0;
  return out;
}
