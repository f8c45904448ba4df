/**
 * virtio-crc32: a small checksum accelerator on virtio, written for this example (it is not a
 * device of the virtio specification). The guest posts data; the device answers its CRC.
 *
 * - Device id `VIRTIO_ID_CRC32` (0xfffe, in the range no specified device uses).
 * - Feature bit 0 `VIRTIO_CRC32_F_CASTAGNOLI`: the device also computes CRC-32C.
 * - One queue. A request is a chain of
 *     device-readable:  le32 algo (0 CRC-32, 1 CRC-32C), le32 seed (the CRC of the data before
 *                       this request, 0 to start), then the data, in any number of buffers;
 *     device-writable:  le32 crc, u8 status (0 OK, 1 UNSUPP: CRC-32C without the feature).
 *   The used length is 5. A chain with fewer than 8 readable or 5 writable bytes is a driver bug:
 *   the device sets NEEDS_RESET and stops (virtio_error), as virtio-blk does for missing headers.
 * - Config space (read-only): le64 bytes checksummed, le32 requests completed, since reset.
 */
import {
  featureBit,
  VIRTIO_COMMON_FEATURES,
  VirtioDevice,
  VirtQueueElement,
  type VirtQueue,
} from '@vmkit/virtio';
import { CRC32_IEEE_TABLE, CRC32C_TABLE, crc32Update } from './crc32.js';

export const VIRTIO_ID_CRC32 = 0xfffe;
export const VIRTIO_CRC32_F_CASTAGNOLI = 0;

export const Crc32Algo = { CRC32: 0, CRC32C: 1 } as const;
export type Crc32Algo = (typeof Crc32Algo)[keyof typeof Crc32Algo];

export const Crc32Status = { OK: 0, UNSUPP: 1 } as const;
export type Crc32Status = (typeof Crc32Status)[keyof typeof Crc32Status];

export const CRC32_REQ_HEADER_SIZE = 8;
export const CRC32_RESP_SIZE = 5;
export const CRC32_CONFIG_BYTES = 0;
export const CRC32_CONFIG_REQUESTS = 8;
export const CRC32_CONFIG_SIZE = 12;

export interface Crc32DeviceOptions {
  readonly name?: string;
  readonly queueSize?: number;
  /** Offer VIRTIO_CRC32_F_CASTAGNOLI (default true). */
  readonly castagnoli?: boolean;
}

export class VirtioCrc32Device extends VirtioDevice {
  bytesProcessed = 0;
  requestsCompleted = 0;
  // Preallocated: the queue handler allocates nothing per request.
  private readonly element = new VirtQueueElement();
  private readonly header = new Uint8Array(CRC32_REQ_HEADER_SIZE);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly response = new Uint8Array(CRC32_RESP_SIZE);
  private readonly responseView = new DataView(this.response.buffer);

  constructor(options: Crc32DeviceOptions = {}) {
    super({
      deviceId: VIRTIO_ID_CRC32,
      name: options.name ?? 'virtio-crc32',
      features:
        VIRTIO_COMMON_FEATURES | (options.castagnoli === false ? 0n : featureBit(VIRTIO_CRC32_F_CASTAGNOLI)),
      configSize: CRC32_CONFIG_SIZE,
    });
    this.addQueue(options.queueSize ?? 128);
  }

  protected override getConfig(config: Uint8Array): void {
    const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
    v.setBigUint64(CRC32_CONFIG_BYTES, BigInt(this.bytesProcessed), true);
    v.setUint32(CRC32_CONFIG_REQUESTS, this.requestsCompleted >>> 0, true);
  }

  protected override resetDevice(): void {
    this.bytesProcessed = 0;
    this.requestsCompleted = 0;
  }

  /**
   * The dataplane pattern of QEMU devices: with notifications off, pop until empty; turn them
   * back on and look again (a kick may have been suppressed meanwhile); notify once at the end.
   */
  protected override handleOutput(queue: VirtQueue): void {
    do {
      queue.setNotification(false);
      let elem: VirtQueueElement | null;
      while ((elem = queue.pop(this.element)) !== null) {
        if (!this.handleRequest(queue, elem)) return;
      }
      queue.setNotification(true);
    } while (!queue.isEmpty());
    queue.notify();
  }

  /** Completes one request; false after a device error (the queue is then stopped). */
  private handleRequest(queue: VirtQueue, elem: VirtQueueElement): boolean {
    if (elem.outLen < CRC32_REQ_HEADER_SIZE || elem.inLen < CRC32_RESP_SIZE) {
      queue.detach(elem);
      this.virtioError('virtio-crc32 request without header or response buffer');
      return false;
    }
    elem.readOut(0, this.header);
    const algo = this.headerView.getUint32(0, true);
    const seed = this.headerView.getUint32(4, true);
    let status: Crc32Status = Crc32Status.OK;
    let crc = 0;
    if (
      algo === Crc32Algo.CRC32 ||
      (algo === Crc32Algo.CRC32C && this.hasFeature(VIRTIO_CRC32_F_CASTAGNOLI))
    ) {
      crc = this.checksum(elem, algo === Crc32Algo.CRC32 ? CRC32_IEEE_TABLE : CRC32C_TABLE, seed);
      this.bytesProcessed += elem.outLen - CRC32_REQ_HEADER_SIZE;
    } else {
      status = Crc32Status.UNSUPP;
    }
    this.responseView.setUint32(0, crc, true);
    this.response[4] = status;
    elem.writeIn(0, this.response);
    queue.push(elem, CRC32_RESP_SIZE);
    this.requestsCompleted++;
    return true;
  }

  /** Runs over the guest's buffers in place (zero copy), skipping the header. */
  private checksum(elem: VirtQueueElement, table: Uint32Array, seed: number): number {
    let crc = seed;
    let skip = CRC32_REQ_HEADER_SIZE;
    for (const view of elem.outSg.views) {
      if (skip >= view.length) {
        skip -= view.length;
        continue;
      }
      crc = crc32Update(table, crc, skip === 0 ? view : view.subarray(skip));
      skip = 0;
    }
    return crc;
  }
}
