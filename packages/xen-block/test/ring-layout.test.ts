import { expect } from 'chai';
import {
  BackRing,
  BlkifOp,
  BlkifRequest,
  BlkifStatus,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  blkifLayout,
  constRingSize,
  parseBlkifProtocol,
  ringSizeForOrder,
  slotOffset,
  X86_32_LAYOUT,
  X86_64_LAYOUT,
  type BlkifProtocol,
} from '../src/index.js';
import { FrontRing } from '../src/testing/index.js';

const PROTOCOLS: readonly BlkifProtocol[] = ['native', 'x86_32-abi', 'x86_64-abi'];

describe('xen-block ring: constants and layouts (abi.md §1)', () => {
  it('§1.1 constants: ops, statuses, segment limit', () => {
    expect(BlkifOp).to.deep.include({
      READ: 0,
      WRITE: 1,
      WRITE_BARRIER: 2,
      FLUSH_DISKCACHE: 3,
      DISCARD: 5,
      INDIRECT: 6,
    });
    expect(BlkifStatus).to.deep.equal({ OKAY: 0, ERROR: -1, EOPNOTSUPP: -2 });
    expect(BLKIF_MAX_SEGMENTS_PER_REQUEST).to.equal(11);
  });

  it('§1.2 struct sizes and field offsets: x86_64 (and native) vs x86_32', () => {
    expect(X86_64_LAYOUT).to.deep.include({
      requestSize: 112,
      responseSize: 16,
      idOffset: 8,
      sectorOffset: 16,
      segmentsOffset: 24,
      discardNrSectorsOffset: 24,
      indirectHandleOffset: 24,
      indirectGrefsOffset: 28,
    });
    expect(X86_32_LAYOUT).to.deep.include({
      requestSize: 108,
      responseSize: 12,
      idOffset: 4,
      sectorOffset: 12,
      segmentsOffset: 20,
      discardNrSectorsOffset: 20,
      indirectHandleOffset: 20,
      indirectGrefsOffset: 24,
    });
    // seg[11] ends exactly at the end of the request.
    for (const l of [X86_32_LAYOUT, X86_64_LAYOUT]) expect(l.segmentsOffset + 11 * 8).to.equal(l.requestSize);
    expect(blkifLayout('native')).to.equal(X86_64_LAYOUT);
    expect(blkifLayout('x86_64-abi')).to.equal(X86_64_LAYOUT);
    expect(blkifLayout('x86_32-abi')).to.equal(X86_32_LAYOUT);
  });

  it('§1.2 a request written by the frontend lands at the documented byte offsets', () => {
    for (const [protocol, idAt, sectorAt, segAt] of [
      ['x86_32-abi', 4, 12, 20],
      ['x86_64-abi', 8, 16, 24],
      ['native', 8, 16, 24],
    ] as const) {
      const bytes = new Uint8Array(4096);
      const front = new FrontRing(bytes, protocol);
      front.pushRequest({
        operation: BlkifOp.WRITE,
        id: 0x0102030405060708n,
        sector: 0x1112131415161718n,
        handle: 0xabcd,
        segments: [{ gref: 0x21222324, firstSect: 3, lastSect: 6 }],
      });
      const dv = new DataView(bytes.buffer);
      expect(dv.getUint8(64), protocol).to.equal(1);
      expect(dv.getUint8(65)).to.equal(1);
      expect(dv.getUint16(66, true)).to.equal(0xabcd);
      expect(dv.getBigUint64(64 + idAt, true)).to.equal(0x0102030405060708n);
      expect(dv.getBigUint64(64 + sectorAt, true)).to.equal(0x1112131415161718n);
      expect(dv.getUint32(64 + segAt, true)).to.equal(0x21222324);
      expect(dv.getUint8(64 + segAt + 4)).to.equal(3);
      expect(dv.getUint8(64 + segAt + 5)).to.equal(6);
    }
  });

  it('§1.2 discard nr_sectors is read at 20 (x86_32) / 24 (x86_64), flag where nr_segments is', () => {
    for (const [protocol, at] of [
      ['x86_32-abi', 20],
      ['x86_64-abi', 24],
      ['native', 24],
    ] as const) {
      const bytes = new Uint8Array(4096);
      const dv = new DataView(bytes.buffer);
      dv.setUint8(64, BlkifOp.DISCARD);
      dv.setUint8(65, 1);
      dv.setBigUint64(64 + at, 0xfedcba9876543210n, true);
      dv.setUint32(0, 1, true); // req_prod = 1
      const back = new BackRing(bytes, protocol);
      const req = new BlkifRequest();
      back.beginPass();
      expect(back.takeRequest(req)).to.equal(true);
      expect(req.nrSectors, protocol).to.equal(0xfedcba9876543210n);
      expect(req.discardFlag).to.equal(1);
      expect(req.copiedSegments).to.equal(0);
    }
  });

  it('§1.4 __CONST_RING_SIZE: 32/64/128/256/512 slots for 1/2/4/8/16 pages in every ABI', () => {
    for (const p of PROTOCOLS) {
      expect(
        [0, 1, 2, 3, 4].map((o) => ringSizeForOrder(p, o)),
        p,
      ).to.deep.equal([32, 64, 128, 256, 512]);
    }
    // The raw quotients before rounding down to a power of two differ per ABI.
    expect(Math.floor((4096 - 64) / 112)).to.equal(36);
    expect(Math.floor((4096 - 64) / 108)).to.equal(37);
    expect(constRingSize(X86_64_LAYOUT, 65536)).to.equal(512);
    expect(constRingSize(X86_32_LAYOUT, 63)).to.equal(0);
    expect(() => ringSizeForOrder('native', 5)).to.throw(RangeError);
    expect(() => ringSizeForOrder('native', -1)).to.throw(RangeError);
  });

  it('§1.3 slots straddle pages: x86_32 2-page slot 37 is bytes 4060..4167; x86_64 2-page slot 36 starts at 4096', () => {
    expect(slotOffset(X86_32_LAYOUT, 64, 37)).to.equal(4060);
    expect(slotOffset(X86_32_LAYOUT, 64, 37) + 108).to.equal(4168);
    expect(slotOffset(X86_64_LAYOUT, 64, 36)).to.equal(4096);
    // A 4-page x86_64 ring straddles: the slot containing byte 8192 starts before it.
    const straddling = [...Array(128).keys()].filter((i) => {
      const at = slotOffset(X86_64_LAYOUT, 128, i);
      return Math.floor(at / 4096) !== Math.floor((at + 111) / 4096);
    });
    expect(straddling.length).to.be.greaterThan(0);
    // Free-running indexes are masked only for addressing.
    expect(slotOffset(X86_32_LAYOUT, 64, 0xffffffff)).to.equal(64 + 63 * 108);
  });

  it('protocol key: absent = native, the two x86 names, anything else refused', () => {
    expect(parseBlkifProtocol(undefined)).to.equal('native');
    expect(parseBlkifProtocol('x86_32-abi')).to.equal('x86_32-abi');
    expect(parseBlkifProtocol('x86_64-abi')).to.equal('x86_64-abi');
    expect(parseBlkifProtocol('arm-abi')).to.equal(undefined);
    expect(parseBlkifProtocol('')).to.equal(undefined);
    expect(parseBlkifProtocol('native')).to.equal(undefined);
    expect(parseBlkifProtocol('x86_32-abi ')).to.equal(undefined);
  });

  it('a ring area must be 1, 2, 4, 8 or 16 whole pages', () => {
    for (const n of [0, 100, 4095, 3 * 4096, 32 * 4096]) {
      expect(() => new BackRing(new Uint8Array(n), 'native'), String(n)).to.throw(RangeError);
    }
    for (const pages of [1, 2, 4, 8, 16]) {
      expect(new BackRing(new Uint8Array(pages * 4096), 'x86_32-abi').size).to.equal(32 * pages);
    }
  });
});
