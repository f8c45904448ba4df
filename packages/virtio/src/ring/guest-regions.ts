/**
 * Region lookup for the virtqueue hot path. Goes straight to `GuestMemory.regions` (each with its
 * own DataView) so reading a descriptor or mapping a buffer allocates nothing but the buffer's
 * view, and an address beyond 2^53 or outside every region is reported as a value, never thrown.
 */
import type { GuestMemory, GuestMemoryRegion } from '@vmkit/core';

/** Largest 32-bit high half that keeps `hi * 2^32 + lo` a safe integer. */
const MAX_SAFE_HIGH = 0x1fffff;

/** A 64-bit guest address from its halves as a number; -1 when not representable (never mapped). */
export function joinAddress(lo: number, hi: number): number {
  if (hi > MAX_SAFE_HIGH) return -1;
  return hi * 0x1_0000_0000 + lo;
}

/** Finds the region holding [gpa, gpa+len) entirely, remembering the last hit (rings usually live in one region). */
export class RegionCursor {
  private last: GuestMemoryRegion | undefined;
  /** `memory.regions` when `last` was found: the array is replaced whenever the layout changes. */
  private layout: readonly GuestMemoryRegion[] | null = null;

  constructor(private memory: GuestMemory | null = null) {}

  setMemory(memory: GuestMemory | null): void {
    this.memory = memory;
    this.last = undefined;
    this.layout = null;
  }

  /**
   * Whether the memory layout is the one seen at the previous call (one identity comparison).
   * When it changed, the remembered region is forgotten and false is returned, so callers drop
   * whatever they derived from the old layout (cached buffer views).
   */
  sameLayout(): boolean {
    const memory = this.memory;
    const regions = memory === null ? null : memory.regions;
    if (regions === this.layout) return true;
    this.layout = regions;
    this.last = undefined;
    return false;
  }

  /** The region containing all of [gpa, gpa+len), or undefined. `len` may be 0 (then gpa must be inside). */
  find(gpa: number, len: number): GuestMemoryRegion | undefined {
    if (gpa < 0) return undefined;
    const end = gpa + len;
    const last = this.last;
    if (last !== undefined && gpa >= last.gpa && end <= last.end && gpa < last.end) return last;
    const memory = this.memory;
    if (memory === null) return undefined;
    const regions = memory.regions;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i];
      if (gpa >= r.gpa && gpa < r.end && end <= r.end) {
        this.last = r;
        return r;
      }
    }
    return undefined;
  }

  /** The region containing the byte at gpa (for ranges that continue in the next region). */
  findByte(gpa: number): GuestMemoryRegion | undefined {
    return this.find(gpa, 1);
  }
}
