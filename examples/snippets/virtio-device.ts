import { GuestMemory, Machine, VirtualClock, defineDeviceType, definePlugin } from '@vmkit/core';
import {
  VIRTIO_COMMON_FEATURES,
  VIRTIO_MMIO_BUS,
  VirtQueueElement,
  VirtioDevice,
  createVirtioMmioSlot,
  virtioPlugin,
  type VirtQueue,
} from '@vmkit/virtio';
import { GuestAllocator, VirtioMmioDriver, runBottomHalves } from '@vmkit/virtio/testing';

/** virtio-upper: answers each chain with its device-readable bytes in ASCII upper case. */
class VirtioUpper extends VirtioDevice {
  private readonly elem = new VirtQueueElement(); // reused by every pop: no allocation per request
  constructor(queueSize: number) {
    super({ deviceId: 0xfffd, name: 'virtio-upper', features: VIRTIO_COMMON_FEATURES, configSize: 0 });
    this.addQueue(queueSize);
  }
  protected override handleOutput(queue: VirtQueue): void {
    let elem: VirtQueueElement | null;
    while ((elem = queue.pop(this.elem)) !== null) {
      const text = new Uint8Array(Math.min(elem.outLen, elem.inLen));
      elem.readOut(0, text);
      for (let i = 0; i < text.length; i++) if (text[i] >= 0x61 && text[i] <= 0x7a) text[i] -= 0x20;
      elem.writeIn(0, text);
      queue.push(elem, text.length);
    }
    queue.notify(); // one interrupt for the whole pass (if the guest wants one)
  }
}

const upperPlugin = definePlugin(
  'virtio-upper',
  (ctx) =>
    ctx.deviceType(
      defineDeviceType({
        name: 'virtio-upper',
        bus: VIRTIO_MMIO_BUS,
        properties: { 'queue-size': { kind: 'int', powerOfTwo: true, min: 2, max: 1024, default: 16 } },
        create: (props) => new VirtioUpper(props['queue-size']),
      }),
    ),
  { dependencies: ['virtio'] },
);

const memory = new GuestMemory();
memory.addRegion(0x1000_0000, new ArrayBuffer(1 << 20));
const machine = await Machine.create({
  memory,
  clock: new VirtualClock(),
  plugins: [virtioPlugin, upperPlugin],
});
const slot = createVirtioMmioSlot(machine, { memory });
await machine.deviceAdd({ type: 'virtio-upper', id: 'up0', bus: slot.bus.name });

// The guest: registers and guest memory only.
const guest = new VirtioMmioDriver(slot, memory, { allocator: new GuestAllocator(0x1000_0000, 1 << 20) });
slot.setInterruptHandler(guest.irq);
guest.negotiate();
const queue = guest.setupQueue(0);
guest.driverOk();
const req = queue.submit({ out: new TextEncoder().encode('shout this'), inLength: 10 });
queue.kick();
runBottomHalves(machine.mainContext); // the kick is handled in the main context's bottom halves
const [used] = queue.reap();
console.log(`${new TextDecoder().decode(queue.readIn(req, used.len))} (${guest.interrupts} interrupt)`); // SHOUT THIS (1 interrupt)
await machine.destroy();
