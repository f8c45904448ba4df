import { expect } from 'chai';
import fc from 'fast-check';
import { GuestMemory, GuestMemoryError, type GuestAddress } from '../src/index.js';

const TWO_64 = 1n << 64n;
const GUARD = 8;
const GUARD_BYTE = 0xa5;

type Backing = 'array-buffer' | 'shared' | 'sub-view';
interface RegionSpec {
  start: number;
  size: number;
  backing: Backing;
}

/** Random layouts: 1..6 regions, gaps of 0 (adjacent) or more, anywhere below 2^53. */
const layoutArb: fc.Arbitrary<RegionSpec[]> = fc
  .record({
    base: fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.integer({ min: 0, max: 2 ** 32 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1000 }),
    ),
    parts: fc.array(
      fc.record({
        gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 24 })),
        size: fc.integer({ min: 1, max: 48 }),
        backing: fc.constantFrom<Backing>('array-buffer', 'shared', 'sub-view'),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  })
  .map(({ base, parts }) => {
    let cursor = base;
    return parts.map(({ gap, size, backing }) => {
      const start = cursor + gap;
      cursor = start + size;
      return { start, size, backing };
    });
  });

const lengthArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 80 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, NaN, Infinity, 2 ** 53 - 1, 2 ** 53, 2 ** 60) },
);

/** Addresses near region edges (as number or bigint), and wild ones: negative, fractional, huge, near 2^64. */
function gpaArb(layout: RegionSpec[]): fc.Arbitrary<GuestAddress> {
  const near = fc
    .record({ r: fc.integer({ min: 0, max: layout.length - 1 }), delta: fc.integer({ min: -10, max: 58 }) })
    .map(({ r, delta }) => layout[r].start + delta);
  return fc.oneof(
    { weight: 8, arbitrary: near },
    { weight: 3, arbitrary: near.map((n) => BigInt(n)) },
    // Mapped addresses aliased by 2^64: only a wrapping implementation would accept them.
    { weight: 1, arbitrary: near.map((n) => BigInt(n) + TWO_64) },
    { weight: 1, arbitrary: near.map((n) => BigInt(n) - TWO_64) },
    { weight: 1, arbitrary: near.map((n) => n - 2 ** 64) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.integer({ min: -(2 ** 53), max: 2 ** 53 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(2 ** 53, 2 ** 63, 2 ** 64 - 2048, 2 ** 64, Number.MAX_SAFE_INTEGER),
    },
    { weight: 2, arbitrary: fc.bigInt({ min: TWO_64 - 128n, max: TWO_64 + 4n }) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }) },
  );
}

type Op =
  | { op: 'readU8' | 'readU16' | 'readU32' | 'readU64'; gpa: GuestAddress }
  | { op: 'writeU8' | 'writeU16' | 'writeU32'; gpa: GuestAddress; value: number }
  | { op: 'writeU64'; gpa: GuestAddress; value: bigint }
  | { op: 'write'; gpa: GuestAddress; data: Uint8Array }
  | { op: 'read' | 'view' | 'tryView' | 'views' | 'isMapped'; gpa: GuestAddress; len: number }
  | { op: 'fill'; gpa: GuestAddress; len: number; byte: number };

function opArb(layout: RegionSpec[]): fc.Arbitrary<Op> {
  const gpa = gpaArb(layout);
  return fc.oneof(
    fc.record({ op: fc.constantFrom('readU8', 'readU16', 'readU32', 'readU64' as const), gpa }),
    fc.record({
      op: fc.constantFrom('writeU8', 'writeU16', 'writeU32' as const),
      gpa,
      value: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    }),
    fc.record({ op: fc.constant('writeU64' as const), gpa, value: fc.bigInt({ min: 0n, max: TWO_64 - 1n }) }),
    fc.record({ op: fc.constant('write' as const), gpa, data: fc.uint8Array({ maxLength: 64 }) }),
    fc.record({
      op: fc.constantFrom('read', 'view', 'tryView', 'views', 'isMapped' as const),
      gpa,
      len: lengthArb,
    }),
    fc.record({
      op: fc.constant('fill' as const),
      gpa,
      len: lengthArb,
      byte: fc.integer({ min: 0, max: 255 }),
    }),
  );
}

/** The reference model: a byte map of mapped addresses, all written in bigint arithmetic. */
class Model {
  readonly bytes = new Map<bigint, number>();
  readonly ranges: { start: bigint; end: bigint }[];

  constructor(layout: RegionSpec[]) {
    this.ranges = layout.map((r) => ({ start: BigInt(r.start), end: BigInt(r.start + r.size) }));
    for (const r of this.ranges) for (let a = r.start; a < r.end; a++) this.bytes.set(a, 0);
  }

  /** The exact address and length when both are valid and the range fits below 2^64. */
  private range(gpa: GuestAddress, len: number): [bigint, number] | undefined {
    if (!Number.isSafeInteger(len) || len < 0) return undefined;
    let g: bigint;
    if (typeof gpa === 'bigint') g = gpa;
    else if (Number.isInteger(gpa)) g = BigInt(gpa);
    else return undefined;
    if (g < 0n || g >= TWO_64 || g + BigInt(len) > TWO_64) return undefined;
    return [g, len];
  }

  /** Every byte mapped (regions may be adjacent); empty ranges inside or at the end of a region. */
  covered(gpa: GuestAddress, len: number): boolean {
    const r = this.range(gpa, len);
    if (r === undefined) return false;
    const [g, n] = r;
    if (n === 0) return this.ranges.some((x) => x.start <= g && g <= x.end);
    if (n > this.bytes.size) return false;
    for (let a = g; a < g + BigInt(n); a++) if (!this.bytes.has(a)) return false;
    return true;
  }

  inOneRegion(gpa: GuestAddress, len: number): boolean {
    const r = this.range(gpa, len);
    if (r === undefined) return false;
    const [g, n] = r;
    return this.ranges.some((x) => x.start <= g && g + BigInt(n) <= x.end);
  }

  get(gpa: GuestAddress, len: number): number[] {
    const g = BigInt(gpa);
    return Array.from({ length: len }, (_, i) => this.bytes.get(g + BigInt(i))!);
  }

  set(gpa: GuestAddress, data: ArrayLike<number>): void {
    const g = BigInt(gpa);
    for (let i = 0; i < data.length; i++) this.bytes.set(g + BigInt(i), data[i] & 0xff);
  }

  le(gpa: GuestAddress, len: number): bigint {
    return this.get(gpa, len).reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
  }
}

function leBytes(value: bigint, len: number): number[] {
  return Array.from({ length: len }, (_, i) => Number((value >> BigInt(8 * i)) & 0xffn));
}

const WIDTH = {
  readU8: 1,
  readU16: 2,
  readU32: 4,
  readU64: 8,
  writeU8: 1,
  writeU16: 2,
  writeU32: 4,
  writeU64: 8,
};

interface Mapped {
  mem: GuestMemory;
  region: Uint8Array[];
  guards: Uint8Array[];
}

function build(layout: RegionSpec[]): Mapped {
  const mem = new GuestMemory();
  const region: Uint8Array[] = [];
  const guards: Uint8Array[] = [];
  for (const spec of layout) {
    let bytes: Uint8Array;
    if (spec.backing === 'sub-view') {
      const whole = new Uint8Array(spec.size + 2 * GUARD).fill(GUARD_BYTE);
      bytes = whole.subarray(GUARD, GUARD + spec.size).fill(0);
      guards.push(whole);
      mem.addRegion(spec.start, bytes);
    } else {
      const buf = spec.backing === 'shared' ? new SharedArrayBuffer(spec.size) : new ArrayBuffer(spec.size);
      bytes = new Uint8Array(buf);
      mem.addRegion(spec.start, buf);
    }
    region.push(bytes);
  }
  return { mem, region, guards };
}

/** Runs one op against memory and the model: it must succeed exactly when the model says so. */
function step(mem: GuestMemory, model: Model, o: Op): void {
  const width = o.op in WIDTH ? WIDTH[o.op as keyof typeof WIDTH] : 0;
  const len = 'len' in o ? o.len : 'data' in o ? o.data.length : width;
  const ok =
    width > 0 || o.op === 'view' || o.op === 'tryView'
      ? model.inOneRegion(o.gpa, len)
      : model.covered(o.gpa, len);
  const label = `${o.op}(${String(o.gpa)}, ${len}) expected ${ok ? 'success' : 'GuestMemoryError'}`;

  if (o.op === 'tryView') {
    const v = mem.tryView(o.gpa, o.len);
    if (ok) expect([...v!], label).to.deep.equal(model.get(o.gpa, o.len));
    else expect(v, label).to.equal(undefined);
    return;
  }
  if (o.op === 'isMapped') {
    expect(mem.isMapped(o.gpa, o.len), label).to.equal(ok);
    return;
  }

  let result: unknown;
  try {
    switch (o.op) {
      case 'readU8':
      case 'readU16':
      case 'readU32':
      case 'readU64':
        result = mem[o.op](o.gpa);
        break;
      case 'writeU8':
      case 'writeU16':
      case 'writeU32':
        mem[o.op](o.gpa, o.value);
        break;
      case 'writeU64':
        mem.writeU64(o.gpa, o.value);
        break;
      case 'write':
        mem.write(o.gpa, o.data);
        break;
      case 'read': {
        // A dest cannot have an invalid or huge length: those go through views(), which takes one.
        const fits = Number.isSafeInteger(o.len) && o.len >= 0 && o.len <= 128;
        const dest = new Uint8Array(fits ? o.len : 0);
        result = dest;
        if (fits) mem.read(o.gpa, dest);
        else mem.views(o.gpa, o.len);
        break;
      }
      case 'fill':
        mem.fill(o.gpa, o.len, o.byte);
        break;
      case 'view':
        result = mem.view(o.gpa, o.len);
        break;
      case 'views':
        result = mem.views(o.gpa, o.len);
        break;
    }
  } catch (e) {
    expect(e, label).to.be.instanceOf(GuestMemoryError);
    expect(ok, `${label}, but it threw ${String(e)}`).to.equal(false);
    return;
  }
  expect(ok, `${label}, but it succeeded`).to.equal(true);

  switch (o.op) {
    case 'readU8':
    case 'readU16':
    case 'readU32':
      expect(result, label).to.equal(Number(model.le(o.gpa, width)));
      break;
    case 'readU64':
      expect(result, label).to.equal(model.le(o.gpa, 8));
      break;
    case 'writeU8':
    case 'writeU16':
    case 'writeU32':
    case 'writeU64':
      model.set(o.gpa, leBytes(BigInt(o.value), width));
      break;
    case 'write':
      model.set(o.gpa, o.data);
      break;
    case 'read':
      expect([...(result as Uint8Array)], label).to.deep.equal(model.get(o.gpa, o.len));
      break;
    case 'fill':
      model.set(o.gpa, new Array<number>(o.len).fill(o.byte));
      break;
    case 'view': {
      const v = result as Uint8Array;
      expect([...v], label).to.deep.equal(model.get(o.gpa, o.len));
      if (v.length > 0) {
        // Zero-copy: writing through the view is a guest write at gpa+len-1.
        v[v.length - 1] ^= 0xff;
        model.set(BigInt(o.gpa) + BigInt(v.length - 1), [v[v.length - 1]]);
      }
      break;
    }
    case 'views': {
      const vs = result as Uint8Array[];
      expect(vs.every((v) => v.length > 0)).to.equal(true);
      expect(
        vs.flatMap((v) => [...v]),
        label,
      ).to.deep.equal(model.get(o.gpa, o.len));
      break;
    }
  }
}

function checkAll(m: Mapped, layout: RegionSpec[], model: Model): void {
  layout.forEach((spec, i) => {
    expect([...m.region[i]], `region ${i} at ${spec.start}`).to.deep.equal(model.get(spec.start, spec.size));
  });
  for (const whole of m.guards) {
    expect(whole.subarray(0, GUARD).every((b) => b === GUARD_BYTE)).to.equal(true, 'guard before');
    expect(whole.subarray(whole.length - GUARD).every((b) => b === GUARD_BYTE)).to.equal(true, 'guard after');
  }
}

describe('GuestMemory properties', () => {
  it('no access outside mapped memory succeeds; in-bounds accesses read back what was written', () => {
    fc.assert(
      fc.property(
        layoutArb.chain((layout) =>
          fc.tuple(fc.constant(layout), fc.array(opArb(layout), { maxLength: 40 })),
        ),
        ([layout, ops]) => {
          const m = build(layout);
          const model = new Model(layout);
          for (const o of ops) {
            step(m.mem, model, o);
            checkAll(m, layout, model);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('isMapped agrees with the model for huge and bigint ranges near 2^64', () => {
    fc.assert(
      fc.property(
        layoutArb.chain((layout) =>
          fc.tuple(
            fc.constant(layout),
            gpaArb(layout),
            fc.oneof(lengthArb, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
          ),
        ),
        ([layout, gpa, len]) => {
          const { mem } = build(layout);
          const model = new Model(layout);
          expect(mem.isMapped(gpa, len)).to.equal(model.covered(gpa, len));
          expect(mem.tryView(gpa, len) !== undefined).to.equal(model.inOneRegion(gpa, len));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses any region overlapping an existing one, and accepts any that does not', () => {
    fc.assert(
      fc.property(
        layoutArb,
        fc.integer({ min: -60, max: 400 }),
        fc.integer({ min: 1, max: 64 }),
        (layout, offset, size) => {
          const { mem } = build(layout);
          const start = layout[0].start + offset;
          fc.pre(start >= 0);
          const overlaps = layout.some((r) => start < r.start + r.size && r.start < start + size);
          let threw = false;
          try {
            mem.addRegion(start, new ArrayBuffer(size));
          } catch {
            threw = true;
          }
          expect(threw).to.equal(overlaps);
          expect(mem.regions.length).to.equal(layout.length + (overlaps ? 0 : 1));
          const starts = mem.regions.map((r) => r.gpa);
          expect(starts).to.deep.equal([...starts].sort((a, b) => a - b));
        },
      ),
    );
  });
});
