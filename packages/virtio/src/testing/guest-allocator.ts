/**
 * A guest-physical allocator for test drivers: first-fit over a free list, with alignment, so a
 * driver can place rings and buffers anywhere inside the range it is given (and free them again).
 */
export class GuestAllocator {
  /** Free blocks [start, end), sorted and coalesced. */
  private free: { start: number; end: number }[];
  private readonly sizes = new Map<number, { start: number; end: number }>();

  constructor(
    /** First guest-physical address managed. */
    readonly base: number,
    /** Bytes managed. */
    readonly size: number,
  ) {
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`GuestAllocator: bad range ${base} + ${size}`);
    }
    this.free = [{ start: base, end: base + size }];
  }

  /** Allocates `size` bytes aligned to `align` (a power of two); throws when out of space. */
  alloc(size: number, align = 16): number {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new RangeError(`GuestAllocator.alloc: bad size ${size}`);
    if (!Number.isSafeInteger(align) || align <= 0)
      throw new RangeError(`GuestAllocator.alloc: bad alignment ${align}`);
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i];
      const addr = Math.ceil(block.start / align) * align;
      if (addr + size > block.end) continue;
      const pieces: { start: number; end: number }[] = [];
      if (addr > block.start) pieces.push({ start: block.start, end: addr });
      if (addr + size < block.end) pieces.push({ start: addr + size, end: block.end });
      this.free.splice(i, 1, ...pieces);
      // Remember the alignment padding too so freeing returns all of it.
      this.sizes.set(addr, { start: addr, end: addr + size });
      return addr;
    }
    throw new RangeError(`GuestAllocator: out of guest memory allocating ${size} bytes`);
  }

  /** Returns an allocation made by `alloc`. */
  release(addr: number): void {
    const block = this.sizes.get(addr);
    if (block === undefined)
      throw new RangeError(`GuestAllocator.release: 0x${addr.toString(16)} was not allocated`);
    this.sizes.delete(addr);
    let i = 0;
    while (i < this.free.length && this.free[i].start < block.start) i++;
    this.free.splice(i, 0, { ...block });
    // Coalesce with neighbours.
    const merged: { start: number; end: number }[] = [];
    for (const b of this.free) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last.end === b.start) last.end = b.end;
      else merged.push({ ...b });
    }
    this.free = merged;
  }

  /** Bytes currently free. */
  get available(): number {
    let n = 0;
    for (const b of this.free) n += b.end - b.start;
    return n;
  }

  /** Live allocations. */
  get allocations(): number {
    return this.sizes.size;
  }
}
