/**
 * A split virtqueue over GuestMemory (QEMU hw/virtio/virtio.c, split-ring half): pop/fill/flush,
 * EVENT_IDX and flag-based notification suppression, and the per-queue host/guest notifiers a
 * dataplane moves between contexts. The ring accesses are in avail-ring.ts and used-ring.ts, the
 * chain walk in descriptor-chain.ts.
 */
import { EventNotifier, trace, type AioContext, type Clock, type GuestMemory } from '@vmkit/core';
import { VRING_AVAIL_F_NO_INTERRUPT, VirtioFeature, VirtioInterrupt } from '../constants.js';
import { DescriptorChainWalker, regionSlice } from './descriptor-chain.js';
import { RegionCursor } from './guest-regions.js';
import { AvailRing } from './avail-ring.js';
import { availRingSize, descTableSize, usedRingSize } from './layout.js';
import { UsedRing } from './used-ring.js';
import {
  InterruptCoalescing,
  type CoalescedQueue,
  type CoalescingTimerFactory,
  type InterruptCoalescingOptions,
} from './interrupt-coalescing.js';
import { VirtQueueElement } from './virtqueue-element.js';
import type { VirtQueueErrorKind } from './virtqueue-error.js';
import type { HostNotifierHandler, VirtQueueOwner } from './virtqueue-owner.js';

export type { HostNotifierHandler, VirtQueueOwner } from './virtqueue-owner.js';

const negotiated = (features: bigint, bit: number): boolean => (features & (1n << BigInt(bit))) !== 0n;

export class VirtQueue {
  /** Doorbell: the transport sets it on QueueNotify; a context runs its handler. */
  readonly hostNotifier: EventNotifier;
  /** Interrupt eventfd used by `notifyIrqfd()` when the device's guest notifiers are assigned. */
  readonly guestNotifier: EventNotifier;

  private sizeValue: number;
  private desc = 0;
  private avail = 0;
  private used = 0;
  private readyValue = false;
  private brokenValue = false;

  // The rings, resolved to DataViews over exactly their areas (so ring offsets are small integers:
  // an offset into a large region would make the arithmetic floating-point).
  /** The driver area and the device's position in it (last_avail_idx, shadow_avail_idx). */
  private readonly availRing = new AvailRing();
  /** The device area: element and index writes, what the guest was last signalled. */
  private readonly usedRing = new UsedRing();
  private readonly cursor = new RegionCursor();
  private readonly walker = new DescriptorChainWalker(this.cursor);

  // Split-ring state (QEMU VirtQueue fields of the same names).
  private notification = true;
  private inUseValue = 0;
  private epoch = 0;

  // Negotiated ring features.
  private eventIdx = false;
  private notifyOnEmpty = false;

  /** Held guest interrupts (null: every wanted interrupt is raised at once). */
  private coalescing: InterruptCoalescing | null = null;

  private hostHandler: HostNotifierHandler;
  private readonly defaultHostHandler: HostNotifierHandler;
  /** Bound once so attaching a notifier allocates nothing per kick. */
  private readonly onHostNotifier = (n: EventNotifier): void => {
    n.testAndClear();
    this.hostHandler(this);
  };

  constructor(
    private readonly owner: VirtQueueOwner,
    /** Queue index within the device. */
    readonly index: number,
    /** Largest size the device supports (QueueNumMax). */
    readonly maxSize: number,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > 32768) {
      throw new RangeError(`virtqueue ${index}: size ${maxSize} is not in 1..32768`);
    }
    this.sizeValue = maxSize;
    this.hostNotifier = new EventNotifier(`virtqueue-${index}-host`);
    this.guestNotifier = new EventNotifier(`virtqueue-${index}-guest`);
    this.defaultHostHandler = (q) => owner.handleQueueNotify(q);
    this.hostHandler = this.defaultHostHandler;
  }

  /** Current size (QueueNum). */
  get size(): number {
    return this.sizeValue;
  }
  get descAddr(): number {
    return this.desc;
  }
  get availAddr(): number {
    return this.avail;
  }
  get usedAddr(): number {
    return this.used;
  }
  /** QueueReady / a non-zero legacy PFN. */
  get ready(): boolean {
    return this.readyValue;
  }
  /** The queue hit a malformed ring or chain and stays stopped until reset. */
  get broken(): boolean {
    return this.brokenValue || this.owner.broken;
  }
  /** Next avail index the device will consume. */
  get lastAvailIdx(): number {
    return this.availRing.last;
  }
  /** Next used index the device will publish. */
  get usedIdx(): number {
    return this.usedRing.idx;
  }
  /** Elements popped and not yet pushed or detached. */
  get inUse(): number {
    return this.inUseValue;
  }
  /** Whether guest kicks are currently wanted (virtio_queue_set_notification). */
  get notificationEnabled(): boolean {
    return this.notification;
  }

  // ---- configuration (transport side) ----

  /** @internal the guest memory the rings and buffers live in. */
  setMemory(memory: GuestMemory | null): void {
    this.cursor.setMemory(memory);
  }

  /** @internal negotiated features changed (FEATURES_OK, legacy feature write, reset). */
  setFeatures(features: bigint): void {
    this.eventIdx = negotiated(features, VirtioFeature.RING_EVENT_IDX);
    this.notifyOnEmpty = negotiated(features, VirtioFeature.NOTIFY_ON_EMPTY);
    this.walker.indirectAllowed = negotiated(features, VirtioFeature.RING_INDIRECT_DESC);
  }

  /** virtio_queue_set_num: ignored unless 1..maxSize (as QEMU does). */
  setSize(size: number): void {
    if (Number.isInteger(size) && size >= 1 && size <= this.maxSize) this.sizeValue = size;
  }

  /** Ring addresses (a -1 address is one beyond 2^53: never mapped). */
  setAddresses(desc: number, avail: number, used: number): void {
    this.desc = desc;
    this.avail = avail;
    this.used = used;
  }

  /**
   * Starts using the rings (QueueReady = 1; legacy PFN write). Rings outside guest memory are a
   * device error (QEMU virtio_init_region_cache "Cannot map ...").
   */
  enable(): boolean {
    // Elements filled for the rings in use are published there first.
    this.publish();
    this.readyValue = true;
    const size = this.sizeValue;
    // Regions remembered from an older memory layout must not be used.
    this.cursor.sameLayout();
    const d = this.cursor.find(this.desc, descTableSize(size));
    const a = this.cursor.find(this.avail, availRingSize(size));
    const u = this.cursor.find(this.used, usedRingSize(size));
    if (d === undefined || a === undefined || u === undefined) {
      this.unmapRings();
      this.fail('ring-unmapped');
      return false;
    }
    this.walker.setTable(regionSlice(d, this.desc, descTableSize(size)), size);
    this.availRing.map(regionSlice(a, this.avail, availRingSize(size)), size);
    this.usedRing.map(regionSlice(u, this.used, usedRingSize(size)), size);
    return true;
  }

  /** Stops using the rings (QueueReady = 0; legacy PFN 0). */
  disable(): void {
    this.publish();
    // A held interrupt is raised while the rings it concerns are still there.
    this.coalescing?.flush();
    this.readyValue = false;
    this.unmapRings();
  }

  /** virtio_reset for one queue: initial size, no rings, indexes 0, notifications on, not broken. */
  reset(): void {
    // What was filled and not published is dropped with everything else.
    this.usedRing.unpublished = 0;
    this.coalescing?.cancel();
    this.disable();
    this.sizeValue = this.maxSize;
    this.desc = this.avail = this.used = 0;
    this.availRing.restore(0);
    this.usedRing.reset();
    this.notification = true;
    this.inUseValue = 0;
    this.brokenValue = false;
    this.epoch++;
  }

  /**
   * Restores the ring position as after migration (QEMU virtio_load): the device continues at
   * `lastAvailIdx` and reads `used.idx` back from guest memory. Also lets tests start near 65535.
   */
  restoreIndices(lastAvailIdx: number): void {
    this.publish();
    const used = this.usedRing;
    const avail = this.availRing;
    avail.restore(lastAvailIdx);
    used.restore(used.view === null ? avail.last : used.readGuestIdx());
    this.inUseValue = (avail.last - used.idx) & 0xffff;
  }

  // ---- device side ----

  /**
   * Takes the next available chain (virtqueue_pop), or null when the queue is empty, not ready or
   * broken. `into` is reused when given (its previous contents are dropped, or kept when they are
   * exactly the chain popped: see VirtQueueElement.reused).
   */
  pop(into?: VirtQueueElement): VirtQueueElement | null {
    const avail = this.availRing;
    if (avail.view === null || this.broken) return null;
    // avail.idx is read once and then trusted until consumed up to it (no double fetch).
    if (avail.shadow === avail.last && (!this.fetchAvailIdx() || avail.shadow === avail.last)) {
      return null;
    }
    const head = avail.takeHead();
    if (this.eventIdx) this.setAvailEvent(avail.last);

    const elem = into ?? new VirtQueueElement();
    // The walker empties the element unless it keeps the same chain (see VirtQueueElement.reused).
    const err = this.walker.walk(head, elem);
    if (err !== null) {
      elem.reset();
      this.fail(err);
      return null;
    }
    elem.head = head;
    elem.queueIndex = this.index;
    elem.epoch = this.epoch;
    this.inUseValue++;
    return elem;
  }

  /**
   * Publishes one element with `len` bytes written and updates used.idx (virtqueue_push), after
   * the elements fillNext() filled, which it publishes too.
   */
  push(elem: VirtQueueElement, len: number): void {
    const n = this.usedRing.unpublished;
    if (this.fill(elem, len, n)) {
      this.usedRing.unpublished = 0;
      this.flush(n + 1);
    } else {
      this.publish();
    }
  }

  /**
   * Writes the used element after those already filled and not published (virtqueue_fill at the
   * next index) without updating used.idx: the guest sees it at the next publish() (or push()).
   * Lets a device complete several requests with one used.idx write. False when nothing was
   * written (see fill).
   */
  fillNext(elem: VirtQueueElement, len: number): boolean {
    const used = this.usedRing;
    if (!this.fill(elem, len, used.unpublished)) return false;
    used.unpublished++;
    return true;
  }

  /** Makes the elements fillNext() filled visible with one used.idx update (virtqueue_flush). */
  publish(): void {
    const used = this.usedRing;
    const n = used.unpublished;
    if (n === 0) return;
    used.unpublished = 0;
    this.flush(n);
  }

  /** Elements filled by fillNext() and not published yet. */
  get unpublishedCount(): number {
    return this.usedRing.unpublished;
  }

  /**
   * Writes the used element `idx` places after the current used index (virtqueue_fill); false
   * when nothing was written (queue broken or reset since the element was popped).
   */
  fill(elem: VirtQueueElement, len: number, idx: number): boolean {
    const used = this.usedRing;
    if (used.view === null || elem.epoch !== this.epoch || this.broken) return false;
    used.write(idx, elem.head, len);
    return true;
  }

  /** Makes `count` filled elements visible: used.idx is written after the elements (virtqueue_flush). */
  flush(count: number): void {
    const used = this.usedRing;
    if (used.view !== null && !this.broken) used.flush(count);
    this.inUseValue = Math.max(0, this.inUseValue - count);
  }

  /** Gives an element back without publishing it (virtqueue_detach_element). */
  detach(elem: VirtQueueElement): void {
    if (elem.epoch === this.epoch && this.inUseValue > 0) this.inUseValue--;
    elem.epoch = -1;
  }

  /** Puts the last popped element back so the next pop returns it again (virtqueue_unpop). */
  unpop(elem: VirtQueueElement): void {
    if (elem.epoch !== this.epoch) return;
    const avail = this.availRing;
    avail.last = (avail.last - 1) & 0xffff;
    this.detach(elem);
  }

  /** True when no chain is available (virtio_queue_empty); a broken or unready queue is empty. */
  isEmpty(): boolean {
    const avail = this.availRing;
    if (avail.view === null || this.broken) return true;
    if (avail.shadow !== avail.last) return false;
    return !this.fetchAvailIdx() || avail.shadow === avail.last;
  }

  /**
   * Asks for (true) or suppresses (false) guest kicks (virtio_queue_set_notification). With
   * EVENT_IDX, enabling publishes avail_event = the current avail.idx; the caller must then re-check
   * `isEmpty()` because the guest may have added buffers before seeing it.
   */
  setNotification(enabled: boolean): void {
    this.notification = enabled;
    const used = this.usedRing;
    if (used.view === null || this.broken) return;
    if (this.eventIdx) {
      if (enabled && this.fetchAvailIdx()) this.setAvailEvent(this.availRing.shadow);
    } else {
      used.setNoNotify(!enabled);
    }
  }

  /** Whether the guest wants an interrupt for what was just flushed (virtio_split_should_notify). */
  shouldNotify(): boolean {
    const avail = this.availRing;
    if (avail.view === null || this.broken) return false;
    if (this.notifyOnEmpty && this.inUseValue === 0 && this.isEmpty()) return true;
    if (!this.eventIdx) return (avail.flags() & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    return this.usedRing.needsEvent(avail.usedEvent());
  }

  /** Raises the used-buffer interrupt if the guest wants it (virtio_notify). */
  notify(): void {
    if (this.interruptWanted()) this.owner.raiseInterrupt(VirtioInterrupt.VRING);
  }

  /**
   * Like notify() but through `guestNotifier` when the device's guest notifiers are assigned
   * (virtio_notify_irqfd): usable from a dataplane context; the interrupt is raised in the
   * transport's context.
   */
  notifyIrqfd(): void {
    if (this.interruptWanted()) this.raiseUsedInterrupt();
  }

  /**
   * Holds wanted interrupts while more completions may join them (see InterruptCoalescing), or
   * raises each at once (`null`, the default). Needs EVENT_IDX: without it interrupts are never
   * held. A held interrupt is raised when the queue is disabled and dropped when it is reset;
   * replacing the setting raises one held under the old one. `clock` times the hold (with
   * `createTimer` for timers finer than the clock's own).
   */
  setInterruptCoalescing(
    options: InterruptCoalescingOptions | null,
    clock?: Clock,
    createTimer?: CoalescingTimerFactory,
  ): void {
    this.coalescing?.flush();
    if (options === null) {
      this.coalescing = null;
      return;
    }
    if (clock === undefined)
      throw new TypeError(`virtqueue ${this.index}: interrupt coalescing needs a clock`);
    const queue: CoalescedQueue = {
      unseen: () => (this.usedRing.idx - this.availRing.usedEvent()) & 0xffff,
      raiseHeld: () => {
        if (this.availRing.view === null || this.broken) return;
        this.usedRing.markSignalled();
        this.raiseUsedInterrupt();
      },
    };
    this.coalescing = new InterruptCoalescing(queue, options, clock, createTimer);
  }

  /** The interrupt coalescing in use (its options and counters), or null. */
  get interruptCoalescing(): InterruptCoalescing | null {
    return this.coalescing;
  }

  /** Whether to raise the used-buffer interrupt now, with coalescing applied. */
  private interruptWanted(): boolean {
    const c = this.coalescing;
    if (c === null) return this.shouldNotify();
    if (this.availRing.view === null || this.broken) return false;
    // A held interrupt covers everything published since it was wanted.
    if (c.isHolding) {
      if (!c.joined()) return false;
      this.usedRing.markSignalled();
      return true;
    }
    if (!this.shouldNotify()) return false;
    return !this.eventIdx || c.wanted();
  }

  /** The used-buffer interrupt, through the guest notifier when it is assigned. */
  private raiseUsedInterrupt(): void {
    if (this.owner.guestNotifiersAssigned) {
      this.owner.setInterruptStatus(VirtioInterrupt.VRING);
      this.guestNotifier.set();
    } else {
      this.owner.raiseInterrupt(VirtioInterrupt.VRING);
    }
  }

  /**
   * Runs `handler` (default: the device's queue handler) in `ctx` whenever the guest kicks this
   * queue (virtio_queue_aio_attach_host_notifier). A kick that arrived while detached is handled
   * on attach.
   */
  attachHostNotifier(ctx: AioContext, handler?: HostNotifierHandler): void {
    this.hostHandler = handler ?? this.defaultHostHandler;
    this.hostNotifier.setHandler(ctx, this.onHostNotifier);
  }

  /** Stops handling kicks; they stay pending in the notifier (virtio_queue_aio_detach_host_notifier). */
  detachHostNotifier(): void {
    this.hostNotifier.setHandler(null);
  }

  // ---- internals ----

  private fetchAvailIdx(): boolean {
    if (this.availRing.fetchIdx()) return true;
    this.fail('avail-idx-jump');
    return false;
  }

  /** vring_set_avail_event: only while notifications are wanted. */
  private setAvailEvent(value: number): void {
    if (this.notification) this.usedRing.setAvailEvent(value);
  }

  private unmapRings(): void {
    this.walker.setTable(null, 0);
    this.availRing.unmap();
    this.usedRing.unmap();
  }

  private fail(kind: VirtQueueErrorKind): void {
    this.brokenValue = true;
    trace('virtio', 'queue-error', { queue: this.index, kind });
    this.owner.queueError(this, kind);
  }
}
