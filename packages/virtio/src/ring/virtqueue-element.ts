/**
 * One popped descriptor chain (QEMU VirtQueueElement): the device-readable buffers as `outSg`
 * and the device-writable ones as `inSg`, both zero-copy views over guest memory.
 */
import { IOVector } from '@vmkit/core';

export class VirtQueueElement {
  /** Head descriptor index: the id published in the used ring. */
  head = 0;
  /** Index of the queue it came from. */
  queueIndex = 0;
  /** Device-readable buffers (driver → device). */
  readonly outSg = new IOVector();
  /** Device-writable buffers (device → driver). */
  readonly inSg = new IOVector();
  /** Number of device-readable descriptors in the chain. */
  outNum = 0;
  /** Number of device-writable descriptors in the chain. */
  inNum = 0;
  /** Whether the chain came from an indirect table. */
  indirect = false;
  /** @internal the queue's reset epoch when popped; a push from an older epoch is dropped. */
  epoch = -1;
  /**
   * The last pop into this element left its vectors exactly as the pop before it did (same queue,
   * same head, every descriptor unchanged, nothing reset in between): whatever the device derived
   * from the buffers' layout then (not their contents) still holds. False after any other pop.
   */
  reused = false;
  /** @internal the walker's record of the chain the vectors were filled from (null: none). */
  chain: object | null = null;
  /** @internal the record's version when the vectors were filled from it. */
  chainStamp = 0;

  /** Total device-readable bytes. */
  get outLen(): number {
    return this.outSg.size;
  }

  /** Total device-writable bytes. */
  get inLen(): number {
    return this.inSg.size;
  }

  /**
   * Copies device-readable bytes [offset, offset + dest.length) into dest, across descriptor
   * boundaries; returns the bytes copied (fewer at the end of the stream).
   */
  readOut(offset: number, dest: Uint8Array): number {
    const size = this.outSg.size;
    if (offset >= size || dest.length === 0) return 0;
    const n = Math.min(dest.length, size - offset);
    return this.outSg.copyTo(n === dest.length ? dest : dest.subarray(0, n), offset, n);
  }

  /**
   * Copies src into the device-writable stream at offset, across descriptor boundaries; returns
   * the bytes copied (fewer at the end of the stream).
   */
  writeIn(offset: number, src: Uint8Array): number {
    const size = this.inSg.size;
    if (offset >= size || src.length === 0) return 0;
    const n = Math.min(src.length, size - offset);
    return this.inSg.copyFrom(n === src.length ? src : src.subarray(0, n), offset);
  }

  /** Empties the element for reuse. */
  reset(): void {
    this.outSg.reset();
    this.inSg.reset();
    this.outNum = 0;
    this.inNum = 0;
    this.head = 0;
    this.indirect = false;
    this.epoch = -1;
    this.reused = false;
    this.chain = null;
  }
}
