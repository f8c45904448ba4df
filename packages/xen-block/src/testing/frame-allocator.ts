/**
 * A guest page-frame allocator for test drivers: first-fit runs of contiguous frames inside a
 * range the driver was given. Frame n is guest-physical [n * 4096, (n + 1) * 4096).
 */
export class GuestFrameAllocator {
  private readonly used: Uint8Array;

  constructor(
    /** First frame managed. */
    readonly first: number,
    /** Frames managed. */
    readonly count: number,
  ) {
    if (!Number.isSafeInteger(first) || first < 0 || !Number.isSafeInteger(count) || count <= 0) {
      throw new RangeError(`GuestFrameAllocator: bad frame range ${first} + ${count}`);
    }
    this.used = new Uint8Array(count);
  }

  /** `n` contiguous free frames (the first one's number); throws RangeError when none are left. */
  alloc(n = 1): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`GuestFrameAllocator.alloc: bad count ${n}`);
    let run = 0;
    for (let i = 0; i < this.count; i++) {
      run = this.used[i] === 0 ? run + 1 : 0;
      if (run === n) {
        const start = i - n + 1;
        this.used.fill(1, start, i + 1);
        return this.first + start;
      }
    }
    throw new RangeError(`GuestFrameAllocator: no ${n} contiguous free frame(s) left`);
  }

  /** Returns `n` frames starting at `frame`; throws RangeError for frames not allocated. */
  free(frame: number, n = 1): void {
    const start = frame - this.first;
    if (!Number.isSafeInteger(start) || start < 0 || start + n > this.count) {
      throw new RangeError(`GuestFrameAllocator.free: frame ${frame} is outside the range`);
    }
    for (let i = start; i < start + n; i++) {
      if (this.used[i] === 0)
        throw new RangeError(`GuestFrameAllocator.free: frame ${this.first + i} is not allocated`);
      this.used[i] = 0;
    }
  }

  /** Frames in use. */
  get allocated(): number {
    let n = 0;
    for (const u of this.used) n += u;
    return n;
  }
}
