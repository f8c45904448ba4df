/**
 * The device's reads of a split ring's driver area (QEMU vring_avail_idx, vring_avail_ring,
 * vring_avail_flags, vring_get_used_event) and its position in it: `last` is the next entry the
 * device consumes, `shadow` the avail.idx read last. avail.idx is read once and then trusted until
 * the device has consumed up to it (no double fetch).
 */
import { usedEventOffset } from './layout.js';

export class AvailRing {
  /** DataView over exactly the avail ring (null while the rings are unmapped). */
  view: DataView | null = null;
  /** Next avail index the device will consume (last_avail_idx). */
  last = 0;
  /** avail.idx as last read (shadow_avail_idx). */
  shadow = 0;
  /** The size the ring was mapped with (ring accesses stay inside the view). */
  size = 0;
  /** size - 1 when it is a power of two (ring slot = index & mask), else -1. */
  private mask = -1;

  /** Uses `view` (exactly `availRingSize(size)` bytes) from now on. */
  map(view: DataView, size: number): void {
    this.view = view;
    this.size = size;
    this.mask = (size & (size - 1)) === 0 ? size - 1 : -1;
  }

  unmap(): void {
    this.view = null;
  }

  /** Continues at `idx`, as if avail.idx had been read there. */
  restore(idx: number): void {
    this.last = this.shadow = idx & 0xffff;
  }

  /**
   * Reads avail.idx into `shadow`; false (nothing changed) when it claims more entries than the
   * ring holds: the caller fails the queue.
   */
  fetchIdx(): boolean {
    const idx = this.view!.getUint16(2, true);
    if (((idx - this.last) & 0xffff) > this.size) return false;
    this.shadow = idx;
    return true;
  }

  /** The head of entry `last` (which must be available), consumed. */
  takeHead(): number {
    const last = this.last;
    const mask = this.mask;
    const slot = mask >= 0 ? last & mask : last % this.size;
    this.last = (last + 1) & 0xffff;
    return this.view!.getUint16(4 + 2 * slot, true);
  }

  /** avail.flags (VRING_AVAIL_F_NO_INTERRUPT). */
  flags(): number {
    return this.view!.getUint16(0, true);
  }

  /** used_event: the used index the guest wants an interrupt for (EVENT_IDX). */
  usedEvent(): number {
    return this.view!.getUint16(usedEventOffset(this.size), true);
  }
}
