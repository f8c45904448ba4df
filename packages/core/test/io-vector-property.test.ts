import { expect } from 'chai';
import fc from 'fast-check';
import { IOVector } from '../src/index.js';

const GUARD_BYTE = 0x5a;

/** A vector of views over one backing buffer, each view with guard bytes around it. */
interface Fixture {
  iov: IOVector;
  backing: Uint8Array;
  /** Backing indices of the vector's bytes, in vector order. */
  index: number[];
}

function build(sizes: number[], content: number[]): Fixture {
  const total = sizes.reduce((a, b) => a + b, 0);
  const backing = new Uint8Array(total + 2 * sizes.length + 2).fill(GUARD_BYTE);
  const iov = new IOVector();
  const index: number[] = [];
  let pos = 1;
  for (const size of sizes) {
    const view = backing.subarray(pos, pos + size);
    for (let i = 0; i < size; i++) {
      view[i] = content[index.length] ?? 0;
      index.push(pos + i);
    }
    iov.add(view);
    pos += size + 2;
  }
  return { iov, backing, index };
}

const fixtureArb = fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 8 }).chain((sizes) =>
  fc.tuple(
    fc.constant(sizes),
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), {
      minLength: sizes.reduce((a, b) => a + b, 0),
      maxLength: sizes.reduce((a, b) => a + b, 0),
    }),
  ),
);

/** Mostly valid offsets/lengths, sometimes past the end, negative, fractional or NaN; undefined = default. */
const numArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 50 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, NaN, 2 ** 53) },
);
const optArb = fc.option(numArb, { nil: undefined });

type Op =
  | { op: 'fill'; byte: number; offset?: number; length?: number }
  | { op: 'copyFrom'; data: Uint8Array; offset?: number }
  | { op: 'copyTo'; destLength: number; offset?: number; length?: number }
  | { op: 'isZero'; offset?: number; length?: number }
  | { op: 'slice' | 'concat'; offset: number; length: number; byte: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('fill' as const),
    byte: fc.integer({ min: 0, max: 255 }),
    offset: optArb,
    length: optArb,
  }),
  fc.record({ op: fc.constant('copyFrom' as const), data: fc.uint8Array({ maxLength: 40 }), offset: optArb }),
  fc.record({
    op: fc.constant('copyTo' as const),
    destLength: fc.integer({ min: 0, max: 60 }),
    offset: optArb,
    length: optArb,
  }),
  fc.record({ op: fc.constant('isZero' as const), offset: optArb, length: optArb }),
  fc.record({
    op: fc.constantFrom('slice', 'concat' as const),
    offset: numArb,
    length: numArb,
    byte: fc.integer({ min: 0, max: 255 }),
  }),
);

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The range the flat-buffer model allows, or undefined when the call must throw RangeError. */
function range(size: number, offset = 0, length?: number): [number, number] | undefined {
  if (!isCount(offset) || offset > size) return undefined;
  const len = length ?? size - offset;
  if (!isCount(len) || len > size - offset) return undefined;
  return [offset, len];
}

function apply(f: Fixture, model: number[], o: Op): void {
  const { iov } = f;
  const size = model.length;
  const run = (fn: () => void, valid: boolean): boolean => {
    if (valid) {
      fn();
      return true;
    }
    expect(fn, JSON.stringify(o)).to.throw(RangeError, /^IOVector\.\w+: (offset|length) /);
    return false;
  };
  switch (o.op) {
    case 'fill': {
      const r = range(size, o.offset, o.length);
      if (run(() => iov.fill(o.byte, o.offset, o.length), r !== undefined))
        model.fill(o.byte, r![0], r![0] + r![1]);
      break;
    }
    case 'copyFrom': {
      const r = range(size, o.offset);
      let n = -1;
      if (run(() => (n = iov.copyFrom(o.data, o.offset)), r !== undefined)) {
        const expected = Math.min(o.data.length, size - r![0]);
        expect(n).to.equal(expected);
        for (let i = 0; i < expected; i++) model[r![0] + i] = o.data[i];
      }
      break;
    }
    case 'copyTo': {
      const dest = new Uint8Array(o.destLength).fill(0xee);
      const r = range(size, o.offset, o.length ?? 0);
      const valid = r !== undefined && (o.length === undefined || o.length <= o.destLength);
      let n = -1;
      if (run(() => (n = iov.copyTo(dest, o.offset, o.length)), valid)) {
        const off = r![0];
        const expected = o.length ?? Math.min(size - off, o.destLength);
        expect(n).to.equal(expected);
        expect([...dest.subarray(0, n)]).to.deep.equal(model.slice(off, off + n));
        expect(dest.subarray(n).every((b) => b === 0xee)).to.equal(true, 'nothing past the count');
      }
      break;
    }
    case 'isZero': {
      const r = range(size, o.offset, o.length);
      let z: boolean | undefined;
      if (run(() => (z = iov.isZero(o.offset, o.length)), r !== undefined)) {
        expect(z).to.equal(model.slice(r![0], r![0] + r![1]).every((b) => b === 0));
      }
      break;
    }
    case 'slice':
    case 'concat': {
      const r = range(size, o.offset, o.length);
      let part: IOVector | undefined;
      const make = (): void => {
        part =
          o.op === 'slice' ? iov.slice(o.offset, o.length) : new IOVector().concat(iov, o.offset, o.length);
      };
      if (run(make, r !== undefined)) {
        const [off, len] = r!;
        expect(part!.size).to.equal(len);
        expect(part!.views.every((v) => v.length > 0)).to.equal(true);
        expect([...part!.toBuffer()]).to.deep.equal(model.slice(off, off + len));
        // No copy: filling the part fills the original.
        part!.fill(o.byte);
        model.fill(o.byte, off, off + len);
      }
      break;
    }
  }
}

describe('IOVector properties', () => {
  it('behaves like a flat buffer, never touching bytes outside its views', () => {
    fc.assert(
      fc.property(fixtureArb, fc.array(opArb, { maxLength: 20 }), ([sizes, content], ops) => {
        const f = build(sizes, content);
        const model = [...content];
        expect(f.iov.size).to.equal(model.length);
        expect(f.iov.niov).to.equal(sizes.filter((s) => s > 0).length);
        for (const o of ops) {
          apply(f, model, o);
          expect([...f.iov.toBuffer()], JSON.stringify(o)).to.deep.equal(model);
          const inView = new Set(f.index);
          f.backing.forEach((b, i) => {
            if (!inView.has(i)) expect(b, `guard byte ${i}`).to.equal(GUARD_BYTE);
          });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('slices of slices address the same bytes as one slice of the sum of offsets', () => {
    fc.assert(
      fc.property(fixtureArb, fc.nat(), fc.nat(), fc.nat(), fc.nat(), ([sizes, content], a, b, c, d) => {
        const { iov } = build(sizes, content);
        const off1 = a % (iov.size + 1);
        const len1 = b % (iov.size - off1 + 1);
        const s1 = iov.slice(off1, len1);
        const off2 = c % (len1 + 1);
        const len2 = d % (len1 - off2 + 1);
        expect([...s1.slice(off2, len2).toBuffer()]).to.deep.equal([
          ...iov.slice(off1 + off2, len2).toBuffer(),
        ]);
      }),
    );
  });
});
