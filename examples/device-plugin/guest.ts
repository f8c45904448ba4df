/**
 * The guest's side of virtio-crc32: a driver that knows the device only through the virtio-mmio
 * registers and guest memory (it uses @vmkit/virtio/testing's VirtioMmioDriver, which does what
 * Linux's virtio_mmio.c does). Requests complete through the interrupt line, like in a real guest:
 * the ISR reaps the used ring and resolves the requests it finds.
 */
import type { GuestMemory } from '@vmkit/core';
import {
  GuestAllocator,
  VirtioMmioDriver,
  type GuestVirtqueue,
  type MmioWindow,
} from '@vmkit/virtio/testing';
import {
  CRC32_CONFIG_BYTES,
  CRC32_CONFIG_REQUESTS,
  CRC32_REQ_HEADER_SIZE,
  CRC32_RESP_SIZE,
  Crc32Algo,
  VIRTIO_CRC32_F_CASTAGNOLI,
  VIRTIO_ID_CRC32,
  type Crc32Status,
} from './crc32-device.js';

/** An MMIO window with an interrupt line (a VirtioMmioSlot, or a transport). */
export interface MmioWindowWithIrq extends MmioWindow {
  setInterruptHandler(handler: ((level: boolean) => void) | undefined): void;
}

export interface Crc32Result {
  readonly status: Crc32Status;
  readonly crc: number;
}

export interface ChecksumOptions {
  readonly algo?: Crc32Algo;
  /** CRC of the data before this request (0 to start). */
  readonly seed?: number;
  /** Lengths of the data buffers, summing to the data length (default: one buffer). */
  readonly split?: readonly number[];
}

export class Crc32Guest {
  readonly driver: VirtioMmioDriver;
  readonly queue: GuestVirtqueue;
  /** Whether CRC-32C was negotiated. */
  readonly castagnoli: boolean;
  private readonly waiting = new Map<number, (result: Crc32Result) => void>();

  /** Probes and initialises the device (reset, features, queue 0, DRIVER_OK). */
  constructor(
    readonly mmio: MmioWindowWithIrq,
    memory: GuestMemory,
    allocator: GuestAllocator,
  ) {
    this.driver = new VirtioMmioDriver(mmio, memory, { allocator });
    if (this.driver.deviceId !== VIRTIO_ID_CRC32) {
      throw new Error(`not a virtio-crc32 device (device id ${this.driver.deviceId})`);
    }
    if (!this.driver.negotiate().ok) throw new Error('virtio-crc32: FEATURES_OK refused');
    this.castagnoli = this.driver.hasFeature(VIRTIO_CRC32_F_CASTAGNOLI);
    this.queue = this.driver.setupQueue(0);
    mmio.setInterruptHandler(this.interrupt);
    this.driver.driverOk();
  }

  /** Posts one request and kicks the device if it asked for kicks; resolves on completion. */
  checksum(data: Uint8Array, options: ChecksumOptions = {}): Promise<Crc32Result> {
    const out = new Uint8Array(CRC32_REQ_HEADER_SIZE + data.length);
    const header = new DataView(out.buffer);
    header.setUint32(0, options.algo ?? Crc32Algo.CRC32, true);
    header.setUint32(4, options.seed ?? 0, true);
    out.set(data, CRC32_REQ_HEADER_SIZE);
    const split = options.split ?? (data.length > 0 ? [data.length] : []);
    const request = this.queue.submit({
      out,
      outSplit: [CRC32_REQ_HEADER_SIZE, ...split],
      inLength: CRC32_RESP_SIZE,
    });
    return new Promise((resolve) => {
      this.waiting.set(request.head, resolve);
      this.queue.kickIfNeeded();
    });
  }

  /** Config space: bytes checksummed and requests completed since reset. */
  stats(): { bytes: bigint; requests: number } {
    return {
      bytes: this.driver.readConfig64(CRC32_CONFIG_BYTES),
      requests: this.driver.readConfig32(CRC32_CONFIG_REQUESTS),
    };
  }

  /** Resets the device (writes 0 to Status) and detaches from the interrupt line. */
  shutdown(): void {
    this.driver.reset();
    this.mmio.setInterruptHandler(undefined);
  }

  /** The ISR: acknowledge (VirtioMmioDriver.irq does), then reap the used ring. */
  private readonly interrupt = (level: boolean): void => {
    this.driver.irq(level);
    for (const used of this.queue.reap()) {
      const resolve = this.waiting.get(used.id);
      if (resolve === undefined || used.request === undefined) continue;
      this.waiting.delete(used.id);
      // Read the response right away: reap() has handed the buffers back to the allocator.
      const response = this.queue.readIn(used.request, CRC32_RESP_SIZE);
      const view = new DataView(response.buffer, response.byteOffset, response.byteLength);
      resolve({ crc: view.getUint32(0, true), status: response[4] as Crc32Status });
    }
  };
}
