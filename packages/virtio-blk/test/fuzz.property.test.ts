/**
 * Property: whatever the guest puts in the descriptor table, the indirect tables and the avail
 * ring, the host never throws, no byte changes outside declared device-writable buffers and the
 * used ring, and every request of an uncorrupted case completes with the status, used length and
 * data the oracle predicts (the disk then matches the model). VMKIT_FUZZ_RUNS cases (default
 * 10000; `npm run fuzz` runs a million).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { GuestMemory, Machine, VirtualClock, type AioContext } from '@vmkit/core';
import { BlockLayer, blockLayerPlugin, type BlockDriverState } from '@vmkit/block-layer';
import { VirtioFeature, VirtioStatus, createVirtioMmioSlot, featureBit, virtioPlugin } from '@vmkit/virtio';
import { GuestAllocator, VirtioMmioDriver, runAllBottomHalves } from '@vmkit/virtio/testing';
import { VirtioBlkStatus as S, virtioBlkPlugin, type VirtioBlk } from '../src/index.js';
import {
  DISK_SECTORS,
  LAYOUT,
  MEMORY_END,
  REGION_SPLIT,
  RING_AREA,
  SERIAL,
  arbCase,
  build,
  type FuzzCase,
} from './helpers/fuzz-case.js';
import { bytesEqual, changedAddresses, snapshot } from './helpers/memory-diff.js';
import { vbtestPlugin, type VbState } from './helpers/test-driver.js';

const RUNS = Number(process.env['VMKIT_FUZZ_RUNS'] ?? 10000);
const DISK_BYTES = DISK_SECTORS * 512;

interface Bench {
  machine: Machine;
  memory: GuestMemory;
  driver: VirtioMmioDriver;
  device: VirtioBlk;
  disk: VbState;
  contexts: AioContext[];
  snapshot: Uint8Array[] | undefined;
}

async function makeBench(iothread: boolean): Promise<Bench> {
  const machine = await Machine.create({
    plugins: [blockLayerPlugin, virtioPlugin, vbtestPlugin, virtioBlkPlugin],
    clock: new VirtualClock(),
  });
  const memory = new GuestMemory();
  memory.addRegion(RING_AREA, new ArrayBuffer(REGION_SPLIT - RING_AREA), 'lo');
  memory.addRegion(REGION_SPLIT, new ArrayBuffer(MEMORY_END - REGION_SPLIT), 'hi');
  const slot = createVirtioMmioSlot(machine, { memory });
  if (iothread) machine.objectAdd({ type: 'iothread', id: 'io0' });
  await machine.blockdevAdd({ driver: 'vbtest', nodeName: 'disk0', size: DISK_BYTES, discard: 'unmap' });
  const device = await machine.deviceAdd<VirtioBlk>({
    type: 'virtio-blk',
    id: 'vda',
    drive: 'disk0',
    serial: SERIAL,
    ...(iothread ? { iothread: 'io0' } : {}),
  });
  const driver = new VirtioMmioDriver(slot, memory, {
    allocator: new GuestAllocator(MEMORY_END - 0x100, 0x100),
  });
  slot.setInterruptHandler(driver.irq);
  const node = (machine.blockLayer as BlockLayer).node('disk0') as BlockDriverState<VbState>;
  const contexts = [machine.mainContext, ...(iothread ? [machine.iothread('io0')] : [])];
  return { machine, memory, driver, device, disk: node.opaque, contexts, snapshot: undefined };
}

const realSetImmediate = globalThis.setImmediate;
function macrotask(): Promise<void> {
  return new Promise<void>((r) => realSetImmediate(r));
}

/**
 * Runs BHs (synchronously, context by context) and promise continuations until nothing is left
 * to do; a macrotask turn now and then lets anything else the loop holds run too.
 */
async function settle(b: Bench): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < 10_000; i++) {
    const ran = runAllBottomHalves(b.contexts);
    for (let k = 0; k < 4; k++) await Promise.resolve();
    quiet = ran === 0 ? quiet + 1 : 0;
    if (quiet === 2) return;
    if (i % 64 === 63) await macrotask();
  }
  throw new Error('fuzz: the device never went idle');
}

const EMPTY_DISK = new Uint8Array(DISK_BYTES);

/** The drive's bytes (its first 64 KiB chunk) without copying. */
function diskView(disk: VbState): Uint8Array {
  return disk.mem.chunks.get(0)?.subarray(0, DISK_BYTES) ?? EMPTY_DISK;
}

function diskBytes(disk: VbState): Uint8Array {
  return diskView(disk).slice();
}

const mask = new Uint8Array(MEMORY_END - RING_AREA);

/** One byte per guest byte of [RING_AREA, MEMORY_END): 1 where the device may write. */
function allowedMask(ranges: ReadonlyArray<readonly [number, number]>): Uint8Array {
  mask.fill(0);
  for (const [s, e] of ranges) {
    const a = Math.max(s, RING_AREA) - RING_AREA;
    const z = Math.min(e, MEMORY_END) - RING_AREA;
    if (z > a) mask.fill(1, a, z);
  }
  return mask;
}

interface Tally {
  completed: number;
  broken: number;
  clean: number;
  statuses: Map<number, number>;
}

async function runCase(b: Bench, c: FuzzCase, model: { disk: Uint8Array }, tally: Tally): Promise<void> {
  const { driver, memory } = b;
  let want = ~(featureBit(VirtioFeature.RING_EVENT_IDX) | featureBit(VirtioFeature.RING_INDIRECT_DESC));
  if (c.eventIdx) want |= featureBit(VirtioFeature.RING_EVENT_IDX);
  if (c.indirect) want |= featureBit(VirtioFeature.RING_INDIRECT_DESC);
  expect(driver.negotiate(want).ok).to.equal(true);
  const q = driver.setupQueue(0, { size: c.size, startIndex: c.startIndex, layout: LAYOUT });
  b.device.queue(0).restoreIndices(c.startIndex);
  driver.driverOk();
  const first = q.availIdx;
  const built = build(c, q, memory, model.disk);
  if (c.idxBump === null) q.publish();
  else q.setAvailIdx(first + c.idxBump);
  const before = (b.snapshot = snapshot(memory, b.snapshot));
  q.kick();
  await settle(b);

  const allowed = allowedMask(built.allowed);
  for (const a of changedAddresses(memory, before)) {
    if (allowed[a - RING_AREA] === 0) {
      throw new Error(`byte 0x${a.toString(16)} changed outside device-writable buffers and the used ring`);
    }
  }
  const broken = (driver.status & VirtioStatus.NEEDS_RESET) !== 0;
  const published = (q.deviceUsedIdx - first) & 0xffff;
  // A device-writable buffer over the used ring (usedOverlap) lets the guest's own data land on
  // used.idx and the elements, so neither says anything then (seed -1169546794: a read buffer
  // ending on the first byte of used.idx).
  if (!built.usedOverlap) expect(published).to.be.at.most(c.size);
  if (broken) tally.broken++;
  if (built.hostile) {
    if (!built.usedOverlap) {
      for (let i = 0; i < published; i++) {
        const id = memory.readU32(LAYOUT.used + 4 + 8 * ((first + i) % c.size));
        if (id >= c.size) throw new Error(`used id ${id} is not a descriptor index`);
      }
    }
    if (!built.usedOverlap) tally.completed += published;
    model.disk = diskBytes(b.disk);
    return;
  }
  tally.clean++;
  expect(broken, 'device error on a well-formed case').to.equal(false);
  expect(published).to.equal(built.expected.length);
  const byHead = new Map(built.expected.map((e) => [e.head, e]));
  for (let i = 0; i < published; i++) {
    const slot = (first + i) % c.size;
    const id = memory.readU32(LAYOUT.used + 4 + 8 * slot);
    const len = memory.readU32(LAYOUT.used + 8 + 8 * slot);
    const e = byHead.get(id);
    if (e === undefined) throw new Error(`used id ${id} is not an outstanding request`);
    byHead.delete(id);
    if (len !== e.inTotal) throw new Error(`used len ${len} of request ${id}, expected ${e.inTotal}`);
    const inBytes = new Uint8Array(e.inTotal);
    let pos = 0;
    for (const [a, l] of e.inBufs) {
      memory.read(a, inBytes.subarray(pos, pos + l));
      pos += l;
    }
    const status = inBytes[inBytes.length - 1];
    if (status !== e.status) throw new Error(`status ${status} of request ${id}, expected ${e.status}`);
    tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
    const data = inBytes.subarray(0, inBytes.length - 1);
    const n = e.data?.length ?? 0;
    if (e.data !== null && !bytesEqual(data.subarray(0, n), e.data))
      throw new Error(`wrong data for request ${id}`);
    // The device writes nothing else (SCSI's errors word aside).
    if (!e.scsi) {
      for (let j = n; j < data.length; j++)
        if (data[j] !== 0xee) throw new Error(`stray bytes in request ${id}`);
    }
    if (e.write !== null) model.disk.set(e.write.payload, e.write.sector * 512);
    if (e.zero !== null) model.disk.fill(0, e.zero.sector * 512, (e.zero.sector + e.zero.sectors) * 512);
  }
  tally.completed += published;
  if (!bytesEqual(diskView(b.disk), model.disk)) throw new Error('the disk differs from the model');
}

type FuzzRequest = FuzzCase['requests'][number];

/** A read request of a regression case: the generator's fields, defaults where it drew nothing. */
function readRequest(o: Partial<FuzzRequest>): FuzzRequest {
  return {
    kind: 'in',
    barrier: false,
    sectorMode: 0,
    sectorOff: 0,
    sectors: 0,
    odd: 0,
    extraIn: 0,
    dwzFlags: 0,
    dwzTwo: false,
    dwzNoOut: false,
    cutsOut: [],
    cutsIn: [],
    indirect: false,
    seed: 0,
    ...o,
  };
}

/** Cases that once failed, run first every time (see runCase and build() for what each taught). */
const REGRESSIONS: FuzzCase[] = [
  {
    // A read buffer ending on the first byte of used.idx (seed -1169546794).
    iothread: false,
    eventIdx: false,
    indirect: true,
    size: 8,
    startIndex: 1,
    requests: [
      readRequest({ sectors: 2, dwzTwo: true, cutsOut: [63], cutsIn: [1, 2] }),
      readRequest({ dwzTwo: true, indirect: true }),
    ],
    mutations: [
      { table: 0, index: 0, field: 'len', addr: 77824n, len: 0, flags: 0, next: 0 },
      { table: -1, index: 4, field: 'addr', addr: 66564n, len: 0, flags: 0, next: 0 },
    ],
    badHeads: [],
    idxBump: null,
  },
  {
    // An indirect table from 0x1bff3, across the region split (seed 642362414).
    iothread: false,
    eventIdx: false,
    indirect: true,
    size: 8,
    startIndex: 0,
    requests: [readRequest({ odd: 1 }), readRequest({ extraIn: 1, dwzTwo: true, indirect: true })],
    mutations: [{ table: -1, index: 2, field: 'addr', addr: 114675n, len: 0, flags: 0, next: 0 }],
    badHeads: [],
    idxBump: null,
  },
];

describe('virtio-blk: hostile and random rings (property)', () => {
  const benches: Bench[] = [];
  before(async () => {
    benches.push(await makeBench(false), await makeBench(true));
  });
  after(async () => {
    for (const b of benches) await b.machine.destroy();
  });

  it(`never throws, writes only device-writable buffers and the used ring, and completes valid requests as predicted (${RUNS} cases)`, async function () {
    this.timeout(Math.max(60_000, RUNS * 20));
    const models = benches.map((b) => ({ disk: diskBytes(b.disk) }));
    const tally: Tally = { completed: 0, broken: 0, clean: 0, statuses: new Map() };
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        const k = c.iothread ? 1 : 0;
        await runCase(benches[k], c, models[k], tally);
      }),
      { numRuns: RUNS, examples: REGRESSIONS.map((c) => [c] as [FuzzCase]) },
    );
    // The generator must reach both clean cases and device errors, and every status, to mean anything.
    expect(tally.completed, 'requests completed').to.be.above(RUNS);
    expect(tally.broken, 'cases ending in a device error').to.be.above(RUNS / 100);
    expect(tally.clean, 'uncorrupted cases').to.be.above(RUNS / 3);
    for (const s of [S.OK, S.IOERR, S.UNSUPP])
      expect(tally.statuses.get(s) ?? 0, `status ${s}`).to.be.above(0);
  });
});
