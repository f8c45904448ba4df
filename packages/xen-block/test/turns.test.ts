import { expect } from 'chai';
import { BlkifOp } from '../src/index.js';
import type { Blkfront } from '../src/testing/index.js';
import { connected } from './helpers/connect.js';
import { turn } from './helpers/rig.js';

/**
 * Bottom-half turns of a round trip. Each `await turn()` lets exactly one more batch of the
 * context's bottom halves run: the frontend's publish wakes the backend (turn 1: the pass), the
 * BlockBackend's completions run in the next batch (turn 2), the frontend's interrupt handler in
 * the one after (turn 3).
 */

function pushRead(front: Blkfront, id: number, gref: number, sector = 0): void {
  front.ring!.pushRequest({
    operation: BlkifOp.READ,
    id: BigInt(id),
    sector,
    segments: [{ gref, firstSect: 0, lastSect: 7 }],
  });
}

describe('xen-block dataplane: bottom-half turns per round trip', () => {
  it('completions queued by a pass are published in their own turn, with a request still in flight', async () => {
    const { rig, dev, front } = await connected();
    const dp = dev.dataplane!;
    const ring = front.ring!;
    const page = front.allocDataPage(false);
    const data = front.allocDataPage(true);
    front.responseHook = () => undefined; // reap by hand
    for (let i = 0; i < 8; i++) pushRead(front, i, page.gref, 8 * i);
    // Its presync flush completes with the reads; its write only in the batch after.
    ring.pushRequest({
      operation: BlkifOp.FLUSH_DISKCACHE,
      id: 99n,
      sector: 64,
      segments: [{ gref: data.gref, firstSect: 0, lastSect: 7 }],
    });
    const rsp0 = ring.sring.rspProd;
    // What each publication made visible, and how much was still in flight then.
    const back = dp.ring!;
    const published: [number, number][] = [];
    const push = back.pushResponsesAndCheckNotify.bind(back);
    back.pushResponsesAndCheckNotify = () => {
      published.push([(back.rspProdPvt - rsp0) >>> 0, dp.requestsInflight]);
      return push();
    };
    front.publish();
    await turn(); // the pass: 9 requests taken
    expect(dp.requestsInflight).to.equal(9);
    expect(published).to.deep.equal([]);
    await turn(); // the completions, then the publish BH the pass queued behind them
    // The 8 reads went out while the write was still to be done (not held back until it was).
    expect(published).to.deep.equal([
      [8, 1],
      [9, 0],
    ]);
    front.responseHook = null;
    await front.close();
    await rig.destroy();
  });

  it('after notifying the frontend the backend polls the ring: requests its interrupt handler publishes are taken in the same turn', async () => {
    const { rig, dev, front } = await connected();
    const dp = dev.dataplane!;
    const ring = front.ring!;
    const page = front.allocDataPage(false);
    let answered = 0;
    front.responseHook = () => {
      answered += ring.takeResponses().length;
      ring.finalCheckForResponses(); // re-arms rsp_event: interrupt me for the next one
      if (answered === 1) {
        pushRead(front, 1, page.gref);
        front.publish();
      }
    };
    const cons0 = dp.ring!.reqCons;
    const sent0 = front.notificationsSent;
    const notes0 = dp.notifications;
    pushRead(front, 0, page.gref);
    front.publish();
    await turn(); // the pass
    await turn(); // the completion: published, the frontend notified
    expect(dp.notifications - notes0).to.equal(1);
    expect(answered).to.equal(0);
    expect((dp.ring!.reqCons - cons0) >>> 0).to.equal(1);
    await turn(); // the frontend's handler publishes request 1; the poll pass behind it takes it
    expect(answered).to.equal(1);
    expect((dp.ring!.reqCons - cons0) >>> 0).to.equal(2);
    expect(dp.requestsInflight).to.equal(1);
    // The frontend still notified: req_event was re-armed when the backend went idle.
    expect(front.notificationsSent - sent0).to.equal(2);
    await turn(); // its completion (the notification's pass finds nothing left to take)
    expect(dp.requestsInflight).to.equal(0);
    expect(answered).to.equal(1);
    await turn();
    expect(answered).to.equal(2);
    expect((dp.ring!.reqCons - cons0) >>> 0).to.equal(2);
    front.responseHook = null;
    await front.close();
    await rig.destroy();
  });

  it('no poll pass without a notification: when rsp_event asks for nothing, the ring is left alone until the frontend notifies', async () => {
    const { rig, dev, front } = await connected();
    const dp = dev.dataplane!;
    const ring = front.ring!;
    const page = front.allocDataPage(false);
    front.responseHook = () => undefined;
    const cons0 = dp.ring!.reqCons;
    ring.sring.rspEvent = (ring.rspCons - 1) >>> 0; // already passed: no interrupt wanted
    pushRead(front, 0, page.gref);
    front.publish();
    await turn();
    await turn(); // completed and published, nobody notified
    expect(dp.requestsInflight).to.equal(0);
    expect(ring.unconsumedResponses).to.equal(1);
    // Published behind the backend's back, without a notification: not taken.
    pushRead(front, 1, page.gref);
    ring.sring.reqProd = ring.reqProdPvt;
    for (let i = 0; i < 3; i++) await turn();
    expect((dp.ring!.reqCons - cons0) >>> 0).to.equal(1);
    front.notify();
    await turn();
    expect((dp.ring!.reqCons - cons0) >>> 0).to.equal(2);
    front.responseHook = null;
    await front.close();
    await rig.destroy();
  });
});
