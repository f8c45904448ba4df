/**
 * A GuestDisk over @vmkit/xen-block/testing's Blkfront: each request grants its data pages to the
 * backend (read-only for writes), goes through the shared ring, and ends its grants when answered.
 * Blkfront splits requests above 88 sectors and queues those that do not fit in the ring.
 */
import { BlkifStatus } from '@vmkit/xen-block';
import { BlkfrontIoError, type Blkfront } from '@vmkit/xen-block/testing';
import type { GuestDisk, GuestReadResult } from './guest-disk.js';

const SECTOR = 512;
const EMPTY = new Uint8Array(0);

export class XenBlkGuestDisk implements GuestDisk {
  readonly kind = 'xen blkfront';
  readonly capacity: number;
  readonly blockSize: number;

  constructor(private readonly front: Blkfront) {
    const info = front.info;
    if (info === undefined) throw new Error('blkfront is not connected');
    this.capacity = info.sectors * SECTOR;
    this.blockSize = info.sectorSize;
  }

  async read(offset: number, length: number): Promise<GuestReadResult> {
    try {
      return { status: BlkifStatus.OKAY, data: await this.front.read(offset / SECTOR, length / SECTOR) };
    } catch (e) {
      return { status: statusOf(e), data: EMPTY };
    }
  }

  async write(offset: number, data: Uint8Array): Promise<number> {
    try {
      await this.front.write(offset / SECTOR, data);
      return BlkifStatus.OKAY;
    } catch (e) {
      return statusOf(e);
    }
  }

  async flush(): Promise<number> {
    try {
      await this.front.flush();
      return BlkifStatus.OKAY;
    } catch (e) {
      return statusOf(e);
    }
  }

  /** The XenbusState handshake down to Closed; a backend that does not answer in time is left. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
    try {
      await Promise.race([this.front.close().catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
      if (this.front.ring !== undefined) this.front.teardown();
    }
  }
}

const CLOSE_TIMEOUT_MS = 2000;

// A response status is a value; anything else (a closed ring, a broken backend) is a failure.
function statusOf(e: unknown): number {
  if (e instanceof BlkfrontIoError) return e.status === 0 ? BlkifStatus.ERROR : e.status;
  throw e;
}
