/**
 * Virtqueue hot-path benchmark: pop + push of re-offered chains through the echo device's
 * handler, and the same without the copy. Prints one JSON object per line.
 * Run: npm run bench -w @vmkit/virtio (after a build).
 */
import { AioContext, GuestMemory, VirtualClock } from '@vmkit/core';
import {
  VirtQueueElement,
  VirtioMmioTransport,
  VirtioDevice,
  VIRTIO_COMMON_FEATURES,
  type VirtQueue,
} from '../src/index.js';
import { EchoDevice, GuestAllocator, VirtioMmioDriver, runBottomHalves } from '../src/testing/index.js';

/** Pops and pushes without touching the data: the cost of the ring itself. */
class NullDevice extends VirtioDevice {
  private readonly elem = new VirtQueueElement();
  constructor(size: number) {
    super({ deviceId: 0xfffc, features: VIRTIO_COMMON_FEATURES, configSize: 0 });
    this.addQueue(size);
  }
  protected override handleOutput(queue: VirtQueue): void {
    do {
      queue.setNotification(false);
      let e: VirtQueueElement | null;
      while ((e = queue.pop(this.elem)) !== null) queue.push(e, e.inLen);
      queue.setNotification(true);
    } while (!queue.isEmpty());
    queue.notify();
  }
}

function run(
  name: string,
  device: VirtioDevice,
  segments: number,
  segmentSize: number,
  indirect: boolean,
): void {
  const memory = new GuestMemory();
  memory.addRegion(0x100000, new ArrayBuffer(32 << 20), 'ram');
  const ctx = new AioContext({ clock: new VirtualClock() });
  const transport = new VirtioMmioTransport(device, { memory, context: ctx });
  const allocator = new GuestAllocator(0x100000, 32 << 20);
  const driver = new VirtioMmioDriver(transport, memory, { allocator });
  transport.setInterruptHandler(driver.irq);
  driver.negotiate(~1n);
  const size = 256;
  const q = driver.setupQueue(0, { size });
  driver.driverOk();
  const chains = indirect ? size : Math.floor(size / (2 * segments));
  const heads: number[] = [];
  for (let c = 0; c < chains; c++) {
    const bufs = [];
    for (let s = 0; s < segments; s++)
      bufs.push({ addr: allocator.alloc(segmentSize, 64), len: segmentSize, write: false });
    for (let s = 0; s < segments; s++)
      bufs.push({ addr: allocator.alloc(segmentSize, 64), len: segmentSize, write: true });
    heads.push(q.addChain(bufs, { indirect }));
  }
  q.availIdx = 0;
  const rounds = Math.ceil(400_000 / chains);
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (const h of heads) q.addHead(h);
    q.publish();
    q.kick();
    runBottomHalves(ctx);
    q.lastUsedIdx = q.deviceUsedIdx;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const requests = rounds * chains;
  console.log(
    JSON.stringify({
      bench: `virtqueue/${name}`,
      figure: Math.round(ns / requests),
      unit: 'ns/request',
      requests,
      config: { segments, segmentSize, indirect, queueSize: size },
    }),
  );
}

run('pop-push', new NullDevice(256), 1, 512, false);
run('pop-push', new NullDevice(256), 8, 512, true);
run('echo', new EchoDevice({ queueSize: 256, features: VIRTIO_COMMON_FEATURES }), 2, 4096, false);
