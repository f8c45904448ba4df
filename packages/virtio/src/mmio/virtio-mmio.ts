/**
 * The virtio-mmio transport (QEMU hw/virtio/virtio-mmio.c): version 2 by default, the legacy
 * version 1 layout (GuestPageSize/QueueAlign/QueuePFN) with `{ legacy: true }`. Registers other
 * than config space accept only 32-bit accesses; a wrong-size access reads 0 and writes nothing.
 */
import { mainContext, trace, type AioContext, type GuestMemory } from '@vmkit/core';
import type { VirtioDevice } from '../device/virtio-device.js';
import { joinAddress } from '../ring/guest-regions.js';
import { legacyVringLayout } from '../ring/layout.js';
import type { VirtioTransport } from '../transport.js';
import {
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_VENDOR_QEMU,
  VIRTIO_MMIO_WINDOW_SIZE,
  VirtioMmioRegister as R,
  type MmioAccessSize,
} from './registers.js';

export interface VirtioMmioOptions {
  /** Guest memory holding rings and buffers. */
  readonly memory: GuestMemory;
  /** Where interrupts are raised and kicks handled by default (default: the process main context). */
  readonly context?: AioContext;
  /** Version 1 register layout. */
  readonly legacy?: boolean;
  /** VendorID register (default "QEMU"). */
  readonly vendorId?: number;
  /** Interrupt line: called with the new level whenever it changes. */
  readonly onInterrupt?: (level: boolean) => void;
}

/** Transport-side per-queue registers (QEMU VirtIOMMIOQueue). */
interface MmioQueueRegisters {
  num: number;
  ready: boolean;
  desc: [number, number];
  driver: [number, number];
  device: [number, number];
  /** Legacy. */
  align: number;
  pfn: number;
}

const LEGACY_DEFAULT_ALIGN = 4096;
const LEGACY_DEFAULT_PAGE_SHIFT = 12;

export class VirtioMmioTransport implements VirtioTransport {
  static readonly windowSize = VIRTIO_MMIO_WINDOW_SIZE;

  readonly legacy: boolean;
  readonly memory: GuestMemory;
  readonly context: AioContext;
  readonly vendorId: number;
  private interruptHandler: ((level: boolean) => void) | undefined;
  private level = false;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;
  private shmSel = 0;
  private guestPageShift = LEGACY_DEFAULT_PAGE_SHIFT;
  private readonly queueRegs: MmioQueueRegisters[];

  constructor(
    readonly device: VirtioDevice,
    options: VirtioMmioOptions,
  ) {
    this.legacy = options.legacy ?? false;
    this.memory = options.memory;
    this.context = options.context ?? mainContext();
    this.vendorId = (options.vendorId ?? VIRTIO_MMIO_VENDOR_QEMU) >>> 0;
    this.interruptHandler = options.onInterrupt;
    this.queueRegs = device.queues.map(() => initialQueueRegisters());
    device.plug(this);
  }

  /** Current level of the interrupt line. */
  get interruptLevel(): boolean {
    return this.level;
  }

  /** Connects the interrupt line (replaces the previous handler). */
  setInterruptHandler(handler: ((level: boolean) => void) | undefined): void {
    this.interruptHandler = handler;
  }

  updateInterrupt(): void {
    const level = this.device.interruptStatus !== 0;
    if (level === this.level) return;
    this.level = level;
    // Last statement: the handler may access registers re-entrantly (an ISR acking at once).
    this.interruptHandler?.(level);
  }

  /** System reset (virtio_mmio_reset): selectors, queue registers and the device. */
  reset(): void {
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = this.shmSel = 0;
    this.guestPageShift = LEGACY_DEFAULT_PAGE_SHIFT;
    this.device.reset();
  }

  /** Unplugs the device (it is reset and its notifiers detached). */
  destroy(): void {
    this.device.unplug();
    this.interruptHandler = undefined;
  }

  readRegister(offset: number, size: MmioAccessSize): number {
    if (offset >= R.CONFIG) return this.device.readConfig(offset - R.CONFIG, size);
    if (size !== 4) return this.badAccess('read', offset, size);
    const q = this.queueRegs[this.queueSel];
    switch (offset) {
      case R.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case R.VERSION:
        return this.legacy ? 1 : 2;
      case R.DEVICE_ID:
        return this.device.deviceId;
      case R.VENDOR_ID:
        return this.vendorId;
      case R.DEVICE_FEATURES:
        return this.device.deviceFeatureWord(this.deviceFeaturesSel);
      case R.QUEUE_NUM_MAX:
        return q === undefined ? 0 : this.device.queue(this.queueSel).maxSize;
      case R.QUEUE_PFN:
        if (!this.legacy || q === undefined) return 0;
        return q.pfn;
      case R.QUEUE_READY:
        return !this.legacy && q?.ready === true ? 1 : 0;
      case R.INTERRUPT_STATUS:
        return this.device.interruptStatus;
      case R.STATUS:
        return this.device.status;
      case R.QUEUE_DESC_LOW:
      case R.QUEUE_DESC_HIGH:
        return this.legacy || q === undefined ? 0 : q.desc[(offset - R.QUEUE_DESC_LOW) >> 2];
      case R.QUEUE_DRIVER_LOW:
      case R.QUEUE_DRIVER_HIGH:
        return this.legacy || q === undefined ? 0 : q.driver[(offset - R.QUEUE_DRIVER_LOW) >> 2];
      case R.QUEUE_DEVICE_LOW:
      case R.QUEUE_DEVICE_HIGH:
        return this.legacy || q === undefined ? 0 : q.device[(offset - R.QUEUE_DEVICE_LOW) >> 2];
      case R.SHM_LEN_LOW:
      case R.SHM_LEN_HIGH:
      case R.SHM_BASE_LOW:
      case R.SHM_BASE_HIGH:
        // No shared memory regions: length and base read as all ones.
        return this.legacy ? 0 : 0xffff_ffff;
      case R.CONFIG_GENERATION:
        return this.legacy ? 0 : this.device.configGeneration;
      default:
        // Write-only and unknown registers read as 0.
        return 0;
    }
  }

  writeRegister(offset: number, value: number, size: MmioAccessSize): void {
    if (offset >= R.CONFIG) {
      this.device.writeConfig(offset - R.CONFIG, value, size);
      return;
    }
    if (size !== 4) {
      this.badAccess('write', offset, size);
      return;
    }
    value >>>= 0;
    const sel = this.queueSel;
    const q = this.queueRegs[sel];
    switch (offset) {
      case R.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = value;
        return;
      case R.DRIVER_FEATURES:
        this.device.setDriverFeatureWord(this.driverFeaturesSel, value);
        return;
      case R.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = value;
        return;
      case R.GUEST_PAGE_SIZE:
        if (this.legacy) this.guestPageShift = value === 0 ? 0 : 31 - Math.clz32(value & -value);
        return;
      case R.QUEUE_SEL:
        this.queueSel = value;
        return;
      case R.QUEUE_NUM:
        if (q === undefined) return;
        q.num = value;
        if (this.legacy) {
          this.device.queue(sel).setSize(value);
          this.updateLegacyRings(sel);
        }
        return;
      case R.QUEUE_ALIGN:
        if (!this.legacy || q === undefined) return;
        q.align = value;
        this.updateLegacyRings(sel);
        return;
      case R.QUEUE_PFN:
        if (!this.legacy || q === undefined) return;
        q.pfn = value;
        this.updateLegacyRings(sel);
        return;
      case R.QUEUE_READY:
        if (this.legacy || q === undefined) return;
        this.setQueueReady(sel, q, value !== 0);
        return;
      case R.QUEUE_NOTIFY: {
        const index = value & 0xffff;
        if (index < this.queueRegs.length) this.device.queue(index).hostNotifier.set();
        return;
      }
      case R.INTERRUPT_ACK:
        this.device.ackInterrupt(value);
        return;
      case R.STATUS:
        this.device.setStatus(value);
        return;
      case R.QUEUE_DESC_LOW:
      case R.QUEUE_DESC_HIGH:
        if (!this.legacy && q !== undefined) q.desc[(offset - R.QUEUE_DESC_LOW) >> 2] = value;
        return;
      case R.QUEUE_DRIVER_LOW:
      case R.QUEUE_DRIVER_HIGH:
        if (!this.legacy && q !== undefined) q.driver[(offset - R.QUEUE_DRIVER_LOW) >> 2] = value;
        return;
      case R.QUEUE_DEVICE_LOW:
      case R.QUEUE_DEVICE_HIGH:
        if (!this.legacy && q !== undefined) q.device[(offset - R.QUEUE_DEVICE_LOW) >> 2] = value;
        return;
      case R.SHM_SEL:
        this.shmSel = value;
        return;
      default:
        // Read-only and unknown registers ignore writes.
        return;
    }
  }

  /** The shared-memory region selected (no regions exist; kept for the register's sake). */
  get sharedMemorySelect(): number {
    return this.shmSel;
  }

  /** Modern QueueReady: the staged size and addresses take effect on 1 (QEMU virtio_queue_set_rings). */
  private setQueueReady(sel: number, q: MmioQueueRegisters, ready: boolean): void {
    const queue = this.device.queue(sel);
    q.ready = ready;
    if (!ready) {
      queue.disable();
      return;
    }
    queue.setSize(q.num);
    queue.setAddresses(
      joinAddress(q.desc[0], q.desc[1]),
      joinAddress(q.driver[0], q.driver[1]),
      joinAddress(q.device[0], q.device[1]),
    );
    queue.enable();
  }

  /** Legacy: rings follow from PFN, page size, size and alignment (virtio_queue_update_rings). */
  private updateLegacyRings(sel: number): void {
    const q = this.queueRegs[sel];
    const queue = this.device.queue(sel);
    if (q.pfn === 0) {
      queue.disable();
      queue.setAddresses(0, 0, 0);
      return;
    }
    const base = q.pfn * 2 ** this.guestPageShift;
    if (!Number.isSafeInteger(base) || q.align === 0) {
      queue.setAddresses(-1, -1, -1);
    } else {
      const layout = legacyVringLayout(base, queue.size, q.align);
      queue.setAddresses(layout.desc, layout.avail, layout.used);
    }
    queue.enable();
  }

  /** @internal the device reset: queue registers go back to their initial values. */
  deviceReset(): void {
    this.resetQueueRegisters();
  }

  private resetQueueRegisters(): void {
    for (let i = 0; i < this.queueRegs.length; i++) this.queueRegs[i] = initialQueueRegisters();
  }

  private badAccess(kind: 'read' | 'write', offset: number, size: number): number {
    trace('virtio', 'mmio-bad-access', { device: this.device.name, kind, offset, size });
    return 0;
  }
}

function initialQueueRegisters(): MmioQueueRegisters {
  return {
    num: 0,
    ready: false,
    desc: [0, 0],
    driver: [0, 0],
    device: [0, 0],
    align: LEGACY_DEFAULT_ALIGN,
    pfn: 0,
  };
}
