/**
 * Walking one split-ring descriptor chain into a VirtQueueElement (QEMU virtqueue_split_pop and
 * virtqueue_map_desc). Every guest-supplied index, length and address is checked before use; a
 * malformed chain yields an error kind and nothing is written to guest memory.
 *
 * Hot path: descriptor tables are read through DataViews over exactly the table, so every offset
 * is a small integer (a region offset can exceed 31 bits and would make the loop's arithmetic
 * floating-point), and buffers are mapped once per descriptor slot and reused while the guest
 * keeps the slot's address and length (see ViewCache). A chain whose descriptors are word for
 * word those of the last walk from its head is not walked again: the recorded views are used
 * (see ChainRecord). Each descriptor word is still read exactly once per pop.
 */
import type { GuestMemoryRegion, IOVector } from '@vmkit/core';
import { VIRTQUEUE_MAX_SIZE, VRING_DESC_SIZE, VringDescFlag } from '../constants.js';
import { ChainRecord } from './chain-record.js';
import { joinAddress, type RegionCursor } from './guest-regions.js';
import type { VirtQueueElement } from './virtqueue-element.js';
import type { VirtQueueErrorKind } from './virtqueue-error.js';

const { NEXT, WRITE, INDIRECT } = VringDescFlag;
const NO_BYTES: Uint8Array = new Uint8Array(0);
/** Typed-array words are in host order; descriptor words are little-endian. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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
  /** The last successful direct walk from each head (null until there is one). */
  private records: (ChainRecord | null)[] = [];
  /** The table as host-order words when that equals little-endian and it is 4-byte aligned. */
  private tableWords: Int32Array | null = null;

  constructor(private readonly cursor: RegionCursor) {}

  /** Uses `table` (a DataView over exactly `size` descriptors) from now on; null unmaps. */
  setTable(table: DataView | null, size: number): void {
    this.table = table;
    this.dropRecords();
    this.tableWords = null;
    if (table === null) return;
    this.size = size;
    this.buffers.resize(size);
    this.indirectTables.resize(size);
    if (this.records.length !== size) this.records = new Array<ChainRecord | null>(size).fill(null);
    if (HOST_LITTLE_ENDIAN && table.byteOffset % 4 === 0) {
      this.tableWords = new Int32Array(table.buffer, table.byteOffset, size * 4);
    }
  }

  /**
   * Maps the chain starting at `head` into `elem` (whatever it held is replaced, or kept when it
   * is exactly this chain: see VirtQueueElement.reused). Returns null on success
   * or the reason the chain is malformed.
   */
  walk(head: number, elem: VirtQueueElement): VirtQueueErrorKind | null {
    const table = this.table;
    if (table === null) return 'ring-unmapped';
    if (head >= this.size) return 'head-out-of-range';
    if (!this.cursor.sameLayout()) {
      this.buffers.clear();
      this.indirectTables.clear();
      this.dropRecords();
    }
    let rec = this.records[head];
    // Every descriptor of the chain still holds the words of the last walk: reading them again
    // would give the same chain and the same views.
    if (rec !== null && rec.count !== 0 && this.matches(rec, table)) {
      this.fill(rec, elem);
      return null;
    }
    elem.reset();
    this.mapped = 0;
    const base = head * VRING_DESC_SIZE;
    const flags = table.getUint16(base + 12, true);
    if ((flags & INDIRECT) === 0) {
      if (rec === null) rec = this.records[head] = new ChainRecord();
      return this.walkTable(table, this.size, head, rec, elem);
    }
    rec?.drop();

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
    return this.walkTable(indirect, len >>> 4, 0, null, elem);
  }

  /** Whether the chain recorded in `rec` is still in the table, word for word (each read once). */
  private matches(rec: ChainRecord, table: DataView): boolean {
    const n = rec.count;
    const idx = rec.indices;
    const rw = rec.words;
    const tw = this.tableWords;
    if (tw !== null) {
      for (let k = 0; k < n; k++) {
        const t = idx[k] << 2;
        const r = k << 2;
        if (
          tw[t] !== rw[r] ||
          tw[t + 1] !== rw[r + 1] ||
          tw[t + 2] !== rw[r + 2] ||
          tw[t + 3] !== rw[r + 3]
        ) {
          return false;
        }
      }
      return true;
    }
    for (let k = 0; k < n; k++) {
      const t = idx[k] * VRING_DESC_SIZE;
      const r = k << 2;
      if (
        table.getInt32(t, true) !== rw[r] ||
        table.getInt32(t + 4, true) !== rw[r + 1] ||
        table.getInt32(t + 8, true) !== rw[r + 2] ||
        table.getInt32(t + 12, true) !== rw[r + 3]
      ) {
        return false;
      }
    }
    return true;
  }

  /**
   * Gives `elem` the recorded chain. An element last filled from this very record version still
   * holds exactly its views and is left alone (`reused`: what the device derived from them holds).
   */
  private fill(rec: ChainRecord, elem: VirtQueueElement): void {
    if (elem.chain === rec && elem.chainStamp === rec.stamp) {
      elem.reused = true;
      return;
    }
    elem.reset();
    const outSg = elem.outSg;
    const inSg = elem.inSg;
    const outViews = rec.outViews;
    const inViews = rec.inViews;
    for (let i = 0; i < outViews.length; i++) outSg.add(outViews[i]);
    for (let i = 0; i < inViews.length; i++) inSg.add(inViews[i]);
    elem.outNum = rec.outNum;
    elem.inNum = rec.inNum;
    elem.chain = rec;
    elem.chainStamp = rec.stamp;
  }

  /** Records the views `elem` got from a successful walk of `rec`'s chain of `count` descriptors. */
  private keep(rec: ChainRecord, count: number, elem: VirtQueueElement): void {
    rec.count = count;
    rec.outNum = elem.outNum;
    rec.inNum = elem.inNum;
    copyViews(elem.outSg.views, rec.outViews);
    copyViews(elem.inSg.views, rec.inViews);
    elem.chain = rec;
    elem.chainStamp = rec.stamp;
  }

  private dropRecords(): void {
    const records = this.records;
    for (let i = 0; i < records.length; i++) records[i]?.drop();
  }

  /**
   * Follows the chain from entry `i` of `view` (`max` entries). `rec` (main table only: indirect
   * tables come and go) receives the descriptors as read and, on success, the views; buffer views
   * are then also cached by entry index.
   */
  private walkTable(
    view: DataView,
    max: number,
    first: number,
    rec: ChainRecord | null,
    elem: VirtQueueElement,
  ): VirtQueueErrorKind | null {
    const cached = rec !== null;
    // Rewritten from here: elements filled from the old version must not take it for theirs.
    if (rec !== null) {
      rec.count = 0;
      rec.stamp++;
    }
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
      // Each word of the descriptor is read once; flags and next share the last one.
      const lo = view.getUint32(base, true);
      const hi = view.getUint32(base + 4, true);
      const len = view.getUint32(base + 8, true);
      const flagsNext = view.getUint32(base + 12, true);
      if (rec !== null) {
        const k = count - 1;
        if (k >= rec.indices.length) rec.reserve(count);
        const w = rec.words;
        const r = k << 2;
        w[r] = lo;
        w[r + 1] = hi;
        w[r + 2] = len;
        w[r + 3] = flagsNext;
        rec.indices[k] = i;
      }
      const flags = flagsNext & 0xffff;
      if ((flags & INDIRECT) !== 0) return 'nested-indirect';
      if (len === 0) return 'zero-length';
      const addr = joinAddress(lo, hi);
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
      i = flagsNext >>> 16;
      if (i >= max) return 'next-out-of-range';
    }
    elem.outNum = outNum;
    elem.inNum = inNum;
    if (rec !== null) this.keep(rec, count, elem);
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

/** dest = a copy of src (dest keeps its array). */
function copyViews(src: readonly Uint8Array[], dest: Uint8Array[]): void {
  const n = src.length;
  for (let i = 0; i < n; i++) dest[i] = src[i];
  if (dest.length !== n) dest.length = n;
}
