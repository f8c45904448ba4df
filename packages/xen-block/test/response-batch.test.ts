import { expect } from 'chai';
import { BlkifOp, BlkifStatus } from '../src/index.js';
import type { Blkfront } from '../src/testing/index.js';
import { connected } from './helpers/connect.js';
import { MiB } from './helpers/rig.js';

/** Pushes `n` one-page reads of `gref` without publishing them (ids `first`, `first + 1`, ...). */
/** A connected frontend on a device whose reads take 1000 ns of the rig's virtual clock. */
async function slowDevice() {
  const { rig, dev, front } = await connected();
  await rig.machine.blockdevAdd({ driver: 'null-co', nodeName: 'slow', size: MiB, latencyNs: 1000 });
  await front.close();
  await rig.machine.deviceDel(dev.id);
  const slow = await rig.addDevice({ drive: 'slow' });
  const f = rig.frontend();
  await f.connect();
  return { rig, f, dp: slow.dataplane! };
}

function pushReads(front: Blkfront, n: number, gref: number, first = 0): void {
  const ring = front.ring!;
  for (let i = 0; i < n; i++) {
    ring.pushRequest({
      operation: BlkifOp.READ,
      id: BigInt(first + i),
      sector: 8 * i,
      segments: [{ gref, firstSect: 0, lastSect: 7 }],
    });
  }
}

describe('xen-block dataplane: responses published once per batch of completions', () => {
  it('a batch of completions publishes rsp_prod once and notifies exactly once when rsp_event asks', async () => {
    const { rig, dev, front } = await connected();
    const dp = dev.dataplane!;
    const ring = front.ring!;
    const page = front.allocDataPage(false);
    front.responseHook = () => undefined; // reap by hand
    const pub0 = dp.responsePublications;
    const notes0 = dp.notifications;
    ring.sring.rspEvent = (ring.rspCons + 1) >>> 0; // the frontend wants the first response
    pushReads(front, 16, page.gref);
    front.publish();
    await rig.settle();
    expect(ring.unconsumedResponses).to.equal(16);
    expect(dp.responsePublications - pub0).to.equal(1);
    expect(dp.notifications - notes0).to.equal(1);
    expect(ring.takeResponses().map((r) => [r.id, r.status])).to.deep.equal(
      Array.from({ length: 16 }, (_, i) => [BigInt(i), BlkifStatus.OKAY]),
    );
    front.responseHook = null;
    await front.close();
    await rig.destroy();
  });

  it('no notification when rsp_event lies outside the published range; one when it lies inside, not only at its first slot', async () => {
    const { rig, dev, front } = await connected();
    const dp = dev.dataplane!;
    const ring = front.ring!;
    const page = front.allocDataPage(false);
    front.responseHook = () => undefined;
    // Behind: already passed, so the frontend asked for nothing new.
    ring.sring.rspEvent = (ring.rspCons - 5) >>> 0;
    const notes0 = dp.notifications;
    pushReads(front, 8, page.gref);
    front.publish();
    await rig.settle();
    expect(ring.unconsumedResponses).to.equal(8);
    expect(dp.notifications).to.equal(notes0);
    ring.takeResponses();
    // Ahead of the batch: still nothing.
    ring.sring.rspEvent = (ring.rspCons + 9) >>> 0;
    pushReads(front, 8, page.gref, 100);
    front.publish();
    await rig.settle();
    expect(dp.notifications).to.equal(notes0);
    ring.takeResponses();
    // In the middle of the batch (the 5th of 8 responses): exactly one.
    ring.sring.rspEvent = (ring.rspCons + 5) >>> 0;
    const pub0 = dp.responsePublications;
    pushReads(front, 8, page.gref, 200);
    front.publish();
    await rig.settle();
    expect(dp.responsePublications - pub0).to.equal(1);
    expect(dp.notifications).to.equal(notes0 + 1);
    expect(ring.takeResponses().map((r) => r.id)).to.deep.equal(
      Array.from({ length: 8 }, (_, i) => BigInt(200 + i)),
    );
    front.responseHook = null;
    await front.close();
    await rig.destroy();
  });

  it('a response is not held back by a request still in flight: the publish BH publishes it', async () => {
    const { rig, f, dp } = await slowDevice();
    const page = f.allocDataPage(false);
    const read = f.submit({
      operation: BlkifOp.READ,
      segments: [{ gref: page.gref, firstSect: 0, lastSect: 7 }],
    });
    await rig.settle();
    expect(dp.requestsInflight).to.equal(1);
    // A quick answer (an unknown operation) while the read waits for the clock. The backend is
    // busy and did not re-arm req_event, so kick it the way an impatient guest would.
    const barrier = f.submit({ operation: BlkifOp.WRITE_BARRIER });
    f.notify();
    await rig.settle();
    expect(dp.requestsInflight).to.equal(1);
    expect((await barrier).status).to.equal(BlkifStatus.ERROR);
    expect(dp.requestsInflight).to.equal(1);
    await rig.clock.advance(1000);
    expect((await read).status).to.equal(BlkifStatus.OKAY);
    await f.close();
    await rig.destroy();
  });

  it('requests published without a notification while others were in flight are taken when the batch is published', async () => {
    const { rig, f, dp } = await slowDevice();
    const ring = f.ring!;
    const page = f.allocDataPage(false);
    f.responseHook = () => undefined;
    pushReads(f, 1, page.gref);
    expect(f.publish()).to.equal(true);
    await rig.settle();
    expect(dp.requestsInflight).to.equal(1);
    // The backend is busy: req_event was not re-armed, so this one is published silently.
    pushReads(f, 1, page.gref, 1);
    expect(f.publish()).to.equal(false);
    await rig.settle();
    expect(dp.ring!.reqCons).to.equal((ring.reqProdPvt - 1) >>> 0);
    // The first completion's publication checks for more requests and takes the second.
    await rig.clock.advance(1000);
    await rig.settle();
    expect(dp.ring!.reqCons).to.equal(ring.reqProdPvt);
    await rig.clock.advance(1000);
    await rig.settle();
    expect(ring.takeResponses().map((r) => r.id)).to.deep.equal([0n, 1n]);
    // Idle again: the last publication re-armed req_event at req_cons + 1.
    expect(ring.sring.reqEvent).to.equal((dp.ring!.reqCons + 1) >>> 0);
    f.responseHook = null;
    await f.close();
    await rig.destroy();
  });
});
