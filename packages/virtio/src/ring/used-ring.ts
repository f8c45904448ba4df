/**
 * The device's writes to a split ring's used area (QEMU virtqueue_fill, virtqueue_flush,
 * vring_used_flags_*, vring_set_avail_event) and the `signalled_used` bookkeeping of
 * virtio_split_should_notify: which used index the guest last heard about.
 *
 * Elements are written first and made visible by one used.idx write afterwards, so a batch of
 * completions costs one index update (ordering: elements, then index, then the notify decision).
 */
import { VRING_USED_F_NO_NOTIFY } from '../constants.js';
import { availEventOffset, vringNeedEvent } from './layout.js';

export class UsedRing {
  /** DataView over exactly the used ring (null while the rings are unmapped). */
  view: DataView | null = null;
  /** Next used index the device will publish (QEMU used_idx). */
  idx = 0;
  /** Elements written after `idx` and not yet made visible by `flush`. */
  unpublished = 0;
  /** The size the ring was mapped with. */
  private size = 0;
  /** size - 1 when it is a power of two (ring slot = index & mask), else -1. */
  private mask = -1;
  /** used.idx when the guest was last interrupted, valid while `signalledValid` (signalled_used). */
  private signalled = 0;
  private signalledValid = false;

  /** Uses `view` (exactly `usedRingSize(size)` bytes) from now on. */
  map(view: DataView, size: number): void {
    this.view = view;
    this.size = size;
    this.mask = (size & (size - 1)) === 0 ? size - 1 : -1;
  }

  unmap(): void {
    this.view = null;
  }

  /** Back to index 0 with nothing pending (virtio_reset). */
  reset(): void {
    this.idx = 0;
    this.unpublished = 0;
    this.signalled = 0;
    this.signalledValid = false;
  }

  /** Continues at `idx` (migration restore): what the guest was told is unknown. */
  restore(idx: number): void {
    this.idx = idx;
    this.signalledValid = false;
  }

  /** used.idx as the guest sees it now (0 while unmapped). */
  readGuestIdx(): number {
    const view = this.view;
    return view === null ? 0 : view.getUint16(2, true);
  }

  /** Writes the used element `offset` places after `idx` (the caller checked the view is mapped). */
  write(offset: number, head: number, len: number): void {
    const at = (this.idx + offset) & 0xffff;
    const mask = this.mask;
    const off = 4 + 8 * (mask >= 0 ? at & mask : at % this.size);
    const view = this.view!;
    view.setUint32(off, head, true);
    view.setUint32(off + 4, len >>> 0, true);
  }

  /** Advances used.idx by `count` (elements already written) and writes it (virtqueue_flush). */
  flush(count: number): void {
    const old = this.idx;
    const next = (old + count) & 0xffff;
    this.view!.setUint16(2, next, true);
    this.idx = next;
    // If the last signalled index fell inside the published window, its value is stale.
    if (((next - this.signalled) & 0xffff) < ((next - old) & 0xffff)) this.signalledValid = false;
  }

  /** VRING_USED_F_NO_NOTIFY cleared (kicks wanted) or set (suppressed). */
  setNoNotify(suppress: boolean): void {
    const view = this.view!;
    const flags = view.getUint16(0, true);
    view.setUint16(0, suppress ? flags | VRING_USED_F_NO_NOTIFY : flags & ~VRING_USED_F_NO_NOTIFY, true);
  }

  /** vring_set_avail_event: kick me when avail.idx passes `value` (EVENT_IDX). */
  setAvailEvent(value: number): void {
    this.view!.setUint16(availEventOffset(this.size), value, true);
  }

  /** The guest was interrupted for everything published (a held interrupt was raised). */
  markSignalled(): void {
    this.signalled = this.idx;
    this.signalledValid = true;
  }

  /**
   * The EVENT_IDX half of virtio_split_should_notify: whether `usedEvent` (the guest's
   * used_event) lies in the indexes published since the guest was last signalled; records the
   * current index as signalled.
   */
  needsEvent(usedEvent: number): boolean {
    const valid = this.signalledValid;
    this.signalledValid = true;
    const old = this.signalled;
    const next = (this.signalled = this.idx);
    return !valid || vringNeedEvent(usedEvent, next, old);
  }
}
