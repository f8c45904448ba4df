import { expect } from 'chai';
import { BackRing, BlkifOp, BlkifRequest, SharedRingIndexes, type BlkifProtocol } from '../src/index.js';
import { FrontRing } from '../src/testing/index.js';

/** A one-page ring whose backend has answered up to `rspProdPvt` and consumed up to `reqCons`. */
function backAt(reqCons: number, rspProdPvt: number, protocol: BlkifProtocol = 'native'): BackRing {
  const back = new BackRing(new Uint8Array(4096), protocol, { start: rspProdPvt });
  back.reqCons = reqCons >>> 0;
  return back;
}

describe('xen-block ring: ring.h macro semantics (abi.md §2)', () => {
  describe('RING_PUSH_RESPONSES_AND_CHECK_NOTIFY', () => {
    // old rsp_prod = 0xFFFFFFFE, new = 2: notify iff rsp_event in (old, new] mod 2^32.
    const vectors: [number, boolean][] = [
      [0xffffffff, true],
      [0, true],
      [1, true],
      [2, true],
      [3, false],
      [0xfffffffe, false],
      [0x80000000, false],
    ];
    for (const [event, notify] of vectors) {
      it(`old 0xFFFFFFFE, new 2, rsp_event 0x${event.toString(16)} → notify ${notify}`, () => {
        const back = backAt(2, 0xfffffffe);
        back.sring.rspProd = 0xfffffffe;
        back.sring.rspEvent = event;
        for (let i = 0; i < 4; i++) back.pushResponse(i, 0, BlkifOp.READ, 0);
        expect(back.rspProdPvt).to.equal(2);
        expect(back.pushResponsesAndCheckNotify()).to.equal(notify);
        expect(back.sring.rspProd).to.equal(2);
      });
    }

    it('never notifies when nothing new was published (new == old)', () => {
      const back = backAt(7, 7);
      back.sring.rspProd = 7;
      for (const ev of [6, 7, 8, 0]) {
        back.sring.rspEvent = ev;
        expect(back.pushResponsesAndCheckNotify()).to.equal(false);
      }
    });

    it('RING_PUSH_REQUESTS_AND_CHECK_NOTIFY mirrors it with req_prod / req_event, across the wrap', () => {
      const bytes = new Uint8Array(4096);
      const front = new FrontRing(bytes, 'native', { start: 0xfffffffe });
      expect(front.sring.reqEvent).to.equal(0xffffffff); // init: start + 1
      for (let i = 0; i < 4; i++) front.pushRequest({ operation: BlkifOp.READ, id: BigInt(i) });
      expect(front.pushRequestsAndCheckNotify()).to.equal(true);
      expect(front.sring.reqProd).to.equal(2);
      front.sring.reqEvent = 3;
      front.pushRequest({ operation: BlkifOp.READ, id: 9n });
      expect(front.pushRequestsAndCheckNotify()).to.equal(true); // 3 in (2, 3]
      front.pushRequest({ operation: BlkifOp.READ, id: 10n });
      expect(front.pushRequestsAndCheckNotify()).to.equal(false); // 3 not in (3, 4]
    });
  });

  describe('RING_FINAL_CHECK_FOR_REQUESTS', () => {
    it('with req_cons = 0xFFFFFFFF and nothing pending, req_event wraps to 0', () => {
      const back = backAt(0xffffffff, 0xffffffff);
      back.sring.reqProd = 0xffffffff;
      back.sring.reqEvent = 12345;
      expect(back.finalCheckForRequests()).to.equal(0);
      expect(back.sring.reqEvent).to.equal(0);
    });

    it('does not touch req_event when requests are already pending', () => {
      const back = backAt(10, 10);
      back.sring.reqProd = 13;
      back.sring.reqEvent = 999;
      expect(back.finalCheckForRequests()).to.equal(3);
      expect(back.sring.reqEvent).to.equal(999);
    });

    it('RING_FINAL_CHECK_FOR_RESPONSES re-arms rsp_event at rsp_cons + 1', () => {
      const front = new FrontRing(new Uint8Array(4096), 'native', { start: 0xffffffff });
      front.sring.rspEvent = 77;
      expect(front.finalCheckForResponses()).to.equal(0);
      expect(front.sring.rspEvent).to.equal(0);
    });
  });

  describe('RING_HAS_UNCONSUMED_REQUESTS and the overflow guards', () => {
    it('is a count capped by free slots: req_prod 2, req_cons 5 gives 32 on a 32-slot ring', () => {
      const back = backAt(5, 5);
      back.sring.reqProd = 2;
      expect(back.unconsumedRequests).to.equal(32);
    });

    it('counts across the 2^32 wrap', () => {
      const back = backAt(0xfffffffd, 0xfffffffd);
      back.sring.reqProd = 3;
      expect(back.unconsumedRequests).to.equal(6);
    });

    it('consumed-but-unanswered requests still occupy slots', () => {
      const back = backAt(20, 0);
      back.sring.reqProd = 40;
      expect(back.unconsumedRequests).to.equal(12);
      expect(back.inFlight).to.equal(20);
    });

    it('RING_REQUEST_CONS_OVERFLOW examples (32 slots)', () => {
      expect(backAt(0, 0).requestConsOverflow(32)).to.equal(true);
      expect(backAt(0, 0xfffffffc).requestConsOverflow(0x1b)).to.equal(false);
      expect(backAt(0, 0xfffffffc).requestConsOverflow(0x1c)).to.equal(true);
    });

    it('RING_REQUEST_PROD_OVERFLOW: more than RING_SIZE ahead of rsp_prod_pvt', () => {
      const back = backAt(0, 0xfffffff0);
      expect(back.requestProdOverflow(0x10)).to.equal(false); // exactly 32 ahead
      expect(back.requestProdOverflow(0x11)).to.equal(true);
      expect(back.requestProdOverflow(0xffffffef)).to.equal(true); // behind = far ahead
    });
  });

  it('SHARED_RING_INIT: producers at start, events at start + 1, pvt and pad zeroed', () => {
    const bytes = new Uint8Array(4096).fill(0xee);
    new SharedRingIndexes(bytes).init(0xffffffff);
    const dv = new DataView(bytes.buffer);
    expect([0, 4, 8, 12].map((o) => dv.getUint32(o, true))).to.deep.equal([0xffffffff, 0, 0xffffffff, 0]);
    expect([...bytes.subarray(16, 64)].every((b) => b === 0)).to.equal(true);
    expect(bytes[64]).to.equal(0xee); // slots untouched
  });

  it('index fields in a SharedArrayBuffer go through Atomics', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(8192));
    const idx = new SharedRingIndexes(shared);
    expect(idx.isAtomic).to.equal(true);
    idx.rspProd = 0xfffffffe;
    expect(idx.rspProd).to.equal(0xfffffffe);
    expect(new DataView(shared.buffer).getUint32(8, true)).to.equal(0xfffffffe);
    expect(new SharedRingIndexes(new Uint8Array(4096)).isAtomic).to.equal(false);
    // A back ring over shared memory works the same way.
    const front = new FrontRing(shared, 'x86_32-abi');
    const back = new BackRing(shared, 'x86_32-abi');
    front.pushRequest({ operation: BlkifOp.READ, id: 5n });
    front.pushRequestsAndCheckNotify();
    const req = new BlkifRequest();
    back.beginPass();
    expect(back.takeRequest(req)).to.equal(true);
    expect(req.id).to.equal(5n);
  });
});
