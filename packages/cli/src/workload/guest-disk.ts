/**
 * What a job needs from a guest-side disk driver: reads, writes and flushes by byte offset,
 * answered with the device's status. Implemented over @vmkit/virtio-blk/testing's VirtioBlkDriver
 * and @vmkit/xen-block/testing's Blkfront; a plugin's own testing driver can be added the same way.
 */

/** A completed read: status 0 and the bytes, or the device's error status. */
export interface GuestReadResult {
  readonly status: number;
  readonly data: Uint8Array;
}

export interface GuestDisk {
  /** The driver, for messages (`virtio-blk guest driver`). */
  readonly kind: string;
  /** Disk size in bytes, as the device told the guest. */
  readonly capacity: number;
  /** The device's logical block size: requests are multiples of it. */
  readonly blockSize: number;
  /** 0 when OK, else the device's status (VIRTIO_BLK_S_*, BLKIF_RSP_*). */
  read(offset: number, length: number): Promise<GuestReadResult>;
  write(offset: number, data: Uint8Array): Promise<number>;
  flush(): Promise<number>;
  /** Disconnects the driver (best effort). */
  close(): Promise<void>;
}
