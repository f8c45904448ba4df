import { expect } from 'chai';
import { BackRing, BlkifOp, BlkifRequest, BlkifStatus, type BlkifProtocol } from '../src/index.js';
import { FrontRing, type FrontRequest, type FrontSegment } from '../src/testing/index.js';

const PROTOCOLS: readonly BlkifProtocol[] = ['native', 'x86_32-abi', 'x86_64-abi'];

function rings(
  protocol: BlkifProtocol,
  pages: number,
  start = 0,
): { bytes: Uint8Array; front: FrontRing; back: BackRing } {
  const bytes = new Uint8Array(pages * 4096);
  const front = new FrontRing(bytes, protocol, { start });
  const back = new BackRing(bytes, protocol, { start });
  return { bytes, front, back };
}

function segments(n: number, base = 1000): FrontSegment[] {
  return Array.from({ length: n }, (_, i) => ({ gref: base + i, firstSect: i % 8, lastSect: 7 }));
}

function expectSameRequest(got: BlkifRequest, want: FrontRequest): void {
  expect(got.operation).to.equal(want.operation);
  expect(got.id).to.equal(want.id);
  expect(got.sectorNumber).to.equal(BigInt(want.sector ?? 0));
  expect(got.handle).to.equal(want.handle ?? 0);
  const segs = want.segments ?? [];
  expect(got.nrSegments).to.equal(want.nrSegments ?? segs.length);
  for (let i = 0; i < segs.length; i++) {
    expect(got.segments[i]).to.deep.include(segs[i]);
  }
}

/** Drains one pass, answering every request with OKAY; returns the requests' ids. */
function serve(back: BackRing, status: number = BlkifStatus.OKAY): bigint[] {
  const req = new BlkifRequest();
  const ids: bigint[] = [];
  back.beginPass();
  while (back.takeRequest(req)) {
    ids.push(req.id);
    back.respond(req, status);
  }
  return ids;
}

describe('xen-block ring: BackRing driven by FrontRing', () => {
  for (const protocol of PROTOCOLS) {
    for (const pages of [1, 2, 16]) {
      it(`${protocol}, ${pages} page(s): every slot round-trips requests and responses, wrapping 2^32`, () => {
        const start = 0xffffffff - 40 * pages;
        const { front, back } = rings(protocol, pages, start);
        expect(back.size).to.equal(32 * pages);
        let nextId = 0x1234_5678_9abc_0000n;
        // Three full laps of the ring, in batches that are not a divisor of the size.
        const batch = 7 * pages + 3;
        let answered = 0;
        while (answered < 3 * back.size) {
          const sent: FrontRequest[] = [];
          for (let i = 0; i < batch && !front.full; i++) {
            const r: FrontRequest = {
              operation: i % 2 === 0 ? BlkifOp.READ : BlkifOp.WRITE,
              id: nextId++,
              sector: BigInt(i) * 0x1_0000_0001n,
              handle: 51712,
              segments: segments(i % 12, i * 100),
            };
            front.pushRequest(r);
            sent.push(r);
          }
          front.pushRequestsAndCheckNotify();
          const req = new BlkifRequest();
          expect(back.beginPass()).to.equal(sent.length);
          for (const want of sent) {
            expect(back.takeRequest(req)).to.equal(true);
            expectSameRequest(req, want);
            back.respond(req, want.operation === BlkifOp.READ ? BlkifStatus.OKAY : BlkifStatus.ERROR);
          }
          expect(back.takeRequest(req)).to.equal(false);
          back.pushResponsesAndCheckNotify();
          const got = front.takeResponses();
          expect(got.map((r) => r.id)).to.deep.equal(sent.map((r) => r.id));
          expect(got.map((r) => r.operation)).to.deep.equal(sent.map((r) => r.operation));
          expect(got.map((r) => r.status)).to.deep.equal(
            sent.map((r) => (r.operation === BlkifOp.READ ? 0 : -1)),
          );
          answered += sent.length;
        }
        expect(back.reqCons).to.be.lessThan(start); // wrapped
        expect(back.reqCons).to.equal(front.reqProdPvt);
      });
    }
  }

  it('an 11-segment request in a slot straddling a page boundary is copied whole (x86_32, 2 pages, slot 37)', () => {
    const { bytes, front, back } = rings('x86_32-abi', 2, 37);
    expect(front.slotOffset(37)).to.equal(4060); // bytes 4060..4167 cross 4096
    const want: FrontRequest = {
      operation: BlkifOp.WRITE,
      id: 0xffff_ffff_ffff_fffen,
      sector: 0x7654_3210_0123n,
      segments: segments(11, 0xabc00),
    };
    front.pushRequest(want);
    front.pushRequestsAndCheckNotify();
    // The last segment (seg[10]) lives in the second page.
    expect(new DataView(bytes.buffer).getUint32(4060 + 20 + 10 * 8, true)).to.equal(0xabc00 + 10);
    const req = new BlkifRequest();
    back.beginPass();
    expect(back.takeRequest(req)).to.equal(true);
    expectSameRequest(req, want);
    back.respond(req, BlkifStatus.OKAY);
    back.pushResponsesAndCheckNotify();
    expect(front.takeResponses()).to.deep.equal([{ id: 0xffff_ffff_ffff_fffen, operation: 1, status: 0 }]);
  });

  it('x86_64 4-page and 16-page rings: straddling slots copy whole', () => {
    for (const pages of [4, 16]) {
      const { front, back } = rings('x86_64-abi', pages);
      const size = back.size;
      const req = new BlkifRequest();
      let straddled = 0;
      for (let i = 0; i < size; i++) {
        const at = front.slotOffset(i);
        const crosses = Math.floor(at / 4096) !== Math.floor((at + 111) / 4096);
        const want: FrontRequest = {
          operation: BlkifOp.READ,
          id: BigInt(i) << 40n,
          segments: segments(11, i * 16),
        };
        front.pushRequest(want);
        front.pushRequestsAndCheckNotify();
        back.beginPass();
        expect(back.takeRequest(req)).to.equal(true);
        expectSameRequest(req, want);
        back.respond(req, 0);
        back.pushResponsesAndCheckNotify();
        front.takeResponses();
        if (crosses) straddled++;
      }
      expect(straddled).to.be.greaterThan(0);
    }
  });

  it('ids above 2^53 are echoed bit-exactly (no Number rounding)', () => {
    const ids = [2n ** 53n + 1n, 2n ** 64n - 1n, 0x8000_0000_0000_0001n, 0n, 0xdead_beef_cafe_f00dn];
    for (const protocol of PROTOCOLS) {
      const { front, back } = rings(protocol, 1);
      for (const id of ids) front.pushRequest({ operation: 99, id });
      front.pushRequestsAndCheckNotify();
      expect(serve(back, BlkifStatus.ERROR)).to.deep.equal(ids);
      back.pushResponsesAndCheckNotify();
      const got = front.takeResponses();
      expect(got.map((r) => r.id)).to.deep.equal(ids);
      expect(got.every((r) => r.operation === 99 && r.status === -1)).to.equal(true);
    }
  });

  it('responses write only id, operation and status (padding untouched), in the ABI stride', () => {
    for (const [protocol, stride] of [
      ['x86_32-abi', 108],
      ['x86_64-abi', 112],
    ] as const) {
      const { bytes, front, back } = rings(protocol, 1);
      front.pushRequest({ operation: 0, id: 1n });
      front.pushRequest({ operation: 0, id: 2n });
      front.pushRequestsAndCheckNotify();
      const a = new BlkifRequest();
      const b = new BlkifRequest();
      back.beginPass();
      back.takeRequest(a);
      back.takeRequest(b);
      // Requests copied out: the slots are the backend's to answer in. Mark every byte.
      bytes.fill(0xaa, 64, 64 + 2 * stride);
      back.respond(a, BlkifStatus.EOPNOTSUPP);
      back.respond(b, BlkifStatus.EOPNOTSUPP);
      const dv = new DataView(bytes.buffer);
      const second = 64 + stride;
      expect(dv.getBigUint64(second, true)).to.equal(2n);
      expect(dv.getInt16(second + 10, true)).to.equal(-2);
      expect(bytes[second + 9]).to.equal(0xaa); // pad byte
      expect(bytes[second + 12]).to.equal(0xaa); // beyond the 12 bytes of fields
      expect(bytes[second - 1]).to.equal(0xaa); // first slot's response stayed in its 12 bytes
      expect(bytes[second + stride]).to.equal(0); // third slot untouched
    }
  });

  it('copies the request before interpretation: changing the slot afterwards changes nothing', () => {
    const { bytes, front, back } = rings('native', 1);
    front.pushRequest({ operation: BlkifOp.WRITE, id: 7n, nrSegments: 2, segments: segments(2) });
    front.pushRequestsAndCheckNotify();
    const req = new BlkifRequest();
    back.beginPass();
    back.takeRequest(req);
    // A hostile guest rewrites nr_segments and the first gref after the backend copied them.
    bytes[65] = 11;
    new DataView(bytes.buffer).setUint32(64 + 24, 0xbad, true);
    expect(req.nrSegments).to.equal(2);
    expect(req.segments[0].gref).to.equal(1000);
  });

  it('req_prod is read once per pass: requests published mid-pass wait for the next pass', () => {
    const { front, back } = rings('native', 1);
    front.pushRequest({ operation: 0, id: 1n });
    front.pushRequestsAndCheckNotify();
    const req = new BlkifRequest();
    expect(back.beginPass()).to.equal(1);
    front.pushRequest({ operation: 0, id: 2n });
    front.pushRequestsAndCheckNotify();
    expect(back.takeRequest(req)).to.equal(true);
    expect(back.takeRequest(req)).to.equal(false);
    expect(back.unconsumedRequests).to.equal(1);
    back.beginPass();
    expect(back.takeRequest(req)).to.equal(true);
    expect(req.id).to.equal(2n);
  });

  it('a nr_segments of 12+ copies only 11 segments and keeps the raw count', () => {
    const { front, back } = rings('x86_32-abi', 1);
    front.pushRequest({ operation: BlkifOp.READ, id: 1n, nrSegments: 200, segments: segments(11) });
    front.pushRequest({
      operation: BlkifOp.READ,
      id: 2n,
      segments: [{ gref: 0x5555, firstSect: 1, lastSect: 2 }],
    });
    front.pushRequestsAndCheckNotify();
    const req = new BlkifRequest();
    back.beginPass();
    back.takeRequest(req);
    expect(req.nrSegments).to.equal(200);
    expect(req.copiedSegments).to.equal(11);
    back.takeRequest(req);
    expect(req.segments[0].gref).to.equal(0x5555); // the next slot was not eaten by request 1
  });

  describe('event handshake', () => {
    it('the backend sees no notification need while the frontend has not re-armed rsp_event', () => {
      const { front, back } = rings('native', 1);
      // rsp_event = 1 after init: the first response notifies, later ones do not...
      front.pushRequest({ operation: 0, id: 1n });
      front.pushRequest({ operation: 0, id: 2n });
      front.pushRequestsAndCheckNotify();
      back.beginPass();
      const req = new BlkifRequest();
      back.takeRequest(req);
      back.respond(req, 0);
      expect(back.pushResponsesAndCheckNotify()).to.equal(true);
      back.takeRequest(req);
      back.respond(req, 0);
      expect(back.pushResponsesAndCheckNotify()).to.equal(false);
      // ...until the frontend consumed and re-armed.
      expect(front.takeResponses()).to.have.length(2);
      expect(front.finalCheckForResponses()).to.equal(0);
      expect(front.sring.rspEvent).to.equal(3);
      front.pushRequest({ operation: 0, id: 3n });
      front.pushRequestsAndCheckNotify();
      serve(back);
      expect(back.pushResponsesAndCheckNotify()).to.equal(true);
    });

    it('checkForMoreRequests: final check (re-arming req_event) only once all consumed requests are answered', () => {
      const { front, back } = rings('native', 1);
      for (let i = 0; i < 3; i++) front.pushRequest({ operation: 0, id: BigInt(i) });
      front.pushRequestsAndCheckNotify();
      const req = new BlkifRequest();
      back.beginPass();
      back.takeRequest(req);
      back.takeRequest(req);
      back.respond(req, 0); // one of two answered
      back.sring.reqEvent = 42;
      expect(back.checkForMoreRequests()).to.equal(true); // request 3 is unconsumed
      expect(back.sring.reqEvent).to.equal(42);
      back.takeRequest(req);
      back.respond(req, 0);
      back.respond(req, 0);
      expect(back.checkForMoreRequests()).to.equal(false);
      expect(back.sring.reqEvent).to.equal(4); // re-armed at req_cons + 1
      // The frontend's next push now notifies.
      front.pushRequest({ operation: 0, id: 9n });
      expect(front.pushRequestsAndCheckNotify()).to.equal(true);
    });
  });

  describe('hostile producers', () => {
    it('req_prod far ahead: one pass takes at most RING_SIZE requests and flags the overflow', () => {
      const { front, back } = rings('native', 1);
      front.sring.reqProd = 0x7fff_0000;
      expect(back.beginPass()).to.equal(32);
      expect(back.producerOverflow).to.equal(true);
      const req = new BlkifRequest();
      let n = 0;
      while (back.takeRequest(req)) n++;
      expect(n).to.equal(32);
      expect(back.unconsumedRequests).to.equal(0); // no free slot until answers are pushed
      for (let i = 0; i < 32; i++) back.respond(req, -1);
      back.pushResponsesAndCheckNotify();
      expect(back.unconsumedRequests).to.equal(32);
    });

    it('req_prod moved backwards counts as far ahead (bounded, flagged)', () => {
      const { front, back } = rings('x86_32-abi', 2, 100);
      for (let i = 0; i < 10; i++) front.pushRequest({ operation: 0, id: BigInt(i) });
      front.pushRequestsAndCheckNotify();
      serve(back);
      back.pushResponsesAndCheckNotify();
      front.sring.reqProd = 105; // behind req_cons = 110
      expect(back.beginPass()).to.equal(64);
      expect(back.producerOverflow).to.equal(true);
      expect(serve(back)).to.have.length(64);
    });

    it('a correct producer exactly RING_SIZE ahead is not an overflow', () => {
      const { front, back } = rings('native', 1);
      for (let i = 0; i < 32; i++) front.pushRequest({ operation: 0, id: BigInt(i) });
      front.pushRequestsAndCheckNotify();
      expect(front.full).to.equal(true);
      expect(back.beginPass()).to.equal(32);
      expect(back.producerOverflow).to.equal(false);
    });

    it('pushing a response nobody asked for is a backend bug and throws', () => {
      const { back } = rings('native', 1);
      expect(() => back.pushResponse(0, 0, 0, 0)).to.throw(/no request/);
    });

    it('BACK_RING_ATTACH resumes from the shared rsp_prod', () => {
      const bytes = new Uint8Array(4096);
      const front = new FrontRing(bytes, 'native', { start: 0xfffffff0 });
      const back = new BackRing(bytes, 'native', { start: 'attach' });
      expect(back.reqCons).to.equal(0xfffffff0);
      front.pushRequest({ operation: 0, id: 1n });
      front.pushRequestsAndCheckNotify();
      expect(serve(back)).to.deep.equal([1n]);
    });
  });
});
