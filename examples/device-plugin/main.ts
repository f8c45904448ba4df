/**
 * A device contributed by a plugin: `virtio-crc32`, a checksum accelerator on the virtio-mmio bus.
 * The machine gets a virtio-mmio slot; the device is plugged into it with `deviceAdd`, and a
 * guest-side driver uses it through the MMIO registers, guest memory and the interrupt line.
 *
 * Run: `npm run build && node examples/dist/device-plugin/main.js`
 */
import { GuestMemory, Machine } from '@vmkit/core';
import { createVirtioMmioSlot, virtioPlugin } from '@vmkit/virtio';
import { GuestAllocator } from '@vmkit/virtio/testing';
import { crc32, crc32c } from './crc32.js';
import { Crc32Algo, Crc32Status, type VirtioCrc32Device } from './crc32-device.js';
import { Crc32Guest } from './guest.js';
import { virtioCrc32Plugin } from './plugin.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 8 << 20;
const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

const memory = new GuestMemory();
memory.addRegion(RAM_BASE, new ArrayBuffer(RAM_SIZE), 'ram');
const machine = await Machine.create({ memory, plugins: [virtioPlugin, virtioCrc32Plugin] });
const slot = createVirtioMmioSlot(machine, { memory, name: 'virtio-mmio.0' });
console.log(`device types: ${machine.deviceTypes().join(', ')}`);

// Properties are checked before anything is created.
await machine
  .deviceAdd({ type: 'virtio-crc32', id: 'crc0', bus: slot.bus.name, 'queue-size': 100 })
  .catch((e: Error) => console.log(`refused as expected: ${e.message}`));

const device = await machine.deviceAdd<VirtioCrc32Device>({
  type: 'virtio-crc32',
  id: 'crc0',
  bus: slot.bus.name,
  'queue-size': 64,
});
const allocator = new GuestAllocator(RAM_BASE, RAM_SIZE);
let guest = new Crc32Guest(slot, memory, allocator);
console.log(
  `guest found virtio-crc32 in ${slot.bus.name}: queue size ${guest.queue.size}, CRC-32C ${guest.castagnoli ? 'negotiated' : 'not offered'}`,
);

// The check values of both CRCs.
const check = new TextEncoder().encode('123456789');
for (const [algo, name, soft] of [
  [Crc32Algo.CRC32, 'CRC-32 ', crc32],
  [Crc32Algo.CRC32C, 'CRC-32C', crc32c],
] as const) {
  const { crc, status } = await guest.checksum(check, { algo });
  console.log(`${name}('123456789') = ${hex(crc)} (status ${status}, software says ${hex(soft(check))})`);
}

// 1 MiB in four requests chained through the seed, each scattered over several buffers.
const data = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
let seed = 0;
for (let part = 0; part < 4; part++) {
  const chunk = data.subarray(part << 18, (part + 1) << 18);
  ({ crc: seed } = await guest.checksum(chunk, { seed, split: [1000, 4096, chunk.length - 5096] }));
}
console.log(`1 MiB in 4 chained requests: ${hex(seed)}, in one go: ${hex(crc32(data))}`);

// Sixteen requests in flight at once: one kick, one pass of the device, one interrupt.
const kicks = guest.queue.kicks;
const interrupts = guest.driver.interrupts;
const batch = await Promise.all(
  Array.from({ length: 16 }, (_, i) => guest.checksum(data.subarray(i * 100, i * 100 + 100))),
);
const allRight = batch.every(
  (r, i) => r.status === Crc32Status.OK && r.crc === crc32(data.subarray(i * 100, i * 100 + 100)),
);
console.log(
  `16 requests at once: ${allRight ? 'all right' : 'WRONG'}, ${guest.queue.kicks - kicks} kick, ${guest.driver.interrupts - interrupts} interrupt`,
);

const stats = guest.stats();
console.log(
  `config space: ${stats.bytes} bytes in ${stats.requests} requests (device counts ${device.requestsCompleted})`,
);

// Hot-unplug, then the same id again without CRC-32C: the guest sees the feature go.
guest.shutdown();
await machine.deviceDel('crc0');
await machine.deviceAdd({ type: 'virtio-crc32', id: 'crc0', bus: slot.bus.name, castagnoli: false });
guest = new Crc32Guest(slot, memory, allocator);
const refused = await guest.checksum(check, { algo: Crc32Algo.CRC32C });
console.log(
  `re-plugged with castagnoli=false: CRC-32C ${guest.castagnoli ? 'negotiated' : 'not offered'}, request status ${refused.status === Crc32Status.UNSUPP ? 'UNSUPP' : refused.status}`,
);

for (const d of machine.devices())
  console.log(`device ${d.id} (${d.type}) on ${d.bus?.name}, queue-size ${d.properties['queue-size']}`);
guest.shutdown();
await machine.destroy();
console.log('machine destroyed');
