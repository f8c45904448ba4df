import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import { drainedBegin, drainedEnd } from '@vmkit/block-layer';
import { BlkifOp, BlkifStatus } from '../src/index.js';
import { connected, same } from './helpers/connect.js';
import { MiB, pattern, turn } from './helpers/rig.js';

type Step =
  | { readonly kind: 'writes'; readonly n: number }
  | { readonly kind: 'turns'; readonly n: number }
  | { readonly kind: 'drain'; readonly during: number; readonly turns: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('writes' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('turns' as const), n: fc.integer({ min: 0, max: 4 }) }),
  fc.record({
    kind: fc.constant('drain' as const),
    during: fc.integer({ min: 0, max: 20 }),
    turns: fc.integer({ min: 0, max: 6 }),
  }),
);

describe('xen-block dataplane: drained sections', () => {
  for (const iothread of [false, true]) {
    it(`drained at random moments under load${iothread ? ' (iothread)' : ''}: nothing taken while drained, nothing lost or answered twice`, async () => {
      let drainsUnderLoad = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
          const { rig, dev, front } = await connected({
            iothread,
            diskSize: 4 * MiB,
            front: { ringPageOrder: 1 },
          });
          const bs = dev.blk!.bs!;
          const ring = front.ring!;
          const back = dev.dataplane!;
          const written = new Map<number, number>(); // sector -> seed
          const pending: Promise<void>[] = [];
          let next = 0;
          const write = (): void => {
            const sector = next * 8 + 8; // never the same sector twice in a run
            const seed = 100 + next++;
            pending.push(
              front.write(sector, pattern(4096, seed)).then(() => {
                written.set(sector, seed);
              }),
            );
          };
          try {
            for (const step of steps) {
              if (step.kind === 'writes') {
                // New writes while others are still in flight: the backend, busy, picks them
                // up from completions (more_work), which a drained section must hold back.
                for (let i = 0; i < step.n; i++) write();
              } else if (step.kind === 'turns') {
                for (let i = 0; i < step.n; i++) await turn();
              } else {
                if (back.requestsInflight > 0 || front.inFlight > 0) drainsUnderLoad++;
                await drainedBegin(bs);
                let published: number;
                try {
                  // Everything the backend took is answered; it takes nothing more now, even
                  // when completions during the drain found requests waiting (more_work).
                  expect(back.requestsInflight).to.equal(0);
                  const cons = back.ring!.reqCons;
                  const rsp = ring.sring.rspProd;
                  for (let i = 0; i < step.during; i++) write(); // published, and notified if asked
                  for (let i = 0; i < step.turns; i++) await turn();
                  await rig.settle();
                  expect(back.ring!.reqCons).to.equal(cons);
                  expect(ring.sring.rspProd).to.equal(rsp);
                  expect(back.requestsInflight).to.equal(0);
                  published = ring.sring.reqProd;
                } finally {
                  drainedEnd(bs);
                }
                // What was published during the section is taken after it.
                await rig.settle();
                expect((back.ring!.reqCons - published) >>> 0).to.be.below(2 ** 31);
              }
            }
            await Promise.all(pending.splice(0));
            expect(front.unexpectedResponses).to.deep.equal([]);
            expect(front.inFlight).to.equal(0);
            expect((ring.sring.rspProd - ring.sring.reqProd) >>> 0).to.equal(0);
            for (const [sector, seed] of written) {
              expect(
                same(await rig.readDisk('disk0', sector * 512, 4096), pattern(4096, seed)),
                `sector ${sector}`,
              ).to.equal(true);
            }
          } finally {
            await front.close();
            await rig.destroy();
          }
        }),
        { numRuns: 15 },
      );
      // The sections did begin with requests on their way (not only on an idle ring).
      expect(drainsUnderLoad).to.be.greaterThan(0);
    });
  }

  it('completions during a drain that find requests waiting (more_work) take nothing until the end', async () => {
    const { rig, dev, front } = await connected();
    const bs = dev.blk!.bs!;
    const back = dev.dataplane!;
    const first = Array.from({ length: 10 }, (_, i) => front.write(i * 8, pattern(4096, i)));
    await turn(); // the backend took them; their completions are still queued
    expect(back.requestsInflight).to.equal(10);
    const cons = back.ring!.reqCons;
    // The backend is busy: these are published without a notification, left for more_work.
    const second = Array.from({ length: 10 }, (_, i) => front.write(80 + i * 8, pattern(4096, 10 + i)));
    expect(front.ring!.sring.reqProd - cons).to.equal(10);
    await drainedBegin(bs);
    await Promise.all(first);
    await rig.settle();
    expect(back.ring!.reqCons).to.equal(cons);
    expect(back.requestsInflight).to.equal(0);
    drainedEnd(bs);
    await Promise.all(second);
    for (let i = 0; i < 10; i++) {
      expect(same(await rig.readDisk('disk0', (80 + i * 8) * 512, 4096), pattern(4096, 10 + i))).to.equal(
        true,
      );
    }
    await front.close();
    await rig.destroy();
  });

  it('a dataplane started while the drive is drained does not listen until the section ends', async () => {
    const { rig, dev, front } = await connected();
    await front.close();
    const bs = dev.blk!.bs!;
    await drainedBegin(bs);
    const f2 = rig.frontend();
    f2.setState(1);
    await rig.settle();
    await f2.connect(); // start() runs inside the section
    expect(dev.dataplane!.started).to.equal(true);
    let done = false;
    const p = f2.read(0, 8).then((d) => {
      done = true;
      return d;
    });
    await rig.settle();
    expect(done).to.equal(false);
    expect(dev.dataplane!.ring!.reqCons).to.equal(0);
    drainedEnd(bs);
    await p;
    await f2.close();
    await rig.destroy();
  });

  it('IO_PLUG_THRESHOLD: submissions are batched (deferCallBegin/End) only when more than one request was in flight', async () => {
    const { rig, front } = await connected({ iothread: true });
    await rig.machine.blockdevAdd({ driver: 'null-co', nodeName: 'slow', size: MiB, latencyNs: 1000 });
    await front.close();
    await rig.machine.deviceDel('xvda');
    const io = rig.machine.iothread('io0');
    const slow = await rig.addDevice({ drive: 'slow', iothread: 'io0' });
    const f = rig.frontend();
    await f.connect();
    const begin = sinon.spy(io, 'deferCallBegin');
    const end = sinon.spy(io, 'deferCallEnd');
    const page = f.allocDataPage(false);
    const read = (): Promise<unknown> =>
      f.submit({ operation: BlkifOp.READ, segments: [{ gref: page.gref, firstSect: 0, lastSect: 7 }] });
    const all: Promise<unknown>[] = [];
    // The backend is busy, so req_event does not ask for notifications: kick it anyway, so that
    // each group is one pass (a real frontend would wait for the completions to pick them up).
    all.push(read());
    f.notify();
    await rig.settle(); // in flight at entry: 0
    all.push(read(), read(), read());
    f.notify();
    await rig.settle(); // 1: still not above the threshold
    expect(begin.callCount).to.equal(0);
    expect(slow.dataplane!.requestsInflight).to.equal(4);
    for (let i = 0; i < 6; i++) all.push(read());
    f.notify();
    await rig.settle(); // 4 in flight at entry: a batch of at most 4 submissions, then a new one
    expect(begin.callCount).to.equal(2);
    expect(end.callCount).to.equal(2);
    expect(io.deferCallDepth).to.equal(0);
    await rig.clock.advance(1000);
    for (const r of (await Promise.all(all)) as { status: number }[])
      expect(r.status).to.equal(BlkifStatus.OKAY);
    begin.restore();
    end.restore();
    await f.close();
    await rig.destroy();
  });
});
