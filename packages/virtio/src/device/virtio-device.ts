/**
 * The transport-independent part of a virtio device (QEMU VirtIODevice, hw/virtio/virtio.c):
 * status register, feature negotiation, config space and generation, interrupt status, reset,
 * device errors (NEEDS_RESET), and the queues.
 */
import {
  ConfigError,
  GuestMemoryError,
  trace,
  type AioContext,
  type Clock,
  type Device,
  type EventNotifier,
  type GuestMemory,
} from '@vmkit/core';
import { VirtioFeature, VirtioInterrupt, VirtioStatus, featureBit, featureBits } from '../constants.js';
import { VirtQueue, type VirtQueueOwner } from '../ring/virtqueue.js';
import {
  checkInterruptCoalescing,
  type CoalescingTimerFactory,
  type InterruptCoalescingOptions,
} from '../ring/interrupt-coalescing.js';
import { virtQueueErrorMessages, type VirtQueueErrorKind } from '../ring/virtqueue-error.js';
import type { VirtioTransport } from '../transport.js';

/** Ring features a device normally offers (QEMU's defaults): indirect descriptors, EVENT_IDX, ANY_LAYOUT. */
export const VIRTIO_COMMON_FEATURES = featureBits(
  VirtioFeature.RING_INDIRECT_DESC,
  VirtioFeature.RING_EVENT_IDX,
  VirtioFeature.ANY_LAYOUT,
);

const VERSION_1 = featureBit(VirtioFeature.VERSION_1);
const MASK_32 = 0xffff_ffffn;

export interface VirtioDeviceOptions {
  /** Device id (VirtioDeviceId.BLOCK...). */
  readonly deviceId: number;
  /** Name for traces and messages. */
  readonly name?: string;
  /** Offered features: device-specific bits plus ring bits (see VIRTIO_COMMON_FEATURES). VERSION_1 is added by modern transports. */
  readonly features: bigint;
  /** Size of the device-specific config space in bytes. */
  readonly configSize: number;
}

/** The last device error, for diagnostics. */
export interface VirtioDeviceError {
  readonly kind: VirtQueueErrorKind;
  readonly message: string;
  /** Queue index, or -1 for a device-level error. */
  readonly queue: number;
}

export abstract class VirtioDevice implements VirtQueueOwner, Device {
  readonly deviceId: number;
  readonly name: string;
  /** Device-specific config space; devices keep it current or refresh it in `getConfig`. */
  protected readonly config: Uint8Array;
  private readonly configView: DataView;
  private readonly queueList: VirtQueue[] = [];

  private offered: bigint;
  private negotiatedFeatures = 0n;
  private stagedDriverFeatures = 0n;
  private statusValue = 0;
  private isr = 0;
  private generationValue = 0;
  private brokenValue = false;
  private lastErrorValue: VirtioDeviceError | null = null;
  private transportValue: VirtioTransport | null = null;
  private guestNotifiersValue = false;
  private readonly onGuestNotifier = (n: EventNotifier): void => {
    n.testAndClear();
    this.transportValue?.updateInterrupt();
  };

  constructor(options: VirtioDeviceOptions) {
    if (!Number.isInteger(options.configSize) || options.configSize < 0 || options.configSize > 0xf00) {
      throw new ConfigError(`virtio device config size ${options.configSize} is not in 0..3840`);
    }
    this.deviceId = options.deviceId;
    this.name = options.name ?? `virtio-${options.deviceId}`;
    this.offered = options.features & ((1n << 64n) - 1n);
    this.config = new Uint8Array(options.configSize);
    this.configView = new DataView(this.config.buffer);
  }

  // ---- device-author API ----

  /** virtio_add_queue: adds a queue of at most `maxSize` entries; call from the constructor. */
  protected addQueue(maxSize: number): VirtQueue {
    if (this.transportValue !== null)
      throw new ConfigError(`${this.name}: queues must be added before plugging`);
    const q = new VirtQueue(this, this.queueList.length, maxSize);
    this.queueList.push(q);
    return q;
  }

  /** Changes the offered features (e.g. from properties); only before the device is plugged. */
  protected setOfferedFeatures(features: bigint): void {
    if (this.transportValue !== null) throw new ConfigError(`${this.name}: features are fixed once plugged`);
    this.offered = features & ((1n << 64n) - 1n);
  }

  /** Handles a kick of `queue` (QEMU handle_output); runs in the context the host notifier is attached to. */
  protected abstract handleOutput(queue: VirtQueue): void;

  /** Refreshes `this.config` before the driver reads it (get_config). */
  protected getConfig(_config: Uint8Array): void {}

  /** The driver wrote config space; `config` holds the new bytes (set_config). */
  protected setConfig(_config: Uint8Array): void {}

  /** Device-specific check of the features the driver accepted; false refuses FEATURES_OK. */
  protected validateFeatures(_features: bigint): boolean {
    return true;
  }

  /** The negotiated features are now `features` (set_features). */
  protected featuresNegotiated(_features: bigint): void {}

  /** The driver changed the status (set_status); called with 0 on reset before queues are reset. */
  protected statusChanged(_oldStatus: number, _newStatus: number): void {}

  /** Device-specific reset: drop in-flight requests (they are not pushed after this). */
  protected resetDevice(): void {}

  /**
   * The device found a request it cannot handle (QEMU virtio_error): NEEDS_RESET (when VERSION_1
   * was negotiated) with a config interrupt, and every queue stops until reset.
   */
  virtioError(message: string): void {
    this.deviceError({ kind: 'device', message, queue: -1 });
  }

  /** The config space changed on the device side: bump the generation and raise the config interrupt. */
  notifyConfigChanged(): void {
    this.generationValue = (this.generationValue + 1) >>> 0;
    if ((this.statusValue & VirtioStatus.DRIVER_OK) !== 0) this.raiseInterrupt(VirtioInterrupt.CONFIG);
  }

  /** Device lifecycle (qdev realize): subclasses connect to their backends here. */
  realize(): void | Promise<void> {}

  /** Device lifecycle (qdev unrealize): releases what realize took; the device is unplugged first. */
  unrealize(): void | Promise<void> {}

  // ---- state ----

  get queues(): readonly VirtQueue[] {
    return this.queueList;
  }
  /**
   * Interrupt coalescing on every queue (see VirtQueue.setInterruptCoalescing), or off with
   * `null`. Throws a RangeError for invalid options.
   */
  setInterruptCoalescing(
    options: InterruptCoalescingOptions | null,
    clock?: Clock,
    createTimer?: CoalescingTimerFactory,
  ): void {
    if (options !== null) checkInterruptCoalescing(options);
    for (const q of this.queueList) q.setInterruptCoalescing(options, clock, createTimer);
  }

  queue(index: number): VirtQueue {
    const q = this.queueList[index];
    if (q === undefined) throw new RangeError(`${this.name}: no queue ${index}`);
    return q;
  }
  get status(): number {
    return this.statusValue;
  }
  /** Features offered to the driver by this device on its transport. */
  get hostFeatures(): bigint {
    const legacy = this.transportValue?.legacy ?? false;
    return legacy ? this.offered & ~VERSION_1 : this.offered | VERSION_1;
  }
  /** Features negotiated (accepted at FEATURES_OK, or written by a legacy driver). */
  get guestFeatures(): bigint {
    return this.negotiatedFeatures;
  }
  /** virtio_vdev_has_feature. */
  hasFeature(bit: number): boolean {
    return (this.negotiatedFeatures & featureBit(bit)) !== 0n;
  }
  get configSize(): number {
    return this.config.length;
  }
  get configGeneration(): number {
    return this.generationValue;
  }
  get interruptStatus(): number {
    return this.isr;
  }
  get broken(): boolean {
    return this.brokenValue;
  }
  get lastError(): VirtioDeviceError | null {
    return this.lastErrorValue;
  }
  get transport(): VirtioTransport | null {
    return this.transportValue;
  }
  get guestNotifiersAssigned(): boolean {
    return this.guestNotifiersValue;
  }
  /** Guest memory of the transport the device is plugged into. */
  get memory(): GuestMemory {
    const t = this.transportValue;
    if (t === null) throw new ConfigError(`${this.name}: not plugged into a transport`);
    return t.memory;
  }
  /** The transport's context (main loop), or null when unplugged. */
  get context(): AioContext | null {
    return this.transportValue?.context ?? null;
  }

  // ---- transport API ----

  /** Plugs the device into a transport: queues get its memory and kicks are handled in its context. */
  plug(transport: VirtioTransport): void {
    if (this.transportValue !== null) throw new ConfigError(`${this.name}: already plugged into a transport`);
    this.transportValue = transport;
    for (const q of this.queueList) {
      q.setMemory(transport.memory);
      q.attachHostNotifier(transport.context);
    }
  }

  /** Unplugs: resets the device and detaches every notifier. */
  unplug(): void {
    if (this.transportValue === null) return;
    this.reset();
    this.setGuestNotifiers(false);
    for (const q of this.queueList) {
      q.detachHostNotifier();
      q.setMemory(null);
    }
    this.transportValue = null;
  }

  /** DeviceFeatures register word `select` (0: bits 0-31, 1: bits 32-63, else 0). */
  deviceFeatureWord(select: number): number {
    if (select !== 0 && select !== 1) return 0;
    return Number((this.hostFeatures >> BigInt(32 * select)) & MASK_32);
  }

  /**
   * DriverFeatures register word `select`. Modern: staged until FEATURES_OK and ignored after it.
   * Legacy: applied at once, dropping bits the device did not offer (QEMU virtio_set_features).
   */
  setDriverFeatureWord(select: number, value: number): void {
    if (select !== 0 && select !== 1) return;
    const legacy = this.transportValue?.legacy ?? false;
    if (!legacy && (this.statusValue & VirtioStatus.FEATURES_OK) !== 0) return;
    const shift = BigInt(32 * select);
    this.stagedDriverFeatures =
      (this.stagedDriverFeatures & ~(MASK_32 << shift)) | (BigInt(value >>> 0) << shift);
    if (legacy) this.applyFeatures(this.stagedDriverFeatures & this.hostFeatures);
  }

  /** Driver features written so far (staged for FEATURES_OK). */
  get driverFeatures(): bigint {
    return this.stagedDriverFeatures;
  }

  /**
   * Status register write (virtio_set_status). 0 resets. Setting FEATURES_OK validates the staged
   * driver features: a bit not offered, a missing VERSION_1 on a modern transport, or a refusal by
   * `validateFeatures` leaves FEATURES_OK clear. NEEDS_RESET is owned by the device.
   */
  setStatus(value: number): void {
    value &= 0xff;
    if (value === 0) {
      this.reset();
      return;
    }
    const old = this.statusValue;
    let next = (value & ~VirtioStatus.NEEDS_RESET) | (old & VirtioStatus.NEEDS_RESET);
    const legacy = this.transportValue?.legacy ?? false;
    if (!legacy && (next & VirtioStatus.FEATURES_OK) !== 0 && (old & VirtioStatus.FEATURES_OK) === 0) {
      if (!this.acceptFeatures(this.stagedDriverFeatures)) next &= ~VirtioStatus.FEATURES_OK;
    }
    this.statusValue = next;
    if (next !== old) {
      trace('virtio', 'set-status', { device: this.name, old, status: next });
      this.statusChanged(old, next);
    }
  }

  /** virtio_reset: status, features, interrupt status and every queue back to their initial state. */
  reset(): void {
    const old = this.statusValue;
    if (old !== 0) this.statusChanged(old, 0);
    this.statusValue = 0;
    this.resetDevice();
    this.applyFeatures(0n);
    this.stagedDriverFeatures = 0n;
    for (const q of this.queueList) q.reset();
    this.brokenValue = false;
    this.lastErrorValue = null;
    this.isr = 0;
    this.transportValue?.deviceReset();
    this.transportValue?.updateInterrupt();
  }

  /** Reads `size` (1, 2, 4) bytes of config space, little-endian; all ones outside it. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > this.config.length)
      return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    this.getConfig(this.config);
    const v = this.configView;
    return size === 1
      ? v.getUint8(offset)
      : size === 2
        ? v.getUint16(offset, true)
        : v.getUint32(offset, true);
  }

  /** Writes `size` bytes of config space; ignored outside it. */
  writeConfig(offset: number, value: number, size: 1 | 2 | 4): void {
    if (offset < 0 || offset + size > this.config.length) return;
    this.getConfig(this.config);
    const v = this.configView;
    if (size === 1) v.setUint8(offset, value & 0xff);
    else if (size === 2) v.setUint16(offset, value & 0xffff, true);
    else v.setUint32(offset, value >>> 0, true);
    this.setConfig(this.config);
  }

  /** InterruptACK: clears the acknowledged bits and updates the line. */
  ackInterrupt(bits: number): void {
    this.isr &= ~bits;
    this.transportValue?.updateInterrupt();
  }

  raiseInterrupt(bits: number): void {
    this.isr |= bits;
    this.transportValue?.updateInterrupt();
  }

  setInterruptStatus(bits: number): void {
    this.isr |= bits;
  }

  /**
   * Routes `queue.notifyIrqfd()` through each queue's guest notifier, handled in the transport's
   * context (set_guest_notifiers). Unassigning delivers a pending notification first.
   */
  setGuestNotifiers(assign: boolean): void {
    const t = this.transportValue;
    if (assign && t === null) throw new ConfigError(`${this.name}: not plugged into a transport`);
    if (assign === this.guestNotifiersValue) return;
    this.guestNotifiersValue = assign;
    for (const q of this.queueList) {
      if (assign) {
        q.guestNotifier.setHandler(t!.context, this.onGuestNotifier);
      } else {
        q.guestNotifier.setHandler(null);
        if (q.guestNotifier.testAndClear()) t?.updateInterrupt();
      }
    }
  }

  /** @internal a queue found a malformed ring or chain. */
  queueError(queue: VirtQueue, kind: VirtQueueErrorKind): void {
    this.deviceError({ kind, message: virtQueueErrorMessages[kind], queue: queue.index });
  }

  /** @internal default host-notifier handler (virtio_queue_notify_vq). */
  handleQueueNotify(queue: VirtQueue): void {
    if (!queue.ready || queue.broken) return;
    try {
      this.handleOutput(queue);
    } catch (e) {
      // A device reading guest memory on its own may hit an unmapped address: a guest error.
      if (!(e instanceof GuestMemoryError)) throw e;
      this.virtioError(e.message);
    }
  }

  private acceptFeatures(features: bigint): boolean {
    const host = this.hostFeatures;
    if ((features & ~host) !== 0n) return false;
    if ((features & VERSION_1) === 0n) return false;
    if (!this.validateFeatures(features)) return false;
    this.applyFeatures(features);
    return true;
  }

  private applyFeatures(features: bigint): void {
    const changed = features !== this.negotiatedFeatures;
    this.negotiatedFeatures = features;
    for (const q of this.queueList) q.setFeatures(features);
    if (changed) this.featuresNegotiated(features);
  }

  private deviceError(error: VirtioDeviceError): void {
    this.lastErrorValue = error;
    trace('virtio', 'device-error', { device: this.name, ...error });
    const first = !this.brokenValue;
    this.brokenValue = true;
    if (first && (this.negotiatedFeatures & VERSION_1) !== 0n) {
      this.statusValue |= VirtioStatus.NEEDS_RESET;
      if ((this.statusValue & VirtioStatus.DRIVER_OK) !== 0) this.raiseInterrupt(VirtioInterrupt.CONFIG);
    }
  }
}
