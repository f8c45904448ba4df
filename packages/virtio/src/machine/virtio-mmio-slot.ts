/**
 * virtio-mmio in a Machine: a `virtio-mmio` bus holds at most one virtio device; a slot is the
 * transport window of one such bus (QEMU's virtio-mmio sysbus device with its virtio-mmio-bus).
 * The transport is created when a device is plugged and destroyed when it is unplugged.
 */
import {
  ConfigError,
  type AioContext,
  type Bus,
  type BusType,
  type DeviceInfo,
  type GuestMemory,
  type Machine,
} from '@vmkit/core';
import { VirtioDevice } from '../device/virtio-device.js';
import {
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_VENDOR_QEMU,
  VirtioMmioRegister as R,
  type MmioAccessSize,
} from '../mmio/registers.js';
import { VirtioMmioTransport } from '../mmio/virtio-mmio.js';

/** Name of the bus type virtio devices plug into. */
export const VIRTIO_MMIO_BUS = 'virtio-mmio';

/** One device per transport (BusClass.max_dev = 1). */
export const virtioMmioBusType: BusType = {
  name: VIRTIO_MMIO_BUS,
  maxDevices: 1,
  description: 'virtio-mmio transport: holds one virtio device',
};

export interface VirtioMmioSlotOptions {
  /** Guest memory the device's rings and buffers live in. */
  readonly memory: GuestMemory;
  /** Bus name (default `virtio-mmio.<n>`). */
  readonly name?: string;
  /** Version 1 register layout. */
  readonly legacy?: boolean;
  readonly vendorId?: number;
  /** Interrupt line of the slot; kept across device hot-plug. */
  readonly onInterrupt?: (level: boolean) => void;
  /** Where interrupts are raised and kicks handled (default: the machine's main context). */
  readonly context?: AioContext;
}

/** The MMIO window of one virtio-mmio bus; forwards to the transport of the plugged device. */
export class VirtioMmioSlot {
  readonly bus: Bus;
  private transportValue: VirtioMmioTransport | null = null;
  private interruptHandler: ((level: boolean) => void) | undefined;

  constructor(
    machine: Machine,
    private readonly options: VirtioMmioSlotOptions,
  ) {
    this.interruptHandler = options.onInterrupt;
    this.bus = machine.createBus(VIRTIO_MMIO_BUS, {
      ...(options.name !== undefined ? { name: options.name } : {}),
      hooks: { plug: (child) => this.plug(child, machine), unplug: () => this.unplug() },
    });
  }

  /** The transport of the plugged device, or null when the slot is empty. */
  get transport(): VirtioMmioTransport | null {
    return this.transportValue;
  }

  get device(): VirtioDevice | null {
    return this.transportValue?.device ?? null;
  }

  get legacy(): boolean {
    return this.options.legacy ?? false;
  }

  get interruptLevel(): boolean {
    return this.transportValue?.interruptLevel ?? false;
  }

  setInterruptHandler(handler: ((level: boolean) => void) | undefined): void {
    this.interruptHandler = handler;
    this.transportValue?.setInterruptHandler(handler);
  }

  /** An empty slot answers magic, version and vendor, and device id 0 (QEMU: no backend). */
  readRegister(offset: number, size: MmioAccessSize): number {
    const t = this.transportValue;
    if (t !== null) return t.readRegister(offset, size);
    if (size !== 4) return 0;
    switch (offset) {
      case R.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case R.VERSION:
        return this.legacy ? 1 : 2;
      case R.VENDOR_ID:
        return (this.options.vendorId ?? VIRTIO_MMIO_VENDOR_QEMU) >>> 0;
      default:
        return 0;
    }
  }

  writeRegister(offset: number, value: number, size: MmioAccessSize): void {
    this.transportValue?.writeRegister(offset, value, size);
  }

  private plug(child: DeviceInfo, machine: Machine): void {
    const device = child.device;
    if (!(device instanceof VirtioDevice)) {
      throw new ConfigError(
        `${child.type} '${child.id}': not a virtio device, cannot plug into bus '${this.bus.name}'`,
      );
    }
    this.transportValue = new VirtioMmioTransport(device, {
      memory: this.options.memory,
      context: this.options.context ?? machine.mainContext,
      legacy: this.legacy,
      ...(this.options.vendorId !== undefined ? { vendorId: this.options.vendorId } : {}),
      onInterrupt: (level) => this.interruptHandler?.(level),
    });
  }

  private unplug(): void {
    const t = this.transportValue;
    if (t === null) return;
    this.transportValue = null;
    // The device reset in destroy() lowers the line through the handler.
    t.destroy();
  }
}

/** Creates a virtio-mmio bus in `machine` and returns its MMIO window; then `deviceAdd({ ..., bus: slot.bus.name })`. */
export function createVirtioMmioSlot(machine: Machine, options: VirtioMmioSlotOptions): VirtioMmioSlot {
  return new VirtioMmioSlot(machine, options);
}
