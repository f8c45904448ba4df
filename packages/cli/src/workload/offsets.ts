/**
 * Which operation and block a job does next (fio's rw/rwmixread and its offset generator):
 * sequential jobs walk the region and wrap, random ones draw blocks uniformly from the seeded
 * PRNG (fio's `norandommap`). Blocks with a request in flight are skipped, so no two requests of
 * a job overlap and verification never races a read against a write of the same block.
 */
import type { ReadWrite } from '../config/types.js';
import { Prng } from './prng.js';

export type IoDirection = 'read' | 'write';

export class OffsetGenerator {
  readonly prng: Prng;
  private cursor = 0;
  private readonly random: boolean;

  constructor(
    readonly rw: ReadWrite,
    readonly rwmixread: number,
    /** Blocks in the region. */
    readonly blocks: number,
    seed: number,
  ) {
    this.prng = new Prng(seed);
    this.random = rw.startsWith('rand');
  }

  /** The direction of the next request. */
  nextDirection(): IoDirection {
    switch (this.rw) {
      case 'read':
      case 'randread':
        return 'read';
      case 'write':
      case 'randwrite':
        return 'write';
      case 'randrw':
        return this.prng.chance(this.rwmixread) ? 'read' : 'write';
    }
  }

  /**
   * The next block not in `busy`; -1 only when every block is busy (callers keep fewer requests
   * in flight than there are blocks).
   */
  nextBlock(busy: ReadonlySet<number>): number {
    const n = this.blocks;
    let b: number;
    if (this.random) {
      b = this.prng.below(n);
    } else {
      b = this.cursor;
      this.cursor = b + 1 === n ? 0 : b + 1;
    }
    for (let tries = 0; tries < n; tries++) {
      if (!busy.has(b)) return b;
      b = b + 1 === n ? 0 : b + 1;
      if (!this.random) this.cursor = b + 1 === n ? 0 : b + 1;
    }
    return -1;
  }
}
