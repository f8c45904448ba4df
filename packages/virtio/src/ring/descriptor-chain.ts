/**
 * Walking one split-ring descriptor chain into a VirtQueueElement (QEMU virtqueue_split_pop and
 * virtqueue_map_desc). Every guest-supplied index, length and address is checked before use; a
 * malformed chain yields an error kind and nothing is written to guest memory.
 *
 * Hot path: descriptor tables are read through DataViews over exactly the table, so every offset
 * is a small integer (a region offset can exceed 31 bits and would make the loop's arithmetic
 * floating-point), and buffers are mapped once per descriptor slot and reused while the guest
 * keeps the slot's address and length (see ViewCache).
 */
import type { GuestMemoryRegion, IOVector } from '@vmkit/core';
import { VIRTQUEUE_MAX_SIZE, VRING_DESC_SIZE, VringDescFlag } from '../constants.js';
import { joinAddress, type RegionCursor } from './guest-regions.js';
import type { VirtQueueElement } from './virtqueue-element.js';
import type { VirtQueueErrorKind } from './virtqueue-error.js';

const { NEXT, WRITE, INDIRECT } = VringDescFlag;
const NO_BYTES: Uint8Array = new Uint8Array(0);

/** A DataView over exactly [gpa, gpa + len) of `region` (which must contain it). */
export function regionSlice(region: GuestMemoryRegion, gpa: number, len: number): DataView {
  const bytes = region.bytes;
  return new DataView(bytes.buffer, bytes.byteOffset + (gpa - region.gpa), len);
}

/**
 * The views last mapped for each slot of a table, with the guest address and length they were
 * mapped for. Drivers reuse descriptors for the same buffers: a descriptor read (once) with the
 * same address and length, in the same memory layout, gets the same immutable view instead of a
 * new one. Anything else is mapped afresh. Emptied when the memory layout changes.
 */
class ViewCache<T extends object> {
  addr = new Float64Array(0);
  len = new Float64Array(0);
  views: (T | null)[] = [];

  resize(size: number): void {
    if (this.views.length !== size) {
      this.addr = new Float64Array(size);
      this.len = new Float64Array(size);
      this.views = new Array<T | null>(size).fill(null);
    } else {
      this.clear();
    }
  }

  clear(): void {
    this.views.fill(null);
  }

  /** The cached value of slot i if it was made for exactly (addr, len), else null. */
  get(i: number, addr: number, len: number): T | null {
    const v = this.views[i];
    return v !== null && this.addr[i] === addr && this.len[i] === len ? v : null;
  }

  set(i: number, addr: number, len: number, value: T | null): void {
    this.views[i] = value;
    this.addr[i] = addr;
    this.len[i] = len;
  }
}

/** The queue's descriptor table as resolved when the queue was enabled. */
export class DescriptorChainWalker {
  /** DataView over exactly the descriptor table (null while the rings are unmapped). */
  private table: DataView | null = null;
  /** Queue size (entries of the main table). */
  private size = 0;
  /** VIRTIO_RING_F_INDIRECT_DESC negotiated. */
  indirectAllowed = false;
  /** Buffers mapped for the current element (a buffer spanning regions maps to several views). */
  private mapped = 0;
  /** The last view map() added. */
  private lastView = NO_BYTES;
  /** Buffer views of main-table descriptors, by descriptor index. */
  private readonly buffers = new ViewCache<Uint8Array>();
  /** Indirect tables, by the index of the head descriptor pointing at them. */
  private readonly indirectTables = new ViewCache<DataView>();

  constructor(private readonly cursor: RegionCursor) {}

  /** Uses `table` (a DataView over exactly `size` descriptors) from now on; null unmaps. */
  setTable(table: DataView | null, size: number): void {
    this.table = table;
    if (table === null) return;
    this.size = size;
    this.buffers.resize(size);
    this.indirectTables.resize(size);
  }

  /**
   * Maps the chain starting at `head` into `elem` (which must be empty). Returns null on success
   * or the reason the chain is malformed.
   */
  walk(head: number, elem: VirtQueueElement): VirtQueueErrorKind | null {
    const table = this.table;
    if (table === null) return 'ring-unmapped';
    if (head >= this.size) return 'head-out-of-range';
    if (!this.cursor.sameLayout()) {
      this.buffers.clear();
      this.indirectTables.clear();
    }
    this.mapped = 0;
    const base = head * VRING_DESC_SIZE;
    const flags = table.getUint16(base + 12, true);
    if ((flags & INDIRECT) === 0) return this.walkTable(table, this.size, head, true, elem);

    // The head points at a table of descriptors; the chain then starts at its entry 0.
    if (!this.indirectAllowed) return 'indirect-not-negotiated';
    if ((flags & NEXT) !== 0) return 'indirect-with-next';
    const len = table.getUint32(base + 8, true);
    if (len === 0 || len % VRING_DESC_SIZE !== 0) return 'bad-indirect-length';
    const addr = joinAddress(table.getUint32(base, true), table.getUint32(base + 4, true));
    let indirect = this.indirectTables.get(head, addr, len);
    if (indirect === null) {
      const region = addr < 0 ? undefined : this.cursor.find(addr, len);
      if (region === undefined) return 'indirect-unmapped';
      indirect = regionSlice(region, addr, len);
      this.indirectTables.set(head, addr, len, indirect);
    }
    elem.indirect = true;
    return this.walkTable(indirect, len >>> 4, 0, false, elem);
  }

  /**
   * Follows the chain from entry `i` of `view` (`max` entries); `cached` says whether buffer views
   * may be cached by entry index (main table only: indirect tables come and go).
   */
  private walkTable(
    view: DataView,
    max: number,
    first: number,
    cached: boolean,
    elem: VirtQueueElement,
  ): VirtQueueErrorKind | null {
    const cache = this.buffers;
    const cacheViews = cache.views;
    const cacheAddr = cache.addr;
    const cacheLen = cache.len;
    const outSg = elem.outSg;
    const inSg = elem.inSg;
    // Counted in locals and stored once (the element is reset by the caller on error).
    let outNum = 0;
    let inNum = 0;
    let i = first;
    let count = 0;
    for (;;) {
      // More descriptors than the table holds means the chain loops.
      if (++count > max) return 'chain-too-long';
      const base = i * VRING_DESC_SIZE;
      const flags = view.getUint16(base + 12, true);
      if ((flags & INDIRECT) !== 0) return 'nested-indirect';
      const len = view.getUint32(base + 8, true);
      if (len === 0) return 'zero-length';
      const addr = joinAddress(view.getUint32(base, true), view.getUint32(base + 4, true));
      let sg: IOVector;
      if ((flags & WRITE) !== 0) {
        sg = inSg;
        inNum++;
      } else {
        if (inNum > 0) return 'readable-after-writable';
        sg = outSg;
        outNum++;
      }
      const hit = cached ? cacheViews[i] : null;
      if (hit !== null && cacheAddr[i] === addr && cacheLen[i] === len) {
        // One view, as when it was mapped; the element-wide limit still counts it.
        if (++this.mapped > VIRTQUEUE_MAX_SIZE) return 'chain-too-long';
        sg.add(hit);
      } else {
        const err = this.map(sg, addr, len);
        if (err !== null) return err;
        // Only a buffer that mapped to one view is cached.
        if (cached) cache.set(i, addr, len, this.lastView.length === len ? this.lastView : null);
      }
      if ((flags & NEXT) === 0) break;
      i = view.getUint16(base + 14, true);
      if (i >= max) return 'next-out-of-range';
    }
    elem.outNum = outNum;
    elem.inNum = inNum;
    return null;
  }

  /** Adds views of [addr, addr+len) to sg; a buffer may continue across adjacent regions. */
  private map(sg: IOVector, addr: number, len: number): VirtQueueErrorKind | null {
    if (addr < 0) return 'buffer-unmapped';
    let a = addr;
    let remaining = len;
    while (remaining > 0) {
      const region = this.cursor.find(a, 0);
      if (region === undefined) return 'buffer-unmapped';
      if (++this.mapped > VIRTQUEUE_MAX_SIZE) return 'chain-too-long';
      const start = a - region.gpa;
      const n = Math.min(remaining, region.end - a);
      const bytes = region.bytes;
      // The constructor is cheaper than subarray().
      const v = new Uint8Array(bytes.buffer, bytes.byteOffset + start, n);
      sg.add(v);
      this.lastView = v;
      a += n;
      remaining -= n;
    }
    return null;
  }
}
