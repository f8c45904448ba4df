/**
 * Property: virtio_blk_submit_multireq submits buffered requests sorted by sector (stable: equal
 * sectors keep ring order) and merges exactly the contiguous runs a greedy pass allows within the
 * iov and transfer limits, whatever the order and clustering of the sectors (the sort is a
 * distribution sort with an insertion pass; sectors beyond 2^48 take the fallback sort).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { IOVector } from '@vmkit/core';
import type { BlockBackend } from '@vmkit/block-layer';
import { MultiReqBuffer, submitMultireq } from '../src/multireq.js';
import { VirtioBlkRequest } from '../src/request.js';

interface Submitted {
  readonly offset: number;
  readonly bytes: number;
  /** Request ids of the run, in chain (mrNext) order. */
  readonly ids: number[];
}

interface Spec {
  readonly sector: number;
  readonly sectors: number;
  readonly niov: number;
}

function fakeBackend(
  maxTransfer: number,
  maxIov: number,
  out: Submitted[],
  ids: Map<VirtioBlkRequest, number>,
) {
  const submit = (offset: number, qiov: IOVector, _flags: number, _cb: unknown, first: VirtioBlkRequest) => {
    const run: number[] = [];
    for (let r: VirtioBlkRequest | null = first; r !== null; r = r.mrNext) run.push(ids.get(r)!);
    out.push({ offset, bytes: qiov.size, ids: run });
  };
  return {
    maxTransfer,
    maxIov,
    aioPreadv: submit,
    aioPwritev: submit,
    acctMergeDone: () => undefined,
  } as unknown as BlockBackend;
}

/** The reference: stable sort by sector, then greedy runs under the limits. */
function model(specs: readonly Spec[], maxTransfer: number, maxIov: number): Submitted[] {
  const order = specs.map((s, id) => ({ ...s, id })).sort((a, b) => a.sector - b.sector || a.id - b.id);
  const out: Submitted[] = [];
  let run: typeof order = [];
  let bytes = 0;
  let niov = 0;
  const flush = (): void => {
    if (run.length > 0) out.push({ offset: run[0].sector * 512, bytes, ids: run.map((r) => r.id) });
    run = [];
    bytes = 0;
    niov = 0;
  };
  for (const r of order) {
    const size = r.sectors * 512;
    if (run.length > 0) {
      const last = run[0].sector * 512 + bytes;
      if (last !== r.sector * 512 || niov + r.niov > maxIov || bytes + size > maxTransfer) flush();
    }
    run.push(r);
    bytes += size;
    niov += r.niov;
  }
  flush();
  return out;
}

const arbSpecs = (sector: fc.Arbitrary<number>) =>
  fc.array(
    fc.record({
      sector,
      sectors: fc.integer({ min: 1, max: 8 }),
      niov: fc.integer({ min: 1, max: 3 }),
    }),
    { minLength: 1, maxLength: 32 },
  );

describe('virtio-blk multireq order and merging (property)', () => {
  const mrb = new MultiReqBuffer();
  const pool = Array.from({ length: 32 }, () => new VirtioBlkRequest());

  function run(specs: readonly Spec[], isWrite: boolean, maxTransfer: number, maxIov: number): Submitted[] {
    const out: Submitted[] = [];
    const ids = new Map<VirtioBlkRequest, number>();
    specs.forEach((s, id) => {
      const req = pool[id];
      req.qiov.reset();
      const size = s.sectors * 512;
      const chunk = Math.floor(size / s.niov);
      for (let k = 0; k < s.niov; k++)
        req.qiov.add(new Uint8Array(k === 0 ? size - chunk * (s.niov - 1) : chunk));
      req.sectorNum = s.sector;
      ids.set(req, id);
      mrb.add(req, isWrite);
    });
    submitMultireq(fakeBackend(maxTransfer, maxIov, out, ids), mrb, () => undefined);
    expect(mrb.numReqs).to.equal(0);
    expect(mrb.reqs.every((r) => r === null)).to.equal(true, 'the buffer is emptied');
    return out;
  }

  it('submits sorted by sector (stable) and merges the greedy contiguous runs, clustered or spread', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          arbSpecs(fc.integer({ min: 0, max: 40 })),
          arbSpecs(fc.integer({ min: 0, max: 1 << 21 })),
          // Beyond 2^48 the packed sort keys would not be exact: the fallback sort runs.
          arbSpecs(fc.maxSafeNat().map((x) => (x % 64) + 2 ** 50)),
        ),
        fc.boolean(),
        fc.constantFrom(4096, 8192, 1 << 30),
        fc.constantFrom(2, 5, 1024),
        (specs, isWrite, maxTransfer, maxIov) => {
          // Every request must fit on its own, as the device's validation guarantees.
          const ok = specs.filter((s) => s.sectors * 512 <= maxTransfer && s.niov <= maxIov);
          if (ok.length === 0) return;
          expect(run(ok, isWrite, maxTransfer, maxIov)).to.deep.equal(model(ok, maxTransfer, maxIov));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('equal sectors keep ring order (same-sector writes are not reordered)', () => {
    const specs: Spec[] = [7, 3, 7, 3, 7].map((sector) => ({ sector, sectors: 8, niov: 1 }));
    expect(run(specs, true, 1 << 30, 1024).map((s) => s.ids)).to.deep.equal([[1], [3], [0], [2], [4]]);
  });
});
