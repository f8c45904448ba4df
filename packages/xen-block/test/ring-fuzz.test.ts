import { expect } from 'chai';
import fc from 'fast-check';
import {
  BackRing,
  BlkifParsedRequest,
  BlkifRequest,
  BlkifStatus,
  blkifParseErrorMessage,
  parseBlkifRequest,
  SharedRingIndexes,
  SRING_HEADER_SIZE,
  type BlkifProtocol,
} from '../src/index.js';
import { FrontRing } from '../src/testing/index.js';

const GUARD = 4096;

interface Case {
  protocol: BlkifProtocol;
  order: number;
  start: number;
  seed: number;
  reqProdDelta: number;
  rspEvent: number;
  structured: { op: number; nr: number; sector: bigint; nrSectors: bigint; first: number; last: number }[];
  sectorSize: number;
  length: number;
  readOnly: boolean;
  passes: number;
}

/** xorshift32: deterministic garbage. */
function fillGarbage(bytes: Uint8Array, seed: number): void {
  let x = seed | 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
}

/** Runs the backend over the case with the given guard byte around the area; returns a transcript. */
function run(c: Case, guardByte: number): { transcript: string[]; outer: Uint8Array; area: Uint8Array } {
  const pages = 1 << c.order;
  const outer = new Uint8Array(GUARD + pages * 4096 + GUARD).fill(guardByte);
  const area = outer.subarray(GUARD, GUARD + pages * 4096);
  fillGarbage(area, c.seed);
  // Some well-formed-looking requests at the first slots, over the garbage.
  const front = new FrontRing(area, c.protocol, { init: false, start: c.start });
  c.structured.forEach((s, i) =>
    front.writeRequest(c.start + i, {
      operation: s.op,
      id: BigInt(i) << 50n,
      sector: s.sector,
      nrSegments: s.nr,
      segments: Array.from({ length: Math.min(s.nr, 11) }, () => ({
        gref: 9,
        firstSect: s.first,
        lastSect: s.last,
      })),
      nrSectors: s.nrSectors,
      flag: s.nr,
    }),
  );
  const sring = new SharedRingIndexes(area);
  sring.reqProd = (c.start + c.reqProdDelta) >>> 0;
  sring.rspProd = c.start;
  sring.rspEvent = c.rspEvent;

  const back = new BackRing(area, c.protocol, { start: c.start });
  const req = new BlkifRequest();
  const parsed = new BlkifParsedRequest();
  const disk = { length: c.length, sectorSize: c.sectorSize, readOnly: c.readOnly };
  const transcript: string[] = [];
  for (let pass = 0; pass < c.passes; pass++) {
    const budget = back.beginPass();
    expect(budget).to.be.at.most(back.size);
    let taken = 0;
    while (back.takeRequest(req)) {
      taken++;
      const r = parseBlkifRequest(req, disk, parsed);
      if (typeof r === 'string') {
        expect(blkifParseErrorMessage).to.have.property(r);
      } else {
        expect(r).to.equal(parsed);
        expect(r.size).to.be.at.most(11 * 4096);
        if (r.action !== 'discard' && !(r.action === 'flush' && r.segmentCount === 0)) {
          expect(r.start + r.size).to.be.at.most(c.length);
        }
      }
      transcript.push(`${req.id}:${req.operation}:${typeof r === 'string' ? r : r.action}`);
      // Answer every other request at once, the rest at the end of the pass.
      if (taken % 2 === 1) back.respond(req, typeof r === 'string' ? BlkifStatus.ERROR : BlkifStatus.OKAY);
    }
    expect(taken).to.be.at.most(budget);
    while (back.inFlight > 0) back.pushResponse(1, 2, 3, BlkifStatus.OKAY);
    transcript.push(`notify:${back.pushResponsesAndCheckNotify()}`, `more:${back.checkForMoreRequests()}`);
  }
  return { transcript, outer, area };
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  protocol: fc.constantFrom<BlkifProtocol>('native', 'x86_32-abi', 'x86_64-abi'),
  order: fc.integer({ min: 0, max: 4 }),
  start: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffffff00, max: 0xffffffff })),
  seed: fc.integer(),
  reqProdDelta: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 0xffffffff })),
  rspEvent: fc.integer({ min: 0, max: 0xffffffff }),
  structured: fc.array(
    fc.record({
      op: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 255 })),
      nr: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 255 })),
      sector: fc.oneof(fc.bigInt({ min: 0n, max: 4096n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      nrSectors: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      first: fc.integer({ min: 0, max: 9 }),
      last: fc.integer({ min: 0, max: 9 }),
    }),
    { maxLength: 12 },
  ),
  sectorSize: fc.constantFrom(512, 1024, 4096),
  length: fc.oneof(fc.integer({ min: 0, max: 1 << 22 }), fc.constant(2 ** 53 - 1)),
  readOnly: fc.boolean(),
  passes: fc.integer({ min: 1, max: 3 }),
});

describe('xen-block ring: hostile ring contents (fast-check)', () => {
  it('BackRing never throws, stays inside the ring area, and every parse succeeds or names a reason', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const a = run(c, 0x00);
        const b = run(c, 0xff);
        // Nothing outside the area influenced the backend...
        expect(b.transcript).to.deep.equal(a.transcript);
        expect(b.area).to.deep.equal(a.area);
        // ...or was written by it.
        for (const [{ outer }, g] of [
          [a, 0x00],
          [b, 0xff],
        ] as const) {
          const pages = 1 << c.order;
          expect(outer.subarray(0, GUARD).every((x) => x === g)).to.equal(true);
          expect(outer.subarray(GUARD + pages * 4096).every((x) => x === g)).to.equal(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the backend writes only rsp_prod, req_event and response fields inside the slots', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const pages = 1 << c.order;
        const before = new Uint8Array(pages * 4096);
        fillGarbage(before, c.seed);
        const { area } = run(c, 0);
        const ring = new BackRing(area, c.protocol);
        const slotsEnd = SRING_HEADER_SIZE + ring.size * ring.layout.requestSize;
        // req_prod and rsp_event (frontend-owned) and the pad are as the frontend left them.
        const dvA = new DataView(area.buffer, area.byteOffset);
        expect(dvA.getUint32(0, true)).to.equal((c.start + c.reqProdDelta) >>> 0);
        expect(dvA.getUint32(12, true)).to.equal(c.rspEvent);
        expect(area.subarray(16, 64)).to.deep.equal(before.subarray(16, 64));
        expect(area.subarray(slotsEnd)).to.deep.equal(before.subarray(slotsEnd));
      }),
      { numRuns: 60 },
    );
  });
});
