/**
 * A machine composed in code, run, inspected and torn down.
 *
 * Storage: a RAM disk (`memory` protocol node under a `raw` format node) behind a named
 * BlockBackend that is a member of a throttle group, plus a `null-co` scratch disk. Devices: a
 * virtio-mmio slot with the `virtio-echo` test device, driven by a guest-side driver through the
 * MMIO registers and guest memory only. The machine runs on a VirtualClock, so the throttling
 * shows up as exact virtual time instead of real waiting.
 *
 * Run: `npm run build && node examples/dist/compose-machine.js`
 */
import { GuestMemory, Machine, VirtualClock } from '@vmkit/core';
import { blockLayerOf, blockLayerPlugin } from '@vmkit/block-layer';
import { VirtioMmioRegister, createVirtioMmioSlot, featureBit, virtioPlugin } from '@vmkit/virtio';
import {
  GuestAllocator,
  VIRTIO_ECHO_F_INVERT,
  VirtioMmioDriver,
  runBottomHalves,
  virtioEchoPlugin,
  type EchoDevice,
} from '@vmkit/virtio/testing';

const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 1 << 20;
const KiB = 1024;
const MiB = 1024 * KiB;

// ---- create -------------------------------------------------------------------------------------

const clock = new VirtualClock();
const memory = new GuestMemory();
memory.addRegion(RAM_BASE, new ArrayBuffer(RAM_SIZE), 'ram');
const machine = await Machine.create({
  name: 'compose-demo',
  clock,
  memory,
  plugins: [blockLayerPlugin, virtioPlugin, virtioEchoPlugin],
});
const blockLayer = blockLayerOf(machine);

// -blockdev memory,node-name=mem0,size=64M -blockdev raw,node-name=disk0,file=mem0
await machine.blockdevAdd({ driver: 'memory', nodeName: 'mem0', size: 64 * MiB });
await machine.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'mem0' });
// A nested definition does the same in one call; read-zeroes makes null-co return zeroes.
await machine.blockdevAdd({
  driver: 'raw',
  nodeName: 'scratch',
  file: { driver: 'null-co', size: 1024 * MiB, readZeroes: true },
});

// -object throttle-group,id=tg0,x-iops-total=100 and a drive in that group
machine.objectAdd({ type: 'throttle-group', id: 'tg0', 'x-iops-total': 100 });
const drive0 = blockLayer.addBlockBackend('drive0', { node: 'disk0' });
drive0.ioLimitsEnable('tg0');
const drive1 = blockLayer.addBlockBackend('drive1', { node: 'scratch' });

// A virtio-mmio window with the echo device plugged into its bus.
const slot = createVirtioMmioSlot(machine, { memory, name: 'virtio-mmio.0' });
const echo = await machine.deviceAdd<EchoDevice>({ type: 'virtio-echo', id: 'echo0', bus: slot.bus.name });

// ---- run I/O ------------------------------------------------------------------------------------

/**
 * Requests beyond the throttle bucket wait on timers of the VirtualClock, which only moves when
 * told to: let virtual time pass until every armed timer has fired, then collect the result.
 */
async function withVirtualTime<T>(work: Promise<T>): Promise<T> {
  void work.catch(() => undefined); // observed now: a failure must not be "unhandled" while time passes
  await clock.runTimers();
  return work;
}

const block = (i: number): Uint8Array => new Uint8Array(4 * KiB).fill(i);
const start = clock.now();
await withVirtualTime(Promise.all(Array.from({ length: 32 }, (_, i) => drive0.write(i * 4 * KiB, block(i)))));
await drive0.flush(); // flushes are not throttled
// The bucket holds 100 ms worth of operations (10): 11 writes pass at once, 21 follow 10 ms apart.
console.log(`drive0: 32 writes of 4 KiB under x-iops-total=100 took ${(clock.now() - start) / 1e6} ms`);

const back = await withVirtualTime(drive0.read(7 * 4 * KiB, 4 * KiB));
console.log(`drive0: block 7 reads back ${back.every((b) => b === 7) ? 'intact' : 'CORRUPTED'}`);
const zeroes = await drive1.read(512 * MiB, 64 * KiB);
console.log(`drive1: 64 KiB at 512 MiB ${zeroes.every((b) => b === 0) ? 'are zeroes' : 'are NOT zeroes'}`);

// The guest's side of the echo device: negotiate (without the invert feature), set up queue 0,
// post one request, kick, and let the main context run the device.
const driver = new VirtioMmioDriver(slot, memory, { allocator: new GuestAllocator(RAM_BASE, RAM_SIZE) });
slot.setInterruptHandler(driver.irq);
driver.negotiate((offered) => offered & ~featureBit(VIRTIO_ECHO_F_INVERT));
const queue = driver.setupQueue(0, { size: 16 });
driver.driverOk();
const request = queue.submit({ out: new TextEncoder().encode('hello, vmkit'), inLength: 12 });
queue.kick();
runBottomHalves(machine.mainContext);
const [used] = queue.reap();
const reply = new TextDecoder().decode(queue.readIn(request, used.len));
console.log(
  `echo0: device id 0x${driver.deviceId.toString(16)}, echoed '${reply}', ${driver.interrupts} interrupt`,
);

// stop (do_vm_stop) drains and flushes every drive; cont resumes.
await machine.stop();
console.log(`machine ${machine.runState} (${machine.stopReason}), then cont`);
machine.cont();

// ---- inspect ------------------------------------------------------------------------------------

console.log(`machine '${machine.name}' (${machine.runState}), plugins: ${machine.plugins().join(', ')}`);
for (const o of machine.objects()) console.log(`  object ${o.id} (${o.type})`);
for (const d of machine.devices()) console.log(`  device ${d.id} (${d.type}) on ${d.bus?.name ?? '-'}`);
for (const info of blockLayer.queryBlock()) {
  const node = info.inserted;
  const throttle = node?.group !== undefined ? `, group ${node.group} iops=${node.iops}` : '';
  console.log(
    `  drive ${info.device}: ${node?.drv} over ${node?.image.filename}, ${node?.image['virtual-size']} bytes${throttle}`,
  );
}
for (const { device, stats } of blockLayer.queryBlockstats()) {
  console.log(
    `  stats ${device}: rd ${stats.rd_operations} ops/${stats.rd_bytes} B, wr ${stats.wr_operations} ops/${stats.wr_bytes} B, flush ${stats.flush_operations}`,
  );
}
console.log(`  echo0 processed ${echo.processed} request(s)`);

// ---- tear down ----------------------------------------------------------------------------------

await machine.deviceDel('echo0'); // hot-unplug: the slot is empty again
console.log(`echo0 unplugged: slot device id now ${slot.readRegister(VirtioMmioRegister.DEVICE_ID, 4)}`);
await blockLayer.deleteBlockBackend('drive0'); // leaves tg0 (drained first) and drops the drive
machine.objectDel('tg0'); // allowed now that no drive is in the group
await machine.destroy(); // devices, BlockBackends, nodes, objects
console.log(`machine destroyed: ${machine.destroyed}`);
