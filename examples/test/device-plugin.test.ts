/**
 * The guest-side test of virtio-crc32: the device is driven only through the virtio-mmio
 * registers and guest memory (VirtioMmioDriver), and the machine's main context runs its kicks.
 */
import { expect } from 'chai';
import { ConfigError, GuestMemory, Machine, VirtualClock } from '@vmkit/core';
import {
  VirtioStatus,
  createVirtioMmioSlot,
  featureBit,
  virtioPlugin,
  type VirtioMmioSlot,
} from '@vmkit/virtio';
import {
  GuestAllocator,
  VirtioMmioDriver,
  runBottomHalves,
  type GuestVirtqueue,
} from '@vmkit/virtio/testing';
import {
  CRC32_CONFIG_BYTES,
  CRC32_CONFIG_REQUESTS,
  Crc32Algo,
  Crc32Guest,
  Crc32Status,
  VIRTIO_CRC32_F_CASTAGNOLI,
  VIRTIO_ID_CRC32,
  crc32,
  crc32c,
  virtioCrc32Plugin,
} from '../device-plugin/index.js';
import { runExample, type ExampleRun } from './helpers/run-example.js';

const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 1 << 20;
const CHECK = new TextEncoder().encode('123456789');

interface Rig {
  machine: Machine;
  slot: VirtioMmioSlot;
  memory: GuestMemory;
  driver: VirtioMmioDriver;
}

async function rig(props: Record<string, unknown> = {}): Promise<Rig> {
  const memory = new GuestMemory();
  memory.addRegion(RAM_BASE, new ArrayBuffer(RAM_SIZE), 'ram');
  const machine = await Machine.create({
    memory,
    clock: new VirtualClock(),
    plugins: [virtioPlugin, virtioCrc32Plugin],
  });
  const slot = createVirtioMmioSlot(machine, { memory });
  await machine.deviceAdd({ type: 'virtio-crc32', id: 'crc0', bus: slot.bus.name, ...props });
  const driver = new VirtioMmioDriver(slot, memory, { allocator: new GuestAllocator(RAM_BASE, RAM_SIZE) });
  slot.setInterruptHandler(driver.irq);
  return { machine, slot, memory, driver };
}

/** Negotiates everything offered (or `want`), sets up queue 0, DRIVER_OK. */
function start(r: Rig, want?: bigint): GuestVirtqueue {
  expect(r.driver.negotiate(want).ok).to.equal(true);
  const q = r.driver.setupQueue(0);
  r.driver.driverOk();
  return q;
}

function header(algo: number, seed = 0): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(0, algo, true);
  new DataView(h.buffer).setUint32(4, seed, true);
  return h;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** One request, kicked and completed; returns the used length, the CRC and the status. */
function request(
  r: Rig,
  q: GuestVirtqueue,
  out: Uint8Array,
  options: { outSplit?: number[]; inLength?: number; indirect?: boolean } = {},
): { len: number; crc: number; status: number } {
  const req = q.submit({ out, inLength: 5, ...options });
  q.kick();
  runBottomHalves(r.machine.mainContext);
  const [used] = q.reap();
  expect(used?.id).to.equal(req.head);
  const resp = q.readIn(req);
  return { len: used.len, crc: new DataView(resp.buffer).getUint32(0, true), status: resp[4] };
}

describe('example: device-plugin (virtio-crc32, guest side)', function () {
  it('software CRCs give the standard check values', function () {
    expect(crc32(CHECK)).to.equal(0xcbf43926);
    expect(crc32c(CHECK)).to.equal(0xe3069283);
    expect(crc32(CHECK.subarray(4), crc32(CHECK.subarray(0, 4)))).to.equal(0xcbf43926);
  });

  it('the guest finds the device id and the CASTAGNOLI feature; FEATURES_OK sticks', async function () {
    const r = await rig();
    expect(r.driver.deviceId).to.equal(VIRTIO_ID_CRC32);
    expect(r.driver.readDeviceFeatures() & featureBit(VIRTIO_CRC32_F_CASTAGNOLI)).to.not.equal(0n);
    start(r);
    expect(r.driver.status & VirtioStatus.DRIVER_OK).to.not.equal(0);
    expect(r.driver.hasFeature(VIRTIO_CRC32_F_CASTAGNOLI)).to.equal(true);
    await r.machine.destroy();
  });

  it('answers CRC-32 and CRC-32C of the check string, used length 5, status OK', async function () {
    const r = await rig();
    const q = start(r);
    expect(request(r, q, concat(header(Crc32Algo.CRC32), CHECK))).to.deep.equal({
      len: 5,
      crc: 0xcbf43926,
      status: Crc32Status.OK,
    });
    expect(request(r, q, concat(header(Crc32Algo.CRC32C), CHECK)).crc).to.equal(0xe3069283);
    await r.machine.destroy();
  });

  it('gives the same CRC for data split across descriptors anywhere, directly or through an indirect table', async function () {
    const r = await rig();
    const q = start(r);
    const data = new Uint8Array(3000).map((_, i) => i * 31);
    const out = concat(header(Crc32Algo.CRC32), data);
    const want = crc32(data);
    for (const outSplit of [[3008], [3, 5, 3000], [8, 1, 1, 2998], [1000, 2008], [7, 3001]]) {
      expect(request(r, q, out, { outSplit }).crc, outSplit.join('+')).to.equal(want);
      expect(request(r, q, out, { outSplit, indirect: true }).crc, `indirect ${outSplit.join('+')}`).to.equal(
        want,
      );
    }
    expect(request(r, q, out, { inLength: 5, indirect: true }).len).to.equal(5);
    await r.machine.destroy();
  });

  it('chains requests through the seed', async function () {
    const r = await rig();
    const q = start(r);
    const first = request(r, q, concat(header(Crc32Algo.CRC32C), CHECK.subarray(0, 5))).crc;
    const second = request(r, q, concat(header(Crc32Algo.CRC32C, first), CHECK.subarray(5))).crc;
    expect(second).to.equal(0xe3069283);
    await r.machine.destroy();
  });

  it('answers UNSUPP for CRC-32C when the feature was not negotiated, or for an unknown algorithm', async function () {
    const r = await rig();
    const q = start(r, ~featureBit(VIRTIO_CRC32_F_CASTAGNOLI));
    expect(request(r, q, concat(header(Crc32Algo.CRC32C), CHECK))).to.deep.equal({
      len: 5,
      crc: 0,
      status: Crc32Status.UNSUPP,
    });
    expect(request(r, q, concat(header(7), CHECK)).status).to.equal(Crc32Status.UNSUPP);
    expect(request(r, q, concat(header(Crc32Algo.CRC32), CHECK)).status).to.equal(Crc32Status.OK);
    await r.machine.destroy();
  });

  it('a chain without room for the answer sets NEEDS_RESET and stops the queue until reset', async function () {
    const r = await rig();
    let q = start(r);
    q.submit({ out: concat(header(Crc32Algo.CRC32), CHECK), inLength: 4 });
    q.kick();
    runBottomHalves(r.machine.mainContext);
    expect(r.driver.status & VirtioStatus.NEEDS_RESET).to.not.equal(0);
    expect(q.deviceUsedIdx).to.equal(0);
    expect(r.driver.configInterrupts).to.equal(1);
    q.submit({ out: concat(header(Crc32Algo.CRC32), CHECK), inLength: 5 });
    q.kick();
    runBottomHalves(r.machine.mainContext);
    expect(q.deviceUsedIdx, 'stopped').to.equal(0);
    q = start(r); // negotiate() resets first
    expect(request(r, q, concat(header(Crc32Algo.CRC32), CHECK)).crc).to.equal(0xcbf43926);
    await r.machine.destroy();
  });

  it('config space counts bytes and requests; a reset clears them', async function () {
    const r = await rig();
    const q = start(r);
    request(r, q, concat(header(Crc32Algo.CRC32), CHECK));
    request(r, q, concat(header(Crc32Algo.CRC32), new Uint8Array(1000)));
    expect(r.driver.readConfig64(CRC32_CONFIG_BYTES)).to.equal(1009n);
    expect(r.driver.readConfig32(CRC32_CONFIG_REQUESTS)).to.equal(2);
    start(r);
    expect(r.driver.readConfig64(CRC32_CONFIG_BYTES)).to.equal(0n);
    await r.machine.destroy();
  });

  it('completes a batch with one kick and one interrupt (EVENT_IDX), through the async guest driver', async function () {
    const r = await rig();
    const guest = new Crc32Guest(r.slot, r.memory, new GuestAllocator(RAM_BASE, RAM_SIZE));
    const inputs = Array.from({ length: 8 }, (_, i) => CHECK.subarray(0, i + 1));
    const results = await Promise.all(
      inputs.map((d) => guest.checksum(d, { split: d.length > 2 ? [1, d.length - 1] : undefined })),
    );
    expect(results.map((x) => x.crc)).to.deep.equal(inputs.map((d) => crc32(d)));
    expect(guest.queue.kicks).to.equal(1);
    expect(guest.driver.interrupts).to.equal(1);
    guest.shutdown();
    await r.machine.destroy();
  });

  it('checks properties before creating the device; the id is free again after hot-unplug', async function () {
    const r = await rig({ 'queue-size': 16, castagnoli: false });
    expect(r.driver.queueNumMax(0)).to.equal(16);
    expect(r.driver.readDeviceFeatures() & featureBit(VIRTIO_CRC32_F_CASTAGNOLI)).to.equal(0n);
    let error: unknown;
    try {
      await r.machine.deviceAdd({ type: 'virtio-crc32', id: 'crc1', 'queue-size': 12 });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as Error).message).to.equal(
      "virtio-crc32 'crc1': property 'queue-size' = 12: must be a power of two between 2 and 1024",
    );
    await r.machine.deviceDel('crc0');
    expect(r.slot.device).to.equal(null);
    await r.machine.deviceAdd({ type: 'virtio-crc32', id: 'crc0', bus: r.slot.bus.name });
    expect(r.driver.deviceId).to.equal(VIRTIO_ID_CRC32);
    await r.machine.destroy();
  });

  describe('the example program', function () {
    let run: ExampleRun;
    before(async function () {
      this.timeout(60_000);
      run = await runExample('device-plugin/main.js');
    });

    it('runs to the end: exit status 0, nothing on stderr', function () {
      expect(run.stderr).to.equal('');
      expect(run.code).to.equal(0);
      expect(run.lines.at(-1)).to.equal('machine destroyed');
    });

    it('prints the device CRCs next to the software ones, and the batch, config and re-plug results', function () {
      expect(run.lines).to.include.members([
        'device types: virtio-crc32',
        "refused as expected: virtio-crc32 'crc0': property 'queue-size' = 100: must be a power of two between 2 and 1024",
        'guest found virtio-crc32 in virtio-mmio.0: queue size 64, CRC-32C negotiated',
        "CRC-32 ('123456789') = 0xcbf43926 (status 0, software says 0xcbf43926)",
        "CRC-32C('123456789') = 0xe3069283 (status 0, software says 0xe3069283)",
        '1 MiB in 4 chained requests: 0x158987c5, in one go: 0x158987c5',
        '16 requests at once: all right, 1 kick, 1 interrupt',
        'config space: 1050194 bytes in 22 requests (device counts 22)',
        're-plugged with castagnoli=false: CRC-32C not offered, request status UNSUPP',
      ]);
    });
  });
});
