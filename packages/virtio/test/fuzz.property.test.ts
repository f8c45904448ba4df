/**
 * Property: whatever the guest puts in the descriptor table, the indirect tables and the avail
 * ring, the host never throws, and no byte changes outside device-writable buffers and the used
 * ring. Runs VMKIT_FUZZ_RUNS cases (default 2000; `npm run fuzz` runs more).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { AioContext, GuestMemory, VirtualClock } from '@vmkit/core';
import {
  VirtioFeature,
  VirtioMmioTransport,
  VirtioStatus,
  VringDescFlag,
  featureBit,
  usedRingSize,
} from '../src/index.js';
import { EchoDevice, GuestAllocator, VirtioMmioDriver, runBottomHalves } from '../src/testing/index.js';
import { changedAddresses, snapshot } from './helpers/rig.js';

const RUNS = Number(process.env['VMKIT_FUZZ_RUNS'] ?? 2000);

const RING_AREA = 0x10000; // rings: [0x10000, 0x12000)
const TABLE_AREA = 0x12000; // indirect tables: 4 tables of 16 entries, 256 bytes apart
const TABLES = 4;
const DATA_AREA = 0x14000; // data: [0x14000, 0x21000), crossing the region boundary at 0x20000
const MEMORY_END = 0x21000;

interface FuzzDesc {
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

interface FuzzRound {
  heads: number[];
  /** Added to the driver's avail idx instead of heads.length when set (hostile idx). */
  idxBump: number | null;
}

interface FuzzCase {
  legacy: boolean;
  eventIdx: boolean;
  indirect: boolean;
  size: number;
  startIndex: number;
  table: FuzzDesc[];
  tables: FuzzDesc[][];
  rounds: FuzzRound[];
}

const tableAddr = (k: number): number => TABLE_AREA + 256 * k;

const arbAddr: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: DATA_AREA, max: MEMORY_END - 1 }).map(BigInt) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: TABLES - 1 }).map((k) => BigInt(tableAddr(k))) },
  { weight: 1, arbitrary: fc.integer({ min: RING_AREA, max: TABLE_AREA - 1 }).map(BigInt) },
  { weight: 1, arbitrary: fc.integer({ min: MEMORY_END - 32, max: MEMORY_END + 32 }).map(BigInt) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      0n,
      0xfffn,
      0x30000n,
      1n << 40n,
      1n << 53n,
      (1n << 64n) - 16n,
      (1n << 64n) - 1n,
    ),
  },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
);

const arbLen: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 64 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: TABLES * 16 }).map((n) => 16 * n) },
  { weight: 1, arbitrary: fc.constantFrom(0, 8, 17, 0x1000, 0xffff_ffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

function arbDesc(size: number): fc.Arbitrary<FuzzDesc> {
  return fc.record({
    addr: arbAddr,
    len: arbLen,
    flags: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom(
          0,
          VringDescFlag.NEXT,
          VringDescFlag.WRITE,
          VringDescFlag.WRITE | VringDescFlag.NEXT,
        ),
      },
      { weight: 1, arbitrary: fc.constant(VringDescFlag.INDIRECT) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
    next: fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: size - 1 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
  });
}

const arbBase = fc.record({
  legacy: fc.boolean(),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  size: fc.constantFrom(1, 2, 3, 4, 8, 16, 32),
  startIndex: fc.oneof(fc.integer({ min: 65500, max: 65535 }), fc.integer({ min: 0, max: 65535 })),
});
type Base = typeof arbBase extends fc.Arbitrary<infer T> ? T : never;

/** Mostly null (publish the real index); sometimes a hostile avail.idx. */
function maybeBump(oneIn: number): fc.Arbitrary<number | null> {
  return fc.oneof(
    { weight: oneIn - 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  );
}

function arbRounds(size: number, heads: fc.Arbitrary<number>): fc.Arbitrary<FuzzRound[]> {
  return fc.array(
    fc.record({
      heads: fc.array(heads, { maxLength: size + 1 }),
      idxBump: maybeBump(8),
    }),
    { minLength: 1, maxLength: 3 },
  );
}

/** Entirely random tables and heads: mostly device errors. */
function arbRandomCase(base: Base): fc.Arbitrary<FuzzCase> {
  return fc.record({
    ...mapConstants(base),
    table: fc.array(arbDesc(base.size), { minLength: base.size, maxLength: base.size }),
    tables: fc.array(fc.array(arbDesc(16), { minLength: 16, maxLength: 16 }), {
      minLength: TABLES,
      maxLength: TABLES,
    }),
    rounds: arbRounds(
      base.size,
      fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0, max: base.size - 1 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
      ),
    ),
  });
}

interface Shape {
  /** The chain ends at this descriptor. */
  cut: boolean;
  write: boolean;
  addr: number;
  len: number;
  /** A one-descriptor chain may instead point at indirect table `indirect` (when >= 0). */
  indirect: number;
}

const arbShape: fc.Arbitrary<Shape> = fc.record({
  cut: fc.boolean(),
  write: fc.boolean(),
  addr: fc.integer({ min: DATA_AREA, max: MEMORY_END - 64 }),
  len: fc.integer({ min: 1, max: 64 }),
  indirect: fc.integer({ min: -3, max: TABLES - 1 }),
});

/** Links `shapes[from..to]` into well-formed chains (readable first) in `out`; returns the heads. */
function link(
  shapes: readonly Shape[],
  out: FuzzDesc[],
  allowIndirect: boolean,
  tableLens: readonly number[],
): number[] {
  const heads: number[] = [];
  let start = 0;
  for (let i = 0; i < shapes.length; i++) {
    if (!shapes[i].cut && i < shapes.length - 1) continue;
    const k = shapes[start].indirect;
    if (i === start && allowIndirect && k >= 0) {
      out[start] = {
        addr: BigInt(tableAddr(k)),
        len: 16 * tableLens[k],
        flags: VringDescFlag.INDIRECT,
        next: 0,
      };
    } else {
      const writes = shapes.slice(start, i + 1).filter((sh) => sh.write).length;
      for (let j = start; j <= i; j++) {
        const sh = shapes[j];
        const flags = (j > i - writes ? VringDescFlag.WRITE : 0) | (j < i ? VringDescFlag.NEXT : 0);
        out[j] = { addr: BigInt(sh.addr), len: sh.len, flags, next: j < i ? j + 1 : 0 };
      }
    }
    heads.push(start);
    start = i + 1;
  }
  return heads;
}

interface Mutation {
  /** -1: the main table, else an indirect table. */
  table: number;
  index: number;
  field: keyof FuzzDesc;
  value: FuzzDesc;
}

/** Well-formed chains (direct and indirect) with up to two hostile fields: mostly completions. */
function arbWellFormedCase(base: Base): fc.Arbitrary<FuzzCase> {
  const { size } = base;
  return fc
    .record({
      shapes: fc.array(arbShape, { minLength: size, maxLength: size }),
      tableShapes: fc.array(fc.array(arbShape, { minLength: 16, maxLength: 16 }), {
        minLength: TABLES,
        maxLength: TABLES,
      }),
      tableLens: fc.array(fc.integer({ min: 1, max: 16 }), { minLength: TABLES, maxLength: TABLES }),
      mutations: fc.array(
        fc.record({
          table: fc.integer({ min: -1, max: TABLES - 1 }),
          index: fc.integer({ min: 0, max: 15 }),
          field: fc.constantFrom<keyof FuzzDesc>('addr', 'len', 'flags', 'next'),
          value: arbDesc(size),
        }),
        { maxLength: 2 },
      ),
      picks: fc.array(fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: size }), {
        minLength: 1,
        maxLength: 3,
      }),
      idxBumps: fc.array(maybeBump(16), { minLength: 3, maxLength: 3 }),
    })
    .map((g) => {
      const table: FuzzDesc[] = [];
      const heads = link(g.shapes, table, base.indirect, g.tableLens);
      const tables = g.tableShapes.map((shapes, k) => {
        const t: FuzzDesc[] = shapes.map((sh) => ({ addr: BigInt(sh.addr), len: sh.len, flags: 0, next: 0 }));
        const len = g.tableLens[k];
        link(
          shapes.slice(0, len).map((sh, i) => ({ ...sh, cut: i === len - 1 })),
          t,
          false,
          g.tableLens,
        );
        return t;
      });
      for (const m of g.mutations as Mutation[]) {
        const target = m.table < 0 ? table : tables[m.table];
        const i = m.index % target.length;
        target[i] = { ...target[i], [m.field]: m.value[m.field] };
      }
      // Each round offers chain heads (the same head may be offered again once used).
      const rounds: FuzzRound[] = g.picks.map((p, r) => ({
        heads: p.map((x) => (x % 64 === 63 ? x : heads[x % heads.length])),
        idxBump: g.idxBumps[r] ?? null,
      }));
      return { ...base, table, tables, rounds };
    });
}

function mapConstants(base: Base) {
  return {
    legacy: fc.constant(base.legacy),
    eventIdx: fc.constant(base.eventIdx),
    indirect: fc.constant(base.indirect),
    size: fc.constant(base.size),
    startIndex: fc.constant(base.startIndex),
  };
}

const arbCase: fc.Arbitrary<FuzzCase> = arbBase.chain((base) =>
  fc.oneof({ weight: 3, arbitrary: arbWellFormedCase(base) }, { weight: 1, arbitrary: arbRandomCase(base) }),
);

/** Keeps device-writable buffers out of the rings and tables, so those stay what the case says. */
function sanitize(d: FuzzDesc): FuzzDesc {
  if ((d.flags & VringDescFlag.WRITE) !== 0 && d.addr >= BigInt(RING_AREA) && d.addr < BigInt(DATA_AREA)) {
    return { ...d, addr: d.addr - BigInt(RING_AREA) + BigInt(DATA_AREA) };
  }
  return d;
}

function writableRanges(descs: readonly FuzzDesc[]): [number, number][] {
  const out: [number, number][] = [];
  for (const d of descs) {
    if ((d.flags & VringDescFlag.WRITE) === 0 || d.addr >= BigInt(MEMORY_END)) continue;
    const start = Number(d.addr);
    out.push([start, start + d.len]);
  }
  return out;
}

/** Runs one case, checking the property after every kick; returns what happened. */
function runCase(c: FuzzCase): { completed: number; broken: boolean; kind: string } {
  const memory = new GuestMemory();
  memory.addRegion(RING_AREA, new ArrayBuffer(0x20000 - RING_AREA), 'lo');
  memory.addRegion(0x20000, new ArrayBuffer(MEMORY_END - 0x20000), 'hi');
  const ctx = new AioContext({ clock: new VirtualClock() });
  const device = new EchoDevice({ queueSize: 32 });
  const transport = new VirtioMmioTransport(device, { memory, context: ctx, legacy: c.legacy });
  const driver = new VirtioMmioDriver(transport, memory, {
    allocator: new GuestAllocator(RING_AREA, TABLE_AREA - RING_AREA),
  });
  transport.setInterruptHandler(driver.irq);
  let want = ~(featureBit(VirtioFeature.RING_EVENT_IDX) | featureBit(VirtioFeature.RING_INDIRECT_DESC));
  if (c.eventIdx) want |= featureBit(VirtioFeature.RING_EVENT_IDX);
  if (c.indirect) want |= featureBit(VirtioFeature.RING_INDIRECT_DESC);
  expect(driver.negotiate(want).ok).to.equal(true);
  const q = driver.setupQueue(0, { size: c.size, startIndex: c.startIndex });
  device.queue(0).restoreIndices(c.startIndex);
  driver.driverOk();

  const table = c.table.map(sanitize);
  const tables = c.tables.map((t) => t.map(sanitize));
  table.forEach((d, i) => q.writeDescriptor(i, d));
  tables.forEach((t, k) => t.forEach((d, i) => q.writeDescriptor(i, d, tableAddr(k))));
  const allowed = [...writableRanges(table), ...tables.flatMap(writableRanges)];
  const usedStart = q.layout.used;
  allowed.push([usedStart, usedStart + usedRingSize(c.size)]);

  for (const round of c.rounds) {
    for (const h of round.heads) q.addHead(h);
    if (round.idxBump === null) q.publish();
    else q.setAvailIdx(q.availIdx - round.heads.length + round.idxBump);
    const before = snapshot(memory);
    const usedBefore = q.deviceUsedIdx;
    q.kick();
    runBottomHalves(ctx);
    for (const a of changedAddresses(memory, before)) {
      if (!allowed.some(([s, e]) => a >= s && a < e)) {
        throw new Error(`byte 0x${a.toString(16)} changed outside device-writable buffers and the used ring`);
      }
    }
    const published = (q.deviceUsedIdx - usedBefore) & 0xffff;
    expect(published).to.be.at.most(c.size);
    for (let i = 0; i < published; i++) {
      const id = memory.readU32(usedStart + 4 + 8 * ((usedBefore + i) % c.size));
      expect(id).to.be.below(c.size);
    }
    if (device.broken && !c.legacy)
      expect(driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
  }
  return { completed: device.processed, broken: device.broken, kind: device.lastError?.kind ?? 'ok' };
}

describe('split virtqueue: hostile rings (property)', () => {
  it(`never throws and writes only device-writable buffers and the used ring (${RUNS} cases)`, function () {
    this.timeout(Math.max(60000, RUNS * 50));
    let completed = 0;
    let broken = 0;
    let clean = 0;
    fc.assert(
      fc.property(arbCase, (c) => {
        const r = runCase(c);
        if (r.kind === 'ok') clean++;
        completed += r.completed;
        if (r.broken) broken++;
      }),
      { numRuns: RUNS },
    );
    // The generator must reach both well-formed chains and device errors to mean anything.
    expect(completed, 'requests completed').to.be.above(0);
    expect(broken, 'cases ending in a device error').to.be.above(0);
    expect(clean, 'cases without a device error').to.be.above(0);
  });
});
