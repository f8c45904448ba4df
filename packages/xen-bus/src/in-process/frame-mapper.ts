import { Errno, type GuestMemory, type GuestMemoryRegion } from '@vmkit/core';
import { XEN_PAGE_SIZE } from '../constants.js';

/** A live contiguous view over guest frames; release() lets the frames be re-laid-out again. */
export interface FrameView {
  readonly bytes: Uint8Array;
  release(): void;
}

/**
 * Lays guest frames out contiguously for a mapping (the job the MMU does for a real backend).
 *
 * JS cannot alias one buffer at two addresses, so when the frames are not already adjacent in
 * one guest memory region, their contents move to a fresh contiguous buffer and the guest's
 * memory is re-pointed at it page by page ("re-backing"): the guest and the mapping then share
 * the same bytes, and accesses through GuestMemory stay coherent. Views the guest took of those
 * pages earlier no longer alias them; that is why frames held by a live mapping are pinned and
 * never re-backed again (-EBUSY) until the mapping is released.
 */
export class FrameMapper {
  private readonly pins = new Map<number, number>();

  constructor(private readonly memory: GuestMemory) {}

  /** True when the frame is backed by guest memory (entirely inside one region). */
  hasFrame(frame: number): boolean {
    return (
      Number.isSafeInteger(frame) &&
      frame >= 0 &&
      this.memory.tryView(frame * XEN_PAGE_SIZE, XEN_PAGE_SIZE) !== undefined
    );
  }

  /** Whether any live mapping holds the frame. */
  isPinned(frame: number): boolean {
    return this.pins.has(frame);
  }

  /** A contiguous view of `frames`, or -EFAULT (not guest memory), -EINVAL (empty or duplicate), -EBUSY. */
  map(frames: readonly number[]): FrameView | number {
    const n = frames.length;
    if (n === 0) return -Errno.EINVAL;
    for (const f of frames) if (!this.hasFrame(f)) return -Errno.EFAULT;
    if (new Set(frames).size !== n) return -Errno.EINVAL;

    let bytes: Uint8Array | undefined;
    if (frames.every((f, i) => f === frames[0] + i)) {
      bytes = this.memory.tryView(frames[0] * XEN_PAGE_SIZE, n * XEN_PAGE_SIZE);
    }
    if (bytes === undefined) {
      if (frames.some((f) => this.pins.has(f))) return -Errno.EBUSY;
      bytes = this.reback(frames);
    }
    for (const f of frames) this.pins.set(f, (this.pins.get(f) ?? 0) + 1);
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        for (const f of frames) {
          const c = (this.pins.get(f) ?? 1) - 1;
          if (c === 0) this.pins.delete(f);
          else this.pins.set(f, c);
        }
      },
    };
  }

  private reback(frames: readonly number[]): Uint8Array {
    const size = frames.length * XEN_PAGE_SIZE;
    const shared = frames.some((f) => this.regionOf(f).shared);
    const bytes = new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    frames.forEach((frame, i) => {
      const page = bytes.subarray(i * XEN_PAGE_SIZE, (i + 1) * XEN_PAGE_SIZE);
      this.memory.read(frame * XEN_PAGE_SIZE, page);
      this.replaceFrame(frame, page);
    });
    return bytes;
  }

  private regionOf(frame: number): GuestMemoryRegion {
    const gpa = frame * XEN_PAGE_SIZE;
    const r = this.memory.regions.find((x) => x.gpa <= gpa && gpa + XEN_PAGE_SIZE <= x.end);
    if (r === undefined) throw new Error(`frame ${frame} vanished from guest memory`);
    return r;
  }

  /** Splits the region holding `frame` so that the frame is backed by `page`. */
  private replaceFrame(frame: number, page: Uint8Array): void {
    const r = this.regionOf(frame);
    const gpa = frame * XEN_PAGE_SIZE;
    const offset = gpa - r.gpa;
    this.memory.removeRegion(r);
    if (offset > 0) this.memory.addRegion(r.gpa, r.bytes.subarray(0, offset), r.name);
    this.memory.addRegion(gpa, page, `${r.name}:frame-0x${frame.toString(16)}`);
    if (offset + XEN_PAGE_SIZE < r.size) {
      this.memory.addRegion(gpa + XEN_PAGE_SIZE, r.bytes.subarray(offset + XEN_PAGE_SIZE), r.name);
    }
  }
}
