/**
 * What the last successful walk from one head of the main descriptor table read and produced: the
 * raw descriptors (four 32-bit words each, in chain order) and the element's buffer views. Drivers
 * re-offer the same chains (same descriptors, same buffers) again and again; when every descriptor
 * of the chain still holds exactly the recorded words, walking it again would read the same values
 * and map the same views, so the recorded result is used instead (see DescriptorChainWalker).
 */
export class ChainRecord {
  /** Raw words of each descriptor, in chain order: addr low, addr high, len, flags | next << 16. */
  words = new Int32Array(16);
  /** Descriptor index of each chain position. */
  indices = new Int32Array(4);
  /** Descriptors in the chain; 0 = nothing recorded. */
  count = 0;
  /** The element's device-readable and device-writable views. */
  readonly outViews: Uint8Array[] = [];
  readonly inViews: Uint8Array[] = [];
  outNum = 0;
  inNum = 0;
  /**
   * Bumped whenever the record is rewritten or dropped: an element filled from it remembers the
   * stamp, so it is known to still hold exactly these views only while the stamp is unchanged.
   */
  stamp = 0;

  /** Room for `n` descriptors (keeps what was written so far). */
  reserve(n: number): void {
    if (n <= this.indices.length) return;
    const size = Math.max(n, this.indices.length * 2);
    const words = new Int32Array(size * 4);
    words.set(this.words);
    const indices = new Int32Array(size);
    indices.set(this.indices);
    this.words = words;
    this.indices = indices;
  }

  /** Forgets the chain (the next walk from this head is a full one). */
  drop(): void {
    if (this.count === 0) return;
    this.count = 0;
    this.stamp++;
  }
}
