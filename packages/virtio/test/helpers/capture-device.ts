/** A device that pops every chain and keeps the elements, for element-level tests. */
import {
  VIRTIO_COMMON_FEATURES,
  VirtioDevice,
  type VirtQueue,
  type VirtQueueElement,
} from '../../src/index.js';

export class CaptureDevice extends VirtioDevice {
  readonly elements: VirtQueueElement[] = [];

  constructor(queueSize = 16, features = VIRTIO_COMMON_FEATURES) {
    super({ deviceId: 0xfffe, name: 'capture', features, configSize: 0 });
    this.addQueue(queueSize);
  }

  protected override handleOutput(queue: VirtQueue): void {
    let elem: VirtQueueElement | null;
    while ((elem = queue.pop()) !== null) this.elements.push(elem);
  }
}
