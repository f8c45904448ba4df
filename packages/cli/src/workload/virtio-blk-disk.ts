/**
 * A GuestDisk over @vmkit/virtio-blk/testing's VirtioBlkDriver: requests are built in guest memory
 * (through an indirect table when the device offers it, so a request takes one ring slot), the
 * queue is kicked once per batch of submissions (what a guest's plug/unplug achieves), and
 * completions are reaped in the interrupt handler.
 */
import { VirtioFeature } from '@vmkit/virtio';
import { VirtioBlkFeature, VirtioBlkStatus, VIRTIO_BLK_SECTOR_SIZE } from '@vmkit/virtio-blk';
import type { BlkCompletion, BlkLayout, BlkRequest, VirtioBlkDriver } from '@vmkit/virtio-blk/testing';
import type { GuestDisk, GuestReadResult } from './guest-disk.js';

export class VirtioBlkGuestDisk implements GuestDisk {
  readonly kind = 'virtio-blk guest driver';
  readonly capacity: number;
  readonly blockSize: number;
  private readonly layout: BlkLayout;
  // Resolved with null when the driver is closed first.
  private readonly waiting = new Map<BlkRequest, (c: BlkCompletion | null) => void>();
  private kickPending = false;

  constructor(private readonly driver: VirtioBlkDriver) {
    this.capacity = driver.capacity() * VIRTIO_BLK_SECTOR_SIZE;
    this.blockSize = driver.hasFeature(VirtioBlkFeature.BLK_SIZE)
      ? driver.config().blkSize
      : VIRTIO_BLK_SECTOR_SIZE;
    this.layout = driver.hasFeature(VirtioFeature.RING_INDIRECT_DESC) ? { indirect: true } : {};
    driver.onInterrupt = this.onInterrupt;
  }

  read(offset: number, length: number): Promise<GuestReadResult> {
    return this.submit(this.driver.submitRead(offset / VIRTIO_BLK_SECTOR_SIZE, length, this.layout)).then(
      (c) => (c === null ? CLOSED : { status: c.status, data: c.data }),
    );
  }

  write(offset: number, data: Uint8Array): Promise<number> {
    return this.submit(this.driver.submitWrite(offset / VIRTIO_BLK_SECTOR_SIZE, data, this.layout)).then(
      (c) => c?.status ?? VirtioBlkStatus.IOERR,
    );
  }

  flush(): Promise<number> {
    return this.submit(this.driver.submitFlush(this.layout)).then((c) => c?.status ?? VirtioBlkStatus.IOERR);
  }

  close(): Promise<void> {
    this.driver.onInterrupt = null;
    for (const resolve of this.waiting.values()) resolve(null);
    this.waiting.clear();
    return Promise.resolve();
  }

  private submit(req: BlkRequest): Promise<BlkCompletion | null> {
    if (!this.kickPending) {
      this.kickPending = true;
      queueMicrotask(this.kick);
    }
    return new Promise<BlkCompletion | null>((resolve) => this.waiting.set(req, resolve));
  }

  // One kick decision for everything submitted in this turn.
  private readonly kick = (): void => {
    this.kickPending = false;
    this.driver.kickIfNeeded();
  };

  private readonly onInterrupt = (): void => {
    for (const c of this.driver.takeCompletions()) {
      const resolve = this.waiting.get(c.request);
      if (resolve === undefined) continue;
      this.waiting.delete(c.request);
      resolve(c);
    }
  };
}

/** Answer of reads still waiting when the driver is closed. */
const CLOSED: GuestReadResult = { status: VirtioBlkStatus.IOERR, data: new Uint8Array(0) };
