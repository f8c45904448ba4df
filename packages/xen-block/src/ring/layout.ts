/**
 * The three blkif ring ABIs and their exact byte layouts (reference/abi.md §1.2-1.4; QEMU
 * hw/block/xen_blkif.h). Offsets are in bytes, little-endian.
 */
import { BLKIF_MAX_RING_PAGE_ORDER, BLKIF_PAGE_SIZE } from './constants.js';

/**
 * The frontend's ring ABI: the xenstore `protocol` value, or `native` when the key is absent.
 * This backend is an x86_64 one, so `native` has the x86_64 layout.
 */
export type BlkifProtocol = 'native' | 'x86_32-abi' | 'x86_64-abi';

/**
 * Reads the frontend's `protocol` key: absent (undefined) means the backend's native ABI;
 * `x86_32-abi` and `x86_64-abi` select those layouts; anything else is undefined (refuse to
 * connect). Note: QEMU's xen_block_connect() silently falls back to native for unknown names,
 * and so does @vmkit/xen-bus readProtocol(); this parser is stricter on purpose.
 */
export function parseBlkifProtocol(value: string | undefined): BlkifProtocol | undefined {
  if (value === undefined) return 'native';
  if (value === 'x86_32-abi' || value === 'x86_64-abi') return value;
  return undefined;
}

/** Byte layout of one ABI's request, discard request, indirect request and response. */
export interface BlkifLayout {
  readonly abi: 'x86_32' | 'x86_64';
  /** sizeof(blkif_request): also the ring slot stride (the union's largest member). */
  readonly requestSize: number;
  /** sizeof(blkif_response). */
  readonly responseSize: number;
  /** Request: `operation` u8 @0, `nr_segments` (discard: `flag`) u8 @1, `handle` u16 @2. */
  readonly idOffset: number;
  readonly sectorOffset: number;
  /** Start of `seg[11]`; each segment is { gref u32 @0, first_sect u8 @4, last_sect u8 @5 }, 8 bytes. */
  readonly segmentsOffset: number;
  /** Discard request: `nr_sectors` u64. */
  readonly discardNrSectorsOffset: number;
  /** Indirect request: `nr_segments` is a u16 @2; `handle` u16 and `indirect_grefs[8]` here. */
  readonly indirectHandleOffset: number;
  readonly indirectGrefsOffset: number;
}

/** Size of one `blkif_request_segment`. */
export const BLKIF_SEGMENT_SIZE = 8;

/** Response field offsets, the same in both ABIs: id u64 @0, operation u8 @8, status i16 @10. */
export const BLKIF_RESPONSE_ID = 0;
export const BLKIF_RESPONSE_OPERATION = 8;
export const BLKIF_RESPONSE_STATUS = 10;

/** The `gcc -m32` layout (QEMU's pack(4) `blkif_x86_32_*`): u64 fields only 4-aligned. */
export const X86_32_LAYOUT: BlkifLayout = Object.freeze({
  abi: 'x86_32',
  requestSize: 108,
  responseSize: 12,
  idOffset: 4,
  sectorOffset: 12,
  segmentsOffset: 20,
  discardNrSectorsOffset: 20,
  indirectHandleOffset: 20,
  indirectGrefsOffset: 24,
});

/** The `gcc -m64` layout (QEMU's `blkif_x86_64_*`): 4 pad bytes before the 8-aligned id. */
export const X86_64_LAYOUT: BlkifLayout = Object.freeze({
  abi: 'x86_64',
  requestSize: 112,
  responseSize: 16,
  idOffset: 8,
  sectorOffset: 16,
  segmentsOffset: 24,
  discardNrSectorsOffset: 24,
  indirectHandleOffset: 24,
  indirectGrefsOffset: 28,
});

/** The layout a protocol uses (native is x86_64 on this backend). */
export function blkifLayout(protocol: BlkifProtocol): BlkifLayout {
  return protocol === 'x86_32-abi' ? X86_32_LAYOUT : X86_64_LAYOUT;
}

/** `blkif_sring` header offsets (reference/abi.md §1.3). */
export const SRING_REQ_PROD = 0;
export const SRING_REQ_EVENT = 4;
export const SRING_RSP_PROD = 8;
export const SRING_RSP_EVENT = 12;
/** `pvt` (4 bytes) and `__pad[44]`, zeroed by SHARED_RING_INIT. */
export const SRING_PVT = 16;
/** The first slot: `ring[0]`. */
export const SRING_HEADER_SIZE = 64;

/**
 * `__CONST_RING_SIZE(blkif, bytes)`: the largest power of two number of slots that fits after the
 * 64-byte header; 0 when not even one fits.
 */
export function constRingSize(layout: BlkifLayout, bytes: number): number {
  const raw = Math.floor((bytes - SRING_HEADER_SIZE) / layout.requestSize);
  if (!(raw >= 1)) return 0;
  return 2 ** Math.floor(Math.log2(raw));
}

/** Ring size (slots) of a ring of 2^order pages; RangeError for an order outside 0..4. */
export function ringSizeForOrder(protocol: BlkifProtocol, order: number): number {
  if (!Number.isInteger(order) || order < 0 || order > BLKIF_MAX_RING_PAGE_ORDER) {
    throw new RangeError(`blkif: ring-page-order ${order} outside 0..${BLKIF_MAX_RING_PAGE_ORDER}`);
  }
  return constRingSize(blkifLayout(protocol), BLKIF_PAGE_SIZE << order);
}

/** Byte offset of the slot of free-running index `idx` in a ring of `size` slots. */
export function slotOffset(layout: BlkifLayout, size: number, idx: number): number {
  return SRING_HEADER_SIZE + (idx & (size - 1)) * layout.requestSize;
}
