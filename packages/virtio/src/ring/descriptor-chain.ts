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

/** The queue's descriptor table as resolved when the queue was enabled. */
export class DescriptorChainWalker {
  /** DataView of the region holding the descriptor table, and the table's offset in it. */
  tableView: DataView | null = null;
  tableOffset = 0;
  /** Queue size (entries of the main table). */
  size = 0;
  /** VIRTIO_RING_F_INDIRECT_DESC negotiated. */
  indirectAllowed = false;
  /** Buffers mapped for the current element (a buffer spanning regions maps to several views). */
  private mapped = 0;

  constructor(private readonly cursor: RegionCursor) {}

  /**
   * Maps the chain starting at `head` into `elem` (which must be empty). Returns null on success
   * or the reason the chain is malformed.
   */
  walk(head: number, elem: VirtQueueElement): VirtQueueErrorKind | null {
    let view = this.tableView;
    if (view === null) return 'ring-unmapped';
    if (head >= this.size) return 'head-out-of-range';
    let offset = this.tableOffset;
    let max = this.size;
    let i = head;
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
      let err: VirtQueueErrorKind | null;
      if ((flags & WRITE) !== 0) {
        err = this.map(elem.inSg, addr, len);
        elem.inNum++;
      } else {
        if (elem.inNum > 0) return 'readable-after-writable';
        err = this.map(elem.outSg, addr, len);
        elem.outNum++;
      }
      if (err !== null) return err;
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
      sg.add(region.bytes.subarray(start, start + n));
      a += n;
      remaining -= n;
    }
    return null;
  }
}
