/**
 * A guest-side virtio-mmio driver for tests (the steps of Linux virtio_mmio.c and virtio.c): it
 * touches the device only through the MMIO registers and guest memory, as a real guest would.
 */
import type { GuestMemory } from '@vmkit/core';
import { VirtioFeature, VirtioInterrupt, VirtioStatus, featureBit } from '../constants.js';
import { legacyVringLayout } from '../ring/layout.js';
import { VIRTIO_MMIO_MAGIC, VirtioMmioRegister as R, type MmioAccessSize } from '../mmio/registers.js';
import { GuestAllocator } from './guest-allocator.js';
import { GuestVirtqueue, type GuestVirtqueueLayout } from './guest-virtqueue.js';

/** Anything with the MMIO window's two accessors (a VirtioMmioTransport, a VirtioMmioSlot). */
export interface MmioWindow {
  readRegister(offset: number, size: MmioAccessSize): number;
  writeRegister(offset: number, value: number, size: MmioAccessSize): void;
}

export interface VirtioMmioDriverOptions {
  /** Guest memory range the driver may allocate rings and buffers from. */
  readonly allocator: GuestAllocator;
  /** Acknowledge interrupts as soon as the line rises (default true), like an ISR would. */
  readonly autoAck?: boolean;
}

export interface SetupQueueOptions {
  /** Queue size (default: QueueNumMax). */
  readonly size?: number;
  /** Initial avail/used index (the device side must be restored to the same, see VirtQueue.restoreIndices). */
  readonly startIndex?: number;
  /** Explicit ring addresses (modern only); default: allocated. */
  readonly layout?: GuestVirtqueueLayout;
  /** Legacy QueueAlign (default 4096). */
  readonly align?: number;
  /** Skip QueueReady / QueuePFN (to test a half-configured queue). */
  readonly enable?: boolean;
}

export interface NegotiateResult {
  /** FEATURES_OK stuck (always true for legacy). */
  readonly ok: boolean;
  readonly features: bigint;
  readonly deviceFeatures: bigint;
}

const LEGACY_PAGE_SIZE = 4096;

export class VirtioMmioDriver {
  readonly allocator: GuestAllocator;
  /** Register reads and writes are done 32 bits at a time, as the spec requires. */
  readonly legacy: boolean;
  autoAck: boolean;
  /** Rising edges of the interrupt line. */
  interrupts = 0;
  /** Acknowledged interrupts with the used-ring bit / the config bit. */
  vringInterrupts = 0;
  configInterrupts = 0;
  private line = false;
  private negotiated = 0n;
  private readonly queueMap = new Map<number, GuestVirtqueue>();

  constructor(
    readonly mmio: MmioWindow,
    readonly memory: GuestMemory,
    options: VirtioMmioDriverOptions,
  ) {
    this.allocator = options.allocator;
    this.autoAck = options.autoAck ?? true;
    if (this.read(R.MAGIC_VALUE) !== VIRTIO_MMIO_MAGIC) throw new Error('virtio-mmio: bad magic');
    const version = this.read(R.VERSION);
    if (version !== 1 && version !== 2) throw new Error(`virtio-mmio: unsupported version ${version}`);
    this.legacy = version === 1;
  }

  /** Pass this as the transport's interrupt line (`onInterrupt`). */
  readonly irq = (level: boolean): void => {
    const rising = level && !this.line;
    this.line = level;
    if (!rising) return;
    this.interrupts++;
    if (this.autoAck) this.ackInterrupt();
  };

  /** Reads InterruptStatus, counts its bits and writes them to InterruptACK; returns them. */
  ackInterrupt(): number {
    const isr = this.read(R.INTERRUPT_STATUS);
    if ((isr & VirtioInterrupt.VRING) !== 0) this.vringInterrupts++;
    if ((isr & VirtioInterrupt.CONFIG) !== 0) this.configInterrupts++;
    if (isr !== 0) this.write(R.INTERRUPT_ACK, isr);
    return isr;
  }

  get interruptLine(): boolean {
    return this.line;
  }

  read(offset: number): number {
    return this.mmio.readRegister(offset, 4);
  }

  write(offset: number, value: number): void {
    this.mmio.writeRegister(offset, value >>> 0, 4);
  }

  get deviceId(): number {
    return this.read(R.DEVICE_ID);
  }

  get status(): number {
    return this.read(R.STATUS);
  }

  set status(value: number) {
    this.write(R.STATUS, value);
  }

  /** Features the driver negotiated. */
  get features(): bigint {
    return this.negotiated;
  }

  hasFeature(bit: number): boolean {
    return (this.negotiated & featureBit(bit)) !== 0n;
  }

  /** The 64 device feature bits (DeviceFeaturesSel 1 then 0). */
  readDeviceFeatures(): bigint {
    this.write(R.DEVICE_FEATURES_SEL, 1);
    const hi = this.read(R.DEVICE_FEATURES);
    this.write(R.DEVICE_FEATURES_SEL, 0);
    const lo = this.read(R.DEVICE_FEATURES);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  writeDriverFeatures(features: bigint): void {
    this.write(R.DRIVER_FEATURES_SEL, 1);
    this.write(R.DRIVER_FEATURES, Number((features >> 32n) & 0xffff_ffffn));
    this.write(R.DRIVER_FEATURES_SEL, 0);
    this.write(R.DRIVER_FEATURES, Number(features & 0xffff_ffffn));
  }

  /** Writes 0 to Status and forgets the queues. */
  reset(): void {
    this.write(R.STATUS, 0);
    this.queueMap.clear();
    this.negotiated = 0n;
  }

  /**
   * Reset, ACKNOWLEDGE, DRIVER, then feature negotiation. `want` is the set to accept: a mask
   * intersected with the offered features, or a function of them (which may return unoffered bits,
   * to test refusal). Modern: sets FEATURES_OK and re-reads it.
   */
  negotiate(want: bigint | ((offered: bigint) => bigint) = ~0n): NegotiateResult {
    this.reset();
    this.status = VirtioStatus.ACKNOWLEDGE;
    this.status = VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER;
    const offered = this.readDeviceFeatures();
    const features = typeof want === 'function' ? want(offered) : want & offered;
    this.writeDriverFeatures(features);
    let ok = true;
    if (!this.legacy) {
      this.status = VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK;
      ok = (this.status & VirtioStatus.FEATURES_OK) !== 0;
    }
    this.negotiated = ok ? features : 0n;
    return { ok, features, deviceFeatures: offered };
  }

  /** Sets DRIVER_OK (after queues are set up). */
  driverOk(): void {
    this.status = this.status | VirtioStatus.DRIVER_OK;
  }

  /** QueueNumMax of queue `index`. */
  queueNumMax(index: number): number {
    this.write(R.QUEUE_SEL, index);
    return this.read(R.QUEUE_NUM_MAX);
  }

  /** Allocates and configures queue `index` through QueueSel/QueueNum/addresses/QueueReady (or the legacy PFN). */
  setupQueue(index: number, options: SetupQueueOptions = {}): GuestVirtqueue {
    this.write(R.QUEUE_SEL, index);
    const max = this.read(R.QUEUE_NUM_MAX);
    if (max === 0) throw new Error(`virtio-mmio: queue ${index} does not exist`);
    const size = options.size ?? max;
    const eventIdx = this.hasFeature(VirtioFeature.RING_EVENT_IDX);
    let layout: GuestVirtqueueLayout;
    let legacyPfn = 0;
    if (this.legacy) {
      const align = options.align ?? LEGACY_PAGE_SIZE;
      const total = legacyVringLayout(0, size, align).size;
      const base = this.allocator.alloc(total, Math.max(align, LEGACY_PAGE_SIZE));
      layout = legacyVringLayout(base, size, align);
      legacyPfn = base / LEGACY_PAGE_SIZE;
      this.write(R.GUEST_PAGE_SIZE, LEGACY_PAGE_SIZE);
      this.write(R.QUEUE_NUM, size);
      this.write(R.QUEUE_ALIGN, align);
    } else {
      layout = options.layout ?? {
        desc: this.allocator.alloc(16 * size, 16),
        avail: this.allocator.alloc(6 + 2 * size, 2),
        used: this.allocator.alloc(6 + 8 * size, 4),
      };
      this.write(R.QUEUE_NUM, size);
      writeAddress(this, R.QUEUE_DESC_LOW, layout.desc);
      writeAddress(this, R.QUEUE_DRIVER_LOW, layout.avail);
      writeAddress(this, R.QUEUE_DEVICE_LOW, layout.used);
    }
    const queue = new GuestVirtqueue(
      this.memory,
      this.allocator,
      index,
      size,
      layout,
      eventIdx,
      this.notifyQueue,
      options.startIndex ?? 0,
    );
    queue.initRings();
    if (options.enable !== false) {
      if (this.legacy) this.write(R.QUEUE_PFN, legacyPfn);
      else this.write(R.QUEUE_READY, 1);
    }
    this.queueMap.set(index, queue);
    return queue;
  }

  queue(index: number): GuestVirtqueue {
    const q = this.queueMap.get(index);
    if (q === undefined) throw new Error(`queue ${index} is not set up`);
    return q;
  }

  /** Config space accessors (little-endian). */
  readConfig8(offset: number): number {
    return this.mmio.readRegister(R.CONFIG + offset, 1);
  }
  readConfig16(offset: number): number {
    return this.mmio.readRegister(R.CONFIG + offset, 2);
  }
  readConfig32(offset: number): number {
    return this.mmio.readRegister(R.CONFIG + offset, 4);
  }
  /** A 64-bit field read as two halves, retried until ConfigGeneration is stable (virtio_cread64). */
  readConfig64(offset: number): bigint {
    for (;;) {
      const gen = this.read(R.CONFIG_GENERATION);
      const lo = this.readConfig32(offset);
      const hi = this.readConfig32(offset + 4);
      if (this.read(R.CONFIG_GENERATION) === gen) return (BigInt(hi) << 32n) | BigInt(lo);
    }
  }
  writeConfig8(offset: number, value: number): void {
    this.mmio.writeRegister(R.CONFIG + offset, value, 1);
  }
  writeConfig16(offset: number, value: number): void {
    this.mmio.writeRegister(R.CONFIG + offset, value, 2);
  }
  writeConfig32(offset: number, value: number): void {
    this.mmio.writeRegister(R.CONFIG + offset, value, 4);
  }

  private readonly notifyQueue = (index: number): void => {
    this.write(R.QUEUE_NOTIFY, index);
  };
}

function writeAddress(driver: VirtioMmioDriver, low: number, addr: number): void {
  driver.write(low, addr % 0x1_0000_0000);
  driver.write(low + 4, Math.floor(addr / 0x1_0000_0000));
}
