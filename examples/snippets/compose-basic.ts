import { Machine, VirtualClock } from '@vmkit/core';
import { blockLayerPlugin } from '@vmkit/block-layer';

// A machine with the block layer, on a clock that only moves when told to.
const machine = await Machine.create({
  name: 'basic',
  plugins: [blockLayerPlugin],
  clock: new VirtualClock(),
});
machine.objectAdd({ type: 'iothread', id: 'io0' });
await machine.blockdevAdd({ driver: 'memory', nodeName: 'mem0', size: 16 << 20 });
await machine.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'mem0' });

// What a device's `drive: 'disk0'` resolves to: a BlockBackend on the node, owned by the caller.
const blk = machine.blockBackend('disk0');
await blk.write(0, new Uint8Array(512).fill(0xab));
console.log(`read back: ${(await blk.read(0, 4)).join(' ')}`); // read back: 171 171 171 171
const objects = machine.objects().map((o) => `${o.id} (${o.type})`);
console.log(`drivers: ${machine.blockDrivers().join(', ')}; objects: ${objects.join(', ')}`);

await blk.unref(); // release what we asked for
await machine.destroy(); // devices, BlockBackends, nodes, then objects
console.log(`destroyed: ${machine.destroyed}`);
