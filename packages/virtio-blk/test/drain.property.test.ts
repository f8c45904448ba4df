/**
 * Property: drained sections begun and ended at random moments (between event-loop turns, or
 * from a bottom half) while random requests are in flight lose no request, complete none twice,
 * never submit to the BlockBackend while it is drained, and leave every counter at zero.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { drainedBegin, drainedEnd, type BlockBackend } from '@vmkit/block-layer';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { encodeDiscardRanges, type BlkRequestSpec } from '../src/testing/index.js';
import { makeRig, pattern, turns, type Rig } from './helpers/rig.js';

type Op =
  | { op: 'submit'; reqs: Array<{ kind: number; sector: number; sectors: number }>; kickIfNeeded: boolean }
  | { op: 'turns'; n: number }
  | { op: 'release'; n: number }
  | { op: 'begin' }
  | { op: 'beginInBh' }
  | { op: 'end' };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('submit' as const),
      reqs: fc.array(
        fc.record({
          kind: fc.integer({ min: 0, max: 5 }),
          sector: fc.integer({ min: 0, max: 120 }),
          sectors: fc.integer({ min: 1, max: 4 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      kickIfNeeded: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('turns' as const), n: fc.integer({ min: 1, max: 4 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('release' as const), n: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'begin' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'beginInBh' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'end' as const }) },
);

const arbPlan = fc.record({
  hold: fc.boolean(),
  ops: fc.array(arbOp, { minLength: 1, maxLength: 30 }),
});

function spec(r: { kind: number; sector: number; sectors: number }): BlkRequestSpec {
  if (r.kind <= 1) return { type: T.IN, sector: r.sector, inLength: r.sectors * 512 };
  if (r.kind <= 3) return { type: T.OUT, sector: r.sector, payload: pattern(r.sectors * 512, r.sector) };
  if (r.kind === 4) return { type: T.FLUSH };
  return {
    type: T.WRITE_ZEROES,
    payload: encodeDiscardRanges([{ sector: r.sector, numSectors: r.sectors }]),
  };
}

/** Counts submissions to the BlockBackend and those made while it is drained. */
function instrument(blk: BlockBackend): { submitted: number; whileDrained: number } {
  const counts = { submitted: 0, whileDrained: 0 };
  const names = ['aioPreadv', 'aioPwritev', 'aioFlush', 'aioPdiscard', 'aioPwriteZeroes'] as const;
  for (const name of names) {
    const original = blk[name] as (...args: unknown[]) => unknown;
    (blk as unknown as Record<string, unknown>)[name] = (...args: unknown[]): unknown => {
      counts.submitted++;
      if (blk.inDrain) counts.whileDrained++;
      return original.apply(blk, args);
    };
  }
  return counts;
}

for (const iothread of [false, true]) {
  describe(`virtio-blk drained sections under load (property, ${iothread ? 'iothread' : 'main context'})`, () => {
    let rig: Rig;
    before(async () => {
      rig = await makeRig({ iothread, init: false });
    });
    after(async () => {
      await rig.machine.destroy();
    });

    it('no request lost or completed twice, none submitted while drained, counters back to zero', async function () {
      this.timeout(120_000);
      const blk = rig.blk();
      const counts = instrument(blk);
      let sections = 0;
      let completed = 0;
      await fc.assert(
        fc.asyncProperty(arbPlan, async (plan) => {
          const { driver, disk, node } = rig;
          driver.init();
          disk.hold = plan.hold;
          counts.whileDrained = 0;
          const section = { open: false, drained: false, pending: null as Promise<void> | null };
          const begin = (): void => {
            if (section.open) return;
            section.open = true;
            sections++;
            section.pending = drainedBegin(node).then(() => {
              section.drained = true;
            });
          };
          const end = (): void => {
            if (!section.open || !section.drained) return;
            drainedEnd(node);
            section.open = section.drained = false;
            section.pending = null;
          };
          const submitted = [];
          for (const op of plan.ops) {
            switch (op.op) {
              case 'submit':
                for (const r of op.reqs) submitted.push(driver.submit(spec(r)));
                if (op.kickIfNeeded) driver.kickIfNeeded();
                else driver.kick();
                break;
              case 'turns':
                await turns(op.n);
                break;
              case 'release':
                disk.release(Math.min(op.n, disk.heldCount));
                break;
              case 'begin':
                begin();
                break;
              case 'beginInBh':
                rig.machine.mainContext.scheduleOneshot(begin);
                break;
              case 'end':
                end();
                break;
            }
          }
          // Wind down: release everything, finish the section, let everything complete.
          await turns(1);
          disk.hold = false;
          disk.release();
          if (section.pending !== null) await section.pending;
          end();
          const done = await driver.settle();
          expect(done.map((c) => c.request)).to.have.members(submitted);
          expect(done.every((c) => c.status === S.OK)).to.equal(true);
          completed += done.length;
          expect(counts.whileDrained, 'submissions while drained').to.equal(0);
          expect(blk.inFlight).to.equal(0);
          expect(blk.inDrain).to.equal(false);
          expect(rig.device.inFlightRequests).to.equal(0);
          expect(rig.device.queue(0).inUse).to.equal(0);
          expect(disk.heldCount).to.equal(0);
        }),
        { numRuns: 150 },
      );
      expect(sections, 'drained sections begun').to.be.above(50);
      expect(completed).to.be.above(150);
      expect(counts.submitted).to.be.above(100);
    });
  });
}
