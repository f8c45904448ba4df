/**
 * The guest side of virtio-blk devices: one virtio-mmio slot per device, and for each driven
 * device a region of guest memory (rings, request headers, data buffers) handed to the
 * VirtioBlkDriver's allocator, sized for the job's queue depth and block size.
 */
import type { GuestMemory, Machine } from '@vmkit/core';
import { createVirtioMmioSlot, type VirtioMmioSlot } from '@vmkit/virtio';
import { GuestAllocator } from '@vmkit/virtio/testing';
import { VirtioBlkDriver } from '@vmkit/virtio-blk/testing';
import type { DeviceSpec, JobSpec } from '../config/types.js';
import { VirtioBlkGuestDisk } from '../workload/virtio-blk-disk.js';

/** Where the first region goes (above a typical guest's low RAM). */
const FIRST_GPA = 0x4000_0000;
const REGION_ALIGN = 0x10_0000;
/** Rings and descriptor tables of one queue of up to 1024 entries, with room to spare. */
const RING_BYTES = 0x10_0000;

export interface VirtioSlotPlan {
  readonly slot: VirtioMmioSlot;
  readonly memory: GuestMemory;
  /** Guest memory for the driver, when a job drives the device. */
  readonly allocator: GuestAllocator | undefined;
  readonly deviceId: string;
}

/** Hands out guest memory regions for virtio drivers. */
export class VirtioGuestMemory {
  private next = FIRST_GPA;

  constructor(private readonly memory: GuestMemory) {}

  /** A slot for device `d`, with a memory region for its driver when `job` drives it. */
  slot(machine: Machine, d: DeviceSpec, job: JobSpec | undefined): VirtioSlotPlan {
    const slot = createVirtioMmioSlot(machine, { memory: this.memory, name: `virtio-mmio.${d.id}` });
    let allocator: GuestAllocator | undefined;
    if (job !== undefined) {
      // Per request: header, data, status and an indirect table; twice that for fragmentation.
      const bytes = roundUp(RING_BYTES + 2 * job.iodepth * (job.bs + 4096), REGION_ALIGN);
      const gpa = this.next;
      this.memory.addRegion(gpa, new ArrayBuffer(bytes));
      this.next = roundUp(gpa + bytes, REGION_ALIGN);
      allocator = new GuestAllocator(gpa, bytes);
    }
    return { slot, memory: this.memory, allocator, deviceId: d.id };
  }
}

/** Probes the device like Linux virtio_blk (features, queue 0, DRIVER_OK) and wraps the driver. */
export function connectVirtioBlk(plan: VirtioSlotPlan): VirtioBlkGuestDisk {
  if (plan.allocator === undefined) throw new Error(`virtio-blk '${plan.deviceId}' has no job`);
  const driver = new VirtioBlkDriver(plan.slot, plan.memory, { allocator: plan.allocator });
  plan.slot.setInterruptHandler(driver.irq);
  const result = driver.init();
  if (!result.ok) throw new Error(`virtio-blk guest driver: feature negotiation failed`);
  return new VirtioBlkGuestDisk(driver);
}

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
