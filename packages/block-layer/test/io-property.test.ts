import { expect } from 'chai';
import fc from 'fast-check';
import { IOVector } from '@vmkit/core';
import {
  ChildRole,
  Perm,
  bdrvFlush,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  drainedBegin,
  drainedEnd,
  RequestFlags,
} from '../src/index.js';
import { newGraph, settle, TestParent } from './helpers/test-driver.js';

const SIZE = 64 * 1024;

interface RwOp {
  kind: 'read' | 'write' | 'zero' | 'discard';
  offset: number;
  bytes: number;
  seed: number;
  unmap: boolean;
}
type Op = RwOp | { kind: 'flush' | 'drain' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom<RwOp['kind']>('read', 'write', 'zero', 'discard'),
    offset: fc.integer({ min: 0, max: SIZE - 1 }),
    bytes: fc.integer({ min: 0, max: 20000 }),
    seed: fc.integer({ min: 1, max: 250 }),
    unmap: fc.boolean(),
  }),
  fc.record({ kind: fc.constantFrom<'flush' | 'drain'>('flush', 'drain') }),
);

const pow2 = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max }).map((e) => 2 ** e);

describe('io: property test against a flat-array model', () => {
  it('random unaligned reads/writes/zero-writes/discards/flushes with random limits match byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        pow2(12),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(opArb, { minLength: 1, maxLength: 25 }),
        async (align, mtMul, zMul, dMul, ops) => {
          const { graph } = newGraph();
          await graph.openNode({ driver: 'memory', 'node-name': 'm', size: SIZE, discard: 'unmap' });
          const top = await graph.openNode({
            driver: 'limits',
            file: 'm',
            discard: 'unmap',
            requestAlignment: align,
            maxTransfer: mtMul * align * 2,
            maxPwriteZeroes: zMul * align * 2,
            pwriteZeroesAlignment: zMul ? align * 2 : 0,
            pdiscardAlignment: dMul ? align * 2 : 0,
          });
          const model = new Uint8Array(SIZE);
          graph.attachRootChild(
            top,
            'root',
            ChildRole.FILTERED | ChildRole.PRIMARY,
            new TestParent('blk', graph.mainContext),
            Perm.ALL,
            Perm.ALL,
          );
          for (const any of ops) {
            if (any.kind === 'flush') {
              expect(await bdrvFlush(top)).to.equal(0);
              continue;
            }
            if (any.kind === 'drain') {
              await drainedBegin(top);
              drainedEnd(top);
              continue;
            }
            const op = any as RwOp;
            const bytes = Math.min(op.bytes, SIZE - op.offset);
            if (op.kind === 'write') {
              const data = new Uint8Array(bytes);
              for (let i = 0; i < bytes; i++) data[i] = (op.seed + i) & 0xff || 1;
              expect(await settle(bdrvPwritev(top, op.offset, bytes, IOVector.fromBuffer(data)))).to.equal(0);
              model.set(data, op.offset);
            } else if (op.kind === 'zero') {
              const flags = op.unmap ? RequestFlags.MAY_UNMAP : 0;
              expect(await settle(bdrvPwriteZeroes(top, op.offset, bytes, flags))).to.equal(0);
              model.fill(0, op.offset, op.offset + bytes);
            } else if (op.kind === 'discard') {
              // Discard is advisory: the memory node zeroes whatever it is given.
              expect(await bdrvPdiscard(top, op.offset, bytes)).to.equal(0);
              const got = new Uint8Array(bytes);
              await settle(bdrvPreadv(top, op.offset, bytes, IOVector.fromBuffer(got)));
              for (let i = 0; i < bytes; i++) if (got[i] !== model[op.offset + i]) expect(got[i]).to.equal(0);
              model.set(got, op.offset);
            } else {
              const got = new Uint8Array(bytes);
              expect(await settle(bdrvPreadv(top, op.offset, bytes, IOVector.fromBuffer(got)))).to.equal(0);
              expect(
                Buffer.from(got).equals(Buffer.from(model.subarray(op.offset, op.offset + bytes))),
              ).to.equal(true);
            }
          }
          const all = new Uint8Array(SIZE);
          expect(await settle(bdrvPreadv(top, 0, SIZE, IOVector.fromBuffer(all)))).to.equal(0);
          expect(Buffer.from(all).equals(Buffer.from(model))).to.equal(true);
          expect(top.inFlight).to.equal(0);
        },
      ),
      { numRuns: 150, seed: 20240601 },
    );
  });
});
