/**
 * A minimal virtio device for tests and as an example for device authors: every chain's
 * device-readable bytes are copied to its device-writable buffers (optionally inverted).
 * It follows the dataplane pattern: drain with notifications disabled, re-enable, re-check.
 */
import { featureBit } from '../constants.js';
import { VIRTIO_COMMON_FEATURES, VirtioDevice } from '../device/virtio-device.js';
import type { VirtQueue } from '../ring/virtqueue.js';
import { VirtQueueElement } from '../ring/virtqueue-element.js';

/** An id outside the assigned range (virtio reserves 65535 for "experimental"). */
export const VIRTIO_ID_ECHO = 0xffff;
/** Device feature bit 0: invert every byte. */
export const VIRTIO_ECHO_F_INVERT = 0;

/** Config layout: le32 requests processed (device-owned), le32 scratch (driver-writable). */
export const ECHO_CONFIG_PROCESSED = 0;
export const ECHO_CONFIG_SCRATCH = 4;
export const ECHO_CONFIG_SIZE = 8;

export interface EchoDeviceOptions {
  readonly queueSize?: number;
  readonly queues?: number;
  /** Extra offered features (default: VIRTIO_COMMON_FEATURES | INVERT). */
  readonly features?: bigint;
  readonly name?: string;
}

export class EchoDevice extends VirtioDevice {
  /** Requests completed since reset. */
  processed = 0;
  /** Handler runs (kicks handled). */
  handlerRuns = 0;
  private readonly element = new VirtQueueElement();
  private scratch = new Uint8Array(256);
  private scratchRegister = 0;

  constructor(options: EchoDeviceOptions = {}) {
    super({
      deviceId: VIRTIO_ID_ECHO,
      name: options.name ?? 'virtio-echo',
      features: options.features ?? VIRTIO_COMMON_FEATURES | featureBit(VIRTIO_ECHO_F_INVERT),
      configSize: ECHO_CONFIG_SIZE,
    });
    const n = options.queues ?? 1;
    for (let i = 0; i < n; i++) this.addQueue(options.queueSize ?? 256);
  }

  /** Device-side config change (for generation/interrupt tests): sets the scratch word. */
  setScratch(value: number): void {
    this.scratchRegister = value >>> 0;
    this.notifyConfigChanged();
  }

  get scratchValue(): number {
    return this.scratchRegister;
  }

  protected override getConfig(config: Uint8Array): void {
    const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
    v.setUint32(ECHO_CONFIG_PROCESSED, this.processed >>> 0, true);
    v.setUint32(ECHO_CONFIG_SCRATCH, this.scratchRegister, true);
  }

  protected override setConfig(config: Uint8Array): void {
    // Only the scratch word is writable.
    this.scratchRegister = new DataView(config.buffer, config.byteOffset, config.byteLength).getUint32(
      ECHO_CONFIG_SCRATCH,
      true,
    );
  }

  protected override resetDevice(): void {
    this.processed = 0;
    this.scratchRegister = 0;
  }

  protected override handleOutput(queue: VirtQueue): void {
    this.handlerRuns++;
    const invert = this.hasFeature(VIRTIO_ECHO_F_INVERT);
    do {
      queue.setNotification(false);
      let elem: VirtQueueElement | null;
      while ((elem = queue.pop(this.element)) !== null) {
        const n = Math.min(elem.outLen, elem.inLen);
        if (this.scratch.length < n) this.scratch = new Uint8Array(n);
        const buf = this.scratch.subarray(0, n);
        elem.readOut(0, buf);
        if (invert) for (let i = 0; i < n; i++) buf[i] = ~buf[i] & 0xff;
        elem.writeIn(0, buf);
        queue.push(elem, n);
        this.processed++;
      }
      queue.setNotification(true);
    } while (!queue.isEmpty());
    queue.notify();
  }
}
