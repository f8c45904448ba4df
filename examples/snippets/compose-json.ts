import { Machine, type BlockdevOptions, type ObjectAddOptions } from '@vmkit/core';
import { blockLayerOf, blockLayerPlugin } from '@vmkit/block-layer';

// Everything the configuration calls take is plain data, so a machine can come from a JSON file.
interface MachineConfig {
  objects: ObjectAddOptions[];
  blockdevs: BlockdevOptions[];
  drives: { id: string; node: string; group?: string }[];
}
const config = JSON.parse(`{
  "objects": [{ "type": "iothread", "id": "io0" },
              { "type": "throttle-group", "id": "slow", "x-bps-total": 1048576 }],
  "blockdevs": [{ "driver": "null-co", "node-name": "null0", "size": 1073741824 },
                { "driver": "raw", "nodeName": "disk0", "file": "null0", "size": 536870912 }],
  "drives": [{ "id": "hd0", "node": "disk0", "group": "slow" }]
}`) as MachineConfig;

const machine = await Machine.create({ plugins: [blockLayerPlugin] });
for (const o of config.objects) machine.objectAdd(o);
for (const b of config.blockdevs) await machine.blockdevAdd(b); // QEMU's `node-name` or `nodeName`
const blockLayer = blockLayerOf(machine);
for (const d of config.drives) {
  const blk = blockLayer.addBlockBackend(d.id, { node: d.node });
  if (d.group !== undefined) blk.ioLimitsEnable(d.group);
}

for (const { device, inserted } of blockLayer.queryBlock()) {
  console.log(
    `${device}: ${inserted?.drv} ${inserted?.image['virtual-size']} bytes, group ${inserted?.group}, bps ${inserted?.bps}`,
  );
} // hd0: raw 536870912 bytes, group slow, bps 1048576
await machine.destroy();
