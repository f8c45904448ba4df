/**
 * A block driver contributed by a plugin: `http-ro` reads a disk image from an HTTP server (one
 * this example starts on 127.0.0.1), under `raw` format nodes whose drives share a throttle group.
 *
 * The machine runs on a VirtualClock, so the throttle's waits are exact virtual time and cost no
 * real time; with a HostClock (the default) the same waits would be real.
 *
 * Run: `npm run build && node examples/dist/block-driver-plugin/main.js`
 */
import { BlockError, Machine, VirtualClock } from '@vmkit/core';
import { blockLayerOf, blockLayerPlugin, type BlockBackend } from '@vmkit/block-layer';
import { httpBlockPlugin } from './plugin.js';
import { startImageServer } from './image-server.js';
import type { HttpRoState } from './http-ro-driver.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A 4 MiB image whose every byte is known: a label at the start of each sector, noise elsewhere. */
function makeImage(size: number): Uint8Array {
  const image = new Uint8Array(size);
  let x = 0x2545f491;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    image[i] = x & 0xff;
  }
  const encoder = new TextEncoder();
  for (let sector = 0; sector < size / 512; sector++)
    encoder.encodeInto(`sector ${sector}\n`, image.subarray(sector * 512));
  return image;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const image = makeImage(4 * MiB);
const server = await startImageServer(image);
// The port changes from run to run; print it as <port> so the output is the same every time.
const origin = new URL(server.url).origin;
const show = (text: string): string => text.replaceAll(origin, 'http://127.0.0.1:<port>');
console.log(`serving a ${image.length / MiB} MiB image at ${show(server.url)}`);

const clock = new VirtualClock();
const machine = await Machine.create({ clock, plugins: [blockLayerPlugin, httpBlockPlugin] });
const blockLayer = blockLayerOf(machine);
console.log(`block drivers: ${machine.blockDrivers().join(', ')}`);

// One protocol node, two format nodes on it: the whole disk, and a 1 MiB window at 1 MiB.
await machine.blockdevAdd({ driver: 'http-ro', nodeName: 'http0', readOnly: true, url: server.url });
await machine.blockdevAdd({ driver: 'raw', nodeName: 'disk0', readOnly: true, file: 'http0' });
await machine.blockdevAdd({
  driver: 'raw',
  nodeName: 'part1',
  readOnly: true,
  file: 'http0',
  offset: MiB,
  size: MiB,
});

for (const bad of [
  { driver: 'http-ro', nodeName: 'rw', url: server.url },
  { driver: 'http-ro', nodeName: 'missing', readOnly: true, url: server.url.replace('disk.img', 'nope.img') },
]) {
  await machine.blockdevAdd(bad).catch((e: Error) => console.log(`refused as expected: ${show(e.message)}`));
}

// Two drives in one throttle group: 20 operations per second between them.
machine.objectAdd({ type: 'throttle-group', id: 'tg0', 'x-iops-total': 20 });
const hd0 = blockLayer.addBlockBackend('hd0', { node: 'disk0' });
const hd1 = blockLayer.addBlockBackend('hd1', { node: 'part1' });
hd0.ioLimitsEnable('tg0');
hd1.ioLimitsEnable('tg0');

/** Awaits `work` while virtual time passes (throttled requests wait on the clock's timers). */
async function withVirtualTime<T>(work: Promise<T>): Promise<T> {
  void work.catch(() => undefined); // observed now: a failure must not be "unhandled" while time passes
  await clock.runTimers();
  return work;
}

// Four 64 KiB reads on each drive, all submitted at once.
const start = clock.now();
const reads: { blk: BlockBackend; offset: number; base: number }[] = [];
for (let i = 0; i < 4; i++) {
  reads.push({ blk: hd0, offset: i * 512 * KiB, base: 0 });
  reads.push({ blk: hd1, offset: i * 256 * KiB, base: MiB });
}
const results = await withVirtualTime(Promise.all(reads.map((r) => r.blk.read(r.offset, 64 * KiB))));
const intact = results.every((data, i) =>
  same(data, image.subarray(reads[i].base + reads[i].offset).subarray(0, 64 * KiB)),
);
// The bucket holds 100 ms worth (2 operations): 3 reads pass at once, 5 follow 50 ms apart.
console.log(
  `8 reads of 64 KiB under x-iops-total=20: ${intact ? 'data intact' : 'DATA MISMATCH'}, ${(clock.now() - start) / 1e6} ms of virtual time`,
);
const label = new TextDecoder().decode((await withVirtualTime(hd1.read(0, 16))).subarray(0, 11));
console.log(`hd1 starts with '${label}' (the raw window begins 1 MiB into the image)`);

// A read larger than the driver's max transfer is split by the generic layer.
const before = server.rangeRequests;
const big = await withVirtualTime(hd0.read(0, 3 * MiB));
console.log(
  `a 3 MiB read took ${server.rangeRequests - before} range requests and is ${same(big, image.subarray(0, 3 * MiB)) ? 'intact' : 'CORRUPT'}`,
);

// Errors on the I/O path are errno values; the convenience API turns them into BlockError.
async function attempt(what: string, op: () => Promise<unknown>): Promise<void> {
  try {
    await withVirtualTime(op());
    console.log(`${what}: succeeded?!`);
  } catch (e) {
    if (!(e instanceof BlockError)) throw e;
    console.log(`${what}: ${e.message} (${e.code})`);
  }
}
await attempt('write to hd0', () => hd0.write(0, new Uint8Array(512)));
await attempt('read past the end of hd1', () => hd1.read(MiB, 512));
await server.close();
await attempt('read after the server stopped', () => hd0.read(0, 4 * KiB));

const http0 = blockLayer.node('http0').opaque as HttpRoState;
console.log(`node http0: ${http0.length} bytes, ${http0.requests} range requests sent`);
for (const info of blockLayer.queryBlock()) {
  const n = info.inserted;
  console.log(
    `drive ${info.device}: ${n?.drv} node ${n?.['node-name']}, ro=${n?.ro}, ${n?.image['virtual-size']} bytes, group ${n?.group} iops=${n?.iops}`,
  );
}
for (const { device, stats } of blockLayer.queryBlockstats()) {
  console.log(
    `stats ${device}: rd ${stats.rd_operations} ops/${stats.rd_bytes} B, failed rd ${stats.failed_rd_operations}, failed wr ${stats.failed_wr_operations}`,
  );
}

await blockLayer.deleteBlockBackend('hd0');
await blockLayer.deleteBlockBackend('hd1');
machine.objectDel('tg0');
await machine.destroy();
console.log('machine destroyed');
