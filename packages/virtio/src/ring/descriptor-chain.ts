/**
 * Walking one split-ring descriptor chain into a VirtQueueElement (QEMU virtqueue_split_pop and
 * virtqueue_map_desc). Every guest-supplied index, length and address is checked before use; a
 * malformed chain yields an error kind and nothing is written to guest memory.
 */
import type { IOVector } from '@vmkit/core';
import { VIRTQUEUE_MAX_SIZE, VRING_DESC_SIZE, VringDescFlag } from '../constants.js';
import { joinAddress, type RegionCursor } from './guest-regions.js';
import type { VirtQueueElement } from './virtqueue-element.js';
import type { VirtQueueErrorKind } from './virtqueue-error.js';

const { NEXT, WRITE, INDIRECT } = VringDescFlag;
const NO_BYTES: Uint8Array = new Uint8Array(0);

/** The queue's descriptor table as resolved when the queue was enabled. */
export class DescriptorChainWalker {
  /** DataView of the region holding the descriptor table, and the table's offset in it. */
  tableView: DataView | null = null;
  tableOffset = 0;
  /** Queue size (entries of the main table). */
  private sizeValue = 0;
  /** VIRTIO_RING_F_INDIRECT_DESC negotiated. */
  indirectAllowed = false;
  /** Buffers mapped for the current element (a buffer spanning regions maps to several views). */
  private mapped = 0;

  /**
   * The view last mapped for each main-table descriptor, with the address and length it was
   * mapped for. Drivers reuse descriptors for the same buffers, so a descriptor read (once) with
   * the same address and length in the same memory layout gets the same immutable view instead
   * of a new one; anything else is mapped afresh. Emptied when the memory layout changes.
   */
  private cacheAddr = new Float64Array(0);
  private cacheLen = new Uint32Array(0);
  private cacheView: (Uint8Array | null)[] = [];
  /** The last view map() added. */
  private lastView = NO_BYTES;

  constructor(private readonly cursor: RegionCursor) {}

  /** Queue size (entries of the main table). */
  get size(): number {
    return this.sizeValue;
  }

  set size(size: number) {
    if (size !== this.sizeValue || this.cacheView.length !== size) {
      this.sizeValue = size;
      this.cacheAddr = new Float64Array(size);
      this.cacheLen = new Uint32Array(size);
      this.cacheView = new Array<Uint8Array | null>(size).fill(null);
    } else {
      this.clearCache();
    }
  }

  /** Forgets every cached view (memory layout changed, queue re-enabled). */
  clearCache(): void {
    this.cacheView.fill(null);
  }

  /**
   * Maps the chain starting at `head` into `elem` (which must be empty). Returns null on success
   * or the reason the chain is malformed.
   */
  walk(head: number, elem: VirtQueueElement): VirtQueueErrorKind | null {
    let view = this.tableView;
    if (view === null) return 'ring-unmapped';
    if (head >= this.sizeValue) return 'head-out-of-range';
    if (!this.cursor.sameLayout()) this.clearCache();
    let offset = this.tableOffset;
    let max = this.sizeValue;
    let i = head;
    let cached = true;
    this.mapped = 0;

    let flags = view.getUint16(offset + i * VRING_DESC_SIZE + 12, true);
    if ((flags & INDIRECT) !== 0) {
      // The head points at a table of descriptors; the chain then starts at its entry 0.
      if (!this.indirectAllowed) return 'indirect-not-negotiated';
      if ((flags & NEXT) !== 0) return 'indirect-with-next';
      const base = offset + i * VRING_DESC_SIZE;
      const len = view.getUint32(base + 8, true);
      if (len === 0 || len % VRING_DESC_SIZE !== 0) return 'bad-indirect-length';
      const addr = joinAddress(view.getUint32(base, true), view.getUint32(base + 4, true));
      const region = addr < 0 ? undefined : this.cursor.find(addr, len);
      if (region === undefined) return 'indirect-unmapped';
      view = region.dataView;
      offset = addr - region.gpa;
      max = len / VRING_DESC_SIZE;
      i = 0;
      cached = false;
      elem.indirect = true;
    }

    let count = 0;
    for (;;) {
      // More descriptors than the table holds means the chain loops.
      if (++count > max) return 'chain-too-long';
      const base = offset + i * VRING_DESC_SIZE;
      flags = view.getUint16(base + 12, true);
      if ((flags & INDIRECT) !== 0) return 'nested-indirect';
      const len = view.getUint32(base + 8, true);
      if (len === 0) return 'zero-length';
      const addr = joinAddress(view.getUint32(base, true), view.getUint32(base + 4, true));
      let sg: IOVector;
      if ((flags & WRITE) !== 0) {
        sg = elem.inSg;
        elem.inNum++;
      } else {
        if (elem.inNum > 0) return 'readable-after-writable';
        sg = elem.outSg;
        elem.outNum++;
      }
      if (cached) {
        const hit = this.cacheView[i];
        if (hit !== null && this.cacheAddr[i] === addr && this.cacheLen[i] === len) {
          // One view, as when it was mapped; the element-wide limit still counts it.
          if (++this.mapped > VIRTQUEUE_MAX_SIZE) return 'chain-too-long';
          sg.add(hit);
        } else {
          const err = this.map(sg, addr, len);
          if (err !== null) return err;
          // Only a buffer that mapped to one view is cached.
          this.cacheView[i] = this.lastView.length === len ? this.lastView : null;
          this.cacheAddr[i] = addr;
          this.cacheLen[i] = len;
        }
      } else {
        const err = this.map(sg, addr, len);
        if (err !== null) return err;
      }
      if ((flags & NEXT) === 0) return null;
      i = view.getUint16(base + 14, true);
      if (i >= max) return 'next-out-of-range';
    }
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
