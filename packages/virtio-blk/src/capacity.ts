/**
 * The disk size as virtio_blk_sect_range_ok reads it (blk_get_geometry: 512-byte sectors, 0
 * without medium), without asking the BlockBackend on every request.
 */
import type { BlockBackend, BlockDriverState } from '@vmkit/block-layer';

export class CapacityCache {
  /** The root node and length `sectors` was computed for (null: nothing cached). */
  private node: BlockDriverState | null = null;
  private bytes = -1;
  private sectors = 0;

  constructor(private readonly blk: BlockBackend) {}

  /**
   * `blk.nbSectors()` (0 on error). The cached value stands while the BlockBackend's root is the
   * same node with the same length: a resize, a root replaced by a graph change or a medium
   * change all fail that check. virtio-blk has no tray (no isTrayOpen in its BlockDevOps) and a
   * root node cannot be deleted, so node and length are all nbSectors() depends on for it.
   */
  totalSectors(): number {
    const bs = this.blk.bs;
    if (bs !== null && bs === this.node && bs.totalBytes === this.bytes) return this.sectors;
    const n = this.blk.nbSectors();
    // No medium (an error): not cached, asked again next time.
    if (n < 0 || bs === null) {
      this.node = null;
      return 0;
    }
    this.node = bs;
    this.bytes = bs.totalBytes;
    this.sectors = n;
    return n;
  }
}
