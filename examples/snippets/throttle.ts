import { Machine, VirtualClock } from '@vmkit/core';
import { blockLayerOf, blockLayerPlugin } from '@vmkit/block-layer';

const clock = new VirtualClock();
const machine = await Machine.create({ clock, plugins: [blockLayerPlugin] });
const blockLayer = blockLayerOf(machine);

// Two drives sharing 10 operations per second.
machine.objectAdd({ type: 'throttle-group', id: 'tg0', 'x-iops-total': 10 });
for (const id of ['a', 'b']) {
  await machine.blockdevAdd({ driver: 'null-co', nodeName: `${id}0`, size: 1 << 20, readZeroes: true });
  blockLayer.addBlockBackend(id, { node: `${id}0` }).ioLimitsEnable('tg0');
}
const timeline: string[] = [];
const read = (id: string): Promise<void> =>
  blockLayer
    .findBlockBackend(id)
    .read(0, 512)
    .then(() => void timeline.push(`${id}@${clock.now() / 1e6}`));

// Four reads on drive a, then three on b, all at t=0; virtual time runs until no timer is left.
const first = Promise.all(['a', 'a', 'a', 'a', 'b', 'b', 'b'].map(read));
await new Promise((resolve) => setImmediate(resolve)); // let the reads that passed complete at t=0
await clock.runTimers();
await first;
console.log(timeline.join(' ')); // a@0 a@0 a@100 b@200 a@300 b@400 b@500

// Drain lifts the limits while it lasts: queued requests go at once.
timeline.length = 0;
const second = Promise.all(['a', 'a', 'a'].map(read));
await blockLayer.findBlockBackend('a').drain();
await second;
console.log(timeline.join(' ')); // a@500 a@500 a@500
await machine.destroy();
