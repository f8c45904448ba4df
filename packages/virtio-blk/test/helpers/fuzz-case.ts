/**
 * Generation and execution of one fuzz case for virtio-blk: well-formed requests of every type
 * (with random descriptor splits, indirect tables, valid and invalid sectors), optionally
 * corrupted by hostile descriptor fields or avail entries, submitted on a queue placed at fixed
 * guest addresses. The oracle predicts status, used length and data of every request of an
 * uncorrupted case.
 */
import fc from 'fast-check';
import type { GuestMemory } from '@vmkit/core';
import { VringDescFlag } from '@vmkit/virtio';
import type { GuestVirtqueue, RawDescriptor } from '@vmkit/virtio/testing';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../../src/index.js';
import { encodeDiscardRanges, encodeOutHeader } from '../../src/testing/index.js';

export const RING_AREA = 0x10000; // desc 0x10000, avail 0x10400, used 0x10800
export const TABLE_AREA = 0x11000; // 8 indirect tables of 32 entries (512 bytes each)
export const TABLES = 8;
export const DATA_AREA = 0x13000; // buffers; the region boundary is at REGION_SPLIT
export const REGION_SPLIT = 0x1c000;
export const MEMORY_END = 0x20000;
export const DISK_SECTORS = 128; // 64 KiB disk
export const SERIAL = 'fuzz-serial';

export const LAYOUT = { desc: RING_AREA, avail: RING_AREA + 0x400, used: RING_AREA + 0x800 };
export const tableAddr = (k: number): number => TABLE_AREA + 512 * k;

export type ReqKind = 'in' | 'out' | 'flush' | 'getid' | 'discard' | 'wz' | 'scsi' | 'unknown';

export interface ReqPlan {
  kind: ReqKind;
  barrier: boolean;
  /** 0: inside its slice of the disk; 1: around the end; 2: far beyond. */
  sectorMode: number;
  sectorOff: number;
  sectors: number;
  /** Add this many bytes to the data length (not a whole number of sectors when non-zero). */
  odd: number;
  /** Extra device-writable bytes for writes and flushes. */
  extraIn: number;
  dwzFlags: number;
  dwzTwo: boolean;
  dwzNoOut: boolean;
  cutsOut: number[];
  cutsIn: number[];
  indirect: boolean;
  seed: number;
}

export interface Mutation {
  /** -1: the main table; else an indirect table. */
  table: number;
  index: number;
  field: 'addr' | 'len' | 'flags' | 'next';
  addr: bigint;
  len: number;
  flags: number;
  next: number;
}

export interface FuzzCase {
  /** Run on the device with an IOThread. */
  iothread: boolean;
  eventIdx: boolean;
  indirect: boolean;
  size: number;
  startIndex: number;
  requests: ReqPlan[];
  mutations: Mutation[];
  /** Avail entries replaced by arbitrary head values. */
  badHeads: number[];
  /** A hostile avail.idx instead of the real one. */
  idxBump: number | null;
}

const arbAddr: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: DATA_AREA, max: MEMORY_END - 1 }).map(BigInt) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: TABLES - 1 }).map((k) => BigInt(tableAddr(k))) },
  { weight: 1, arbitrary: fc.integer({ min: RING_AREA, max: TABLE_AREA - 1 }).map(BigInt) },
  { weight: 1, arbitrary: fc.integer({ min: MEMORY_END - 32, max: MEMORY_END + 32 }).map(BigInt) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n << 53n, (1n << 64n) - 1n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
);

const arbMutation: fc.Arbitrary<Mutation> = fc.record({
  table: fc.integer({ min: -1, max: 1 }),
  index: fc.integer({ min: 0, max: 31 }),
  field: fc.constantFrom<Mutation['field']>('addr', 'len', 'flags', 'next'),
  addr: arbAddr,
  len: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.constantFrom(0, 16, 0xffff_ffff)),
  flags: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 0xffff })),
  next: fc.integer({ min: 0, max: 40 }),
});

const arbCuts = fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 4 });

const arbReq: fc.Arbitrary<ReqPlan> = fc.record({
  kind: fc.constantFrom<ReqKind>(
    'in',
    'in',
    'out',
    'out',
    'flush',
    'getid',
    'discard',
    'wz',
    'scsi',
    'unknown',
  ),
  barrier: fc.boolean(),
  sectorMode: fc.constantFrom(0, 0, 0, 0, 1, 2),
  sectorOff: fc.integer({ min: 0, max: 15 }),
  sectors: fc.integer({ min: 0, max: 3 }),
  odd: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 511 }) },
  ),
  extraIn: fc.oneof(
    { weight: 4, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }) },
  ),
  dwzFlags: fc.constantFrom(0, 0, 1, 2),
  dwzTwo: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  dwzNoOut: fc.oneof(
    { weight: 5, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  cutsOut: arbCuts,
  cutsIn: arbCuts,
  indirect: fc.boolean(),
  seed: fc.integer({ min: 0, max: 255 }),
});

export const arbCase: fc.Arbitrary<FuzzCase> = fc.record({
  iothread: fc.boolean(),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  size: fc.constantFrom(8, 16, 32),
  startIndex: fc.oneof(fc.integer({ min: 65520, max: 65535 }), fc.integer({ min: 0, max: 65535 })),
  requests: fc.array(arbReq, { minLength: 1, maxLength: 6 }),
  mutations: fc.oneof(
    { weight: 3, arbitrary: fc.constant<Mutation[]>([]) },
    { weight: 1, arbitrary: fc.array(arbMutation, { minLength: 1, maxLength: 3 }) },
  ),
  badHeads: fc.oneof(
    { weight: 8, arbitrary: fc.constant<number[]>([]) },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 2 }) },
  ),
  idxBump: fc.oneof(
    { weight: 12, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  ),
});

/** What the oracle expects of one request of an uncorrupted case. */
export interface Expected {
  status: number;
  inTotal: number;
  /** Bytes the guest must find before the status byte (reads, GET_ID), or null. */
  data: Uint8Array | null;
  /** Sectors written with `payload` when the write succeeds. */
  write: { sector: number; payload: Uint8Array } | null;
  zero: { sector: number; sectors: number } | null;
  head: number;
  /** A SCSI request (its UNSUPP answer also writes the SCSI header's errors word). */
  scsi: boolean;
  /** Device-writable buffers of the request: [addr, len][]. */
  inBufs: Array<[number, number]>;
}

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 13 + seed * 31 + 7) & 0xff;
  return b;
}

/** Splits `total` bytes into pieces of at least one byte at the given cut points. */
function split(total: number, cuts: readonly number[]): number[] {
  if (total === 0) return [];
  const points = [
    ...new Set(cuts.map((c) => Math.floor((c / 1001) * total)).filter((p) => p > 0 && p < total)),
  ];
  points.sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(p - prev);
    prev = p;
  }
  out.push(total - prev);
  return out;
}

function sectorFor(r: ReqPlan, slot: number, count: number): number {
  const span = Math.floor(DISK_SECTORS / count);
  // Around the end only for the last slot, whose slice reaches the end: slices never overlap.
  if (r.sectorMode === 1 && slot === count - 1) return DISK_SECTORS - 2 + (r.sectorOff % 4);
  if (r.sectorMode === 2) return 2 ** 40 + r.sectorOff;
  return slot * span + (r.sectorOff % Math.max(1, span - 3));
}

function rangeOk(sector: number, bytes: number): boolean {
  return bytes % 512 === 0 && sector <= DISK_SECTORS && bytes / 512 <= DISK_SECTORS - sector;
}

/** Bump allocator over the data area, reset per case. */
class Bump {
  private next = DATA_AREA;
  alloc(len: number): number {
    const a = this.next;
    this.next += len;
    if (this.next > MEMORY_END) throw new Error('fuzz: data area exhausted');
    return a;
  }
}

export interface Built {
  expected: Expected[];
  /** Writable ranges declared by any descriptor the device could reach, plus the used ring. */
  allowed: Array<[number, number]>;
  hostile: boolean;
  /** A declared device-writable buffer overlaps the used ring (the guest asked for corruption). */
  usedOverlap: boolean;
}

/**
 * Writes the case's requests into guest memory and the queue (descriptors, indirect tables,
 * avail ring) without publishing; returns the oracle's expectations.
 */
export function build(c: FuzzCase, q: GuestVirtqueue, memory: GuestMemory, disk: Uint8Array): Built {
  const bump = new Bump();
  const expected: Expected[] = [];
  const table: RawDescriptor[] = [];
  const tables: RawDescriptor[][] = [];
  let nextDesc = 0;
  const count = c.requests.length;
  const serial = new TextEncoder().encode(SERIAL);
  for (let i = 0; i < count; i++) {
    const r = c.requests[i];
    const sector = sectorFor(r, i, count);
    const dataLen = r.sectors * 512 + r.odd;
    let type: number;
    let payload: Uint8Array = new Uint8Array(0);
    let inData: number;
    let exp: Omit<Expected, 'head' | 'inBufs' | 'inTotal' | 'scsi'>;
    switch (r.kind) {
      case 'in': {
        type = T.IN;
        inData = dataLen;
        const ok = rangeOk(sector, dataLen);
        exp = {
          status: ok ? S.OK : S.IOERR,
          data: ok ? disk.slice(sector * 512, sector * 512 + dataLen) : null,
          write: null,
          zero: null,
        };
        break;
      }
      case 'out': {
        type = T.OUT;
        payload = pattern(dataLen, r.seed);
        inData = r.extraIn;
        const ok = rangeOk(sector, dataLen);
        exp = { status: ok ? S.OK : S.IOERR, data: null, write: ok ? { sector, payload } : null, zero: null };
        break;
      }
      case 'flush':
        type = T.FLUSH;
        inData = r.extraIn;
        exp = { status: S.OK, data: null, write: null, zero: null };
        break;
      case 'getid': {
        type = T.GET_ID;
        inData = r.sectors * 7 + (r.odd % 30);
        const n = Math.min(serial.length + 1, inData, 20);
        const id = new Uint8Array(n);
        id.set(serial.subarray(0, Math.min(serial.length, n)));
        exp = { status: S.OK, data: id, write: null, zero: null };
        break;
      }
      case 'discard':
      case 'wz': {
        const wz = r.kind === 'wz';
        type = wz ? T.WRITE_ZEROES : T.DISCARD;
        if (r.dwzNoOut) type &= ~T.OUT;
        const nsec = r.sectorMode === 2 ? 0xffff_ffff : r.sectors + 1;
        const range = { sector, numSectors: nsec, flags: r.dwzFlags };
        payload = encodeDiscardRanges(r.dwzTwo ? [range, range] : [range]);
        inData = r.extraIn;
        let status: number;
        if (r.dwzNoOut || r.dwzTwo) status = S.UNSUPP;
        else if (nsec > 4194303 || !rangeOk(sector, nsec * 512)) status = S.IOERR;
        else if ((r.dwzFlags & ~1) !== 0) status = S.UNSUPP;
        else if (!wz && r.dwzFlags !== 0) status = S.UNSUPP;
        else status = S.OK;
        exp = {
          status,
          data: null,
          write: null,
          zero: status === S.OK && wz ? { sector, sectors: nsec } : null,
        };
        // A discard leaves unspecified contents: the model zeroes them too (the vbtest drive does).
        if (status === S.OK && !wz) exp.zero = { sector, sectors: nsec };
        break;
      }
      case 'scsi':
        type = T.SCSI_CMD;
        inData = r.extraIn;
        exp = { status: S.IOERR, data: null, write: null, zero: null };
        break;
      default:
        type = 16 + 2 * (r.seed % 40);
        if (type === T.DISCARD - 1 || type === T.WRITE_ZEROES - 1) type = 20;
        inData = r.extraIn;
        exp = { status: S.UNSUPP, data: null, write: null, zero: null };
    }
    if (r.barrier) type = (type | T.BARRIER) >>> 0;
    const out = new Uint8Array(16 + payload.length);
    out.set(encodeOutHeader(type, sector));
    out.set(payload, 16);
    const inTotal = inData + 1;
    const outPieces = split(out.length, r.cutsOut);
    const inPieces = split(inTotal, r.cutsIn);
    if (r.kind === 'scsi' && outPieces.length >= 2 && inPieces.length >= 3) exp.status = S.UNSUPP;
    const bufs: RawDescriptor[] = [];
    const inBufs: Array<[number, number]> = [];
    let pos = 0;
    for (const len of outPieces) {
      const a = bump.alloc(len);
      memory.write(a, out.subarray(pos, pos + len));
      pos += len;
      bufs.push({ addr: a, len, flags: 0, next: 0 });
    }
    for (const len of inPieces) {
      const a = bump.alloc(len);
      memory.fill(a, len, 0xee);
      bufs.push({ addr: a, len, flags: VringDescFlag.WRITE, next: 0 });
      inBufs.push([a, len]);
    }
    let head: number;
    if (c.indirect && r.indirect && tables.length < TABLES && bufs.length <= 32) {
      const t = bufs.map((b, j) => ({
        ...b,
        flags: b.flags | (j < bufs.length - 1 ? VringDescFlag.NEXT : 0),
        next: j + 1,
      }));
      const k = tables.length;
      tables.push(t);
      if (nextDesc >= c.size) break;
      head = nextDesc++;
      table[head] = { addr: tableAddr(k), len: 16 * t.length, flags: VringDescFlag.INDIRECT, next: 0 };
    } else {
      if (nextDesc + bufs.length > c.size) break;
      head = nextDesc;
      bufs.forEach((b, j) => {
        const last = j === bufs.length - 1;
        table[nextDesc] = {
          ...b,
          flags: b.flags | (last ? 0 : VringDescFlag.NEXT),
          next: last ? 0 : nextDesc + 1,
        };
        nextDesc++;
      });
    }
    q.addHead(head);
    expected.push({ ...exp, head, inBufs, inTotal, scsi: r.kind === 'scsi' });
  }
  // Unused descriptors point into the data area (harmless, readable).
  for (let i = 0; i < c.size; i++) table[i] ??= { addr: DATA_AREA, len: 1, flags: 0, next: 0 };
  let hostile = false;
  for (const m of c.mutations) {
    const target = m.table < 0 ? table : tables[m.table];
    if (target === undefined || target.length === 0) continue;
    const i = m.index % target.length;
    const d = target[i];
    target[i] = { ...d, [m.field]: m[m.field] };
    hostile = true;
  }
  for (const h of c.badHeads) {
    // Overwrite one published avail entry with an arbitrary head.
    if (expected.length === 0) break;
    const slot = (q.availIdx - 1 - (h % expected.length)) & 0xffff;
    memory.writeU16(LAYOUT.avail + 4 + 2 * (slot % c.size), h);
    hostile = true;
  }
  table.forEach((d, i) => q.writeDescriptor(i, d));
  tables.forEach((t, k) => t.forEach((d, i) => q.writeDescriptor(i, d, tableAddr(k))));
  const allowed: Array<[number, number]> = [[LAYOUT.used, LAYOUT.used + 6 + 8 * c.size + 2]];
  const addWritable = (d: RawDescriptor): void => {
    if ((d.flags & VringDescFlag.WRITE) === 0) return;
    const a = Number(d.addr);
    if (a < MEMORY_END) allowed.push([a, a + d.len]);
  };
  table.forEach(addWritable);
  tables.forEach((t) => t.forEach(addWritable));
  // A hostile INDIRECT descriptor may point anywhere: its entries count as declared buffers.
  for (const d of table) {
    if ((d.flags & VringDescFlag.INDIRECT) === 0 || d.len % 16 !== 0 || d.len === 0) continue;
    const base = Number(d.addr);
    if (base < RING_AREA || base + d.len > MEMORY_END) continue;
    for (let off = 0; off < d.len; off += 16) {
      // An entry across the region split (REGION_SPLIT) cannot be read as one descriptor, by
      // the device either (seed 642362414: a table at 0x1bff3).
      if (memory.tryView(base + off, 16) === undefined) continue;
      addWritable({
        addr: memory.readU64(base + off),
        len: memory.readU32(base + off + 8),
        flags: memory.readU16(base + off + 12),
        next: 0,
      });
    }
  }
  if (c.idxBump !== null) hostile = true;
  const usedEnd = LAYOUT.used + 6 + 8 * c.size + 2;
  const usedOverlap = allowed.slice(1).some(([a, z]) => a < usedEnd && z > LAYOUT.used);
  return { expected, allowed, hostile, usedOverlap };
}
