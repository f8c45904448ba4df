import { expect } from 'chai';
import {
  blkifAccounting,
  blkifParseErrorMessage,
  BlkifOp,
  BlkifParsedRequest,
  BlkifRequest,
  decodeBlkifRequest,
  parseBlkifRequest,
  X86_64_LAYOUT,
  type BlkifDisk,
} from '../src/index.js';
import { encodeBlkifRequest, type FrontRequest, type FrontSegment } from '../src/testing/index.js';

const MiB = 1024 * 1024;
const disk: BlkifDisk = { length: MiB, sectorSize: 512, readOnly: false };

function request(r: Omit<FrontRequest, 'id'> & { id?: bigint }): BlkifRequest {
  const view = new DataView(new ArrayBuffer(112));
  encodeBlkifRequest(view, 0, X86_64_LAYOUT, { id: 1n, ...r });
  const req = new BlkifRequest();
  decodeBlkifRequest(view, 0, X86_64_LAYOUT, req);
  return req;
}

function parse(r: Omit<FrontRequest, 'id'>, d: Partial<BlkifDisk> = {}): BlkifParsedRequest | string {
  return parseBlkifRequest(request(r), { ...disk, ...d }, new BlkifParsedRequest());
}

const seg = (firstSect: number, lastSect: number, gref = 8): FrontSegment => ({ gref, firstSect, lastSect });
const full = (n: number): FrontSegment[] => Array.from({ length: n }, () => seg(0, 7));

describe('xen-block ring: request parsing (qemu-behaviour.md §4.6)', () => {
  it('ops: READ, WRITE, FLUSH_DISKCACHE, DISCARD accepted; anything else is "unknown operation"', () => {
    for (const op of [BlkifOp.WRITE_BARRIER, BlkifOp.RESERVED_1, BlkifOp.INDIRECT, 7, 99, 255]) {
      expect(parse({ operation: op, segments: full(1) }), String(op)).to.equal('unknown-operation');
    }
    expect(parse({ operation: BlkifOp.READ, segments: full(1) })).to.be.instanceOf(BlkifParsedRequest);
    expect(parse({ operation: BlkifOp.WRITE, segments: full(1) })).to.be.instanceOf(BlkifParsedRequest);
    expect(blkifParseErrorMessage['unknown-operation']).to.equal('unknown operation');
  });

  it('a valid read: byte start, total size, per-segment page offsets and lengths', () => {
    const p = parse({ operation: BlkifOp.READ, sector: 10, segments: [seg(0, 7), seg(3, 5), seg(7, 7)] });
    expect(p).to.be.instanceOf(BlkifParsedRequest);
    const r = p as BlkifParsedRequest;
    expect(r.action).to.equal('read');
    expect(r.presync).to.equal(false);
    expect(r.start).to.equal(5120);
    expect(r.size).to.equal(4096 + 1536 + 512);
    expect(r.segmentCount).to.equal(3);
    expect([...r.segmentOffset.subarray(0, 3)]).to.deep.equal([0, 1536, 3584]);
    expect([...r.segmentLength.subarray(0, 3)]).to.deep.equal([4096, 1536, 512]);
  });

  it('FLUSH_DISKCACHE: presync; with no segments a pure flush (no further checks, even read-only)', () => {
    const p = parse({ operation: BlkifOp.FLUSH_DISKCACHE, sector: 2n ** 60n }, { readOnly: true });
    expect(p).to.deep.include({ action: 'flush', presync: true, size: 0, segmentCount: 0 });
    const w = parse({
      operation: BlkifOp.FLUSH_DISKCACHE,
      sector: 8,
      segments: full(2),
    }) as BlkifParsedRequest;
    expect(w).to.deep.include({ action: 'flush', presync: true, start: 4096, size: 8192, segmentCount: 2 });
  });

  it('a non-read on a read-only disk: "write req for ro device" (WRITE even with 0 segments; FLUSH with segments)', () => {
    expect(parse({ operation: BlkifOp.WRITE, segments: full(1) }, { readOnly: true })).to.equal('read-only');
    expect(parse({ operation: BlkifOp.WRITE }, { readOnly: true })).to.equal('read-only');
    expect(parse({ operation: BlkifOp.FLUSH_DISKCACHE, segments: full(1) }, { readOnly: true })).to.equal(
      'read-only',
    );
    expect(parse({ operation: BlkifOp.READ, segments: full(1) }, { readOnly: true })).to.be.instanceOf(
      BlkifParsedRequest,
    );
    // Read-only is checked before anything about segments.
    expect(parse({ operation: BlkifOp.WRITE, nrSegments: 40 }, { readOnly: true })).to.equal('read-only');
  });

  it('a WRITE without segments is valid and empty', () => {
    expect(parse({ operation: BlkifOp.WRITE, sector: 2048 })).to.deep.include({ action: 'write', size: 0 });
  });

  it('start (sector_number * 512) must be aligned to sector-size', () => {
    const d = { sectorSize: 4096 };
    expect(parse({ operation: BlkifOp.READ, sector: 1, segments: full(1) }, d)).to.equal('misaligned-sector');
    expect(parse({ operation: BlkifOp.READ, sector: 12, segments: full(1) }, d)).to.equal(
      'misaligned-sector',
    );
    expect(parse({ operation: BlkifOp.READ, sector: 16, segments: full(1) }, d)).to.deep.include({
      start: 8192,
    });
    // Checked before the segments.
    expect(parse({ operation: BlkifOp.READ, sector: 1, segments: [seg(5, 1)] }, d)).to.equal(
      'misaligned-sector',
    );
  });

  it('nr_segments > 11: "nr_segments too big", found when the loop reaches the 12th', () => {
    expect(parse({ operation: BlkifOp.READ, nrSegments: 12, segments: full(11) })).to.equal(
      'too-many-segments',
    );
    expect(parse({ operation: BlkifOp.READ, nrSegments: 255, segments: full(11) })).to.equal(
      'too-many-segments',
    );
    expect(parse({ operation: BlkifOp.READ, segments: full(11) })).to.deep.include({ size: 11 * 4096 });
    // An earlier bad segment is reported first, as in QEMU's loop.
    const segs = full(11);
    segs[4] = seg(6, 2);
    expect(parse({ operation: BlkifOp.READ, nrSegments: 12, segments: segs })).to.equal('first-after-last');
  });

  it('first_sect > last_sect: "first > last sector"', () => {
    expect(parse({ operation: BlkifOp.WRITE, segments: [seg(0, 7), seg(4, 3)] })).to.equal(
      'first-after-last',
    );
  });

  it('last_sect * 512 >= 4096: "page crossing"', () => {
    expect(parse({ operation: BlkifOp.READ, segments: [seg(0, 8)] })).to.equal('page-crossing');
    expect(parse({ operation: BlkifOp.READ, segments: [seg(8, 8)] })).to.equal('page-crossing');
    expect(parse({ operation: BlkifOp.READ, segments: [seg(200, 255)] })).to.equal('page-crossing');
    expect(parse({ operation: BlkifOp.READ, segments: [seg(7, 7)] })).to.deep.include({ size: 512 });
  });

  it('first_sect not aligned to sector-size / 512, and segment lengths not a multiple of sector-size', () => {
    const d = { sectorSize: 1024 };
    expect(parse({ operation: BlkifOp.READ, segments: [seg(1, 2)] }, d)).to.equal('misaligned-first-sect');
    expect(parse({ operation: BlkifOp.READ, segments: [seg(2, 2)] }, d)).to.equal('misaligned-segment-size');
    expect(parse({ operation: BlkifOp.READ, segments: [seg(2, 5)] }, d)).to.deep.include({ size: 2048 });
    const d4k = { sectorSize: 4096 };
    expect(parse({ operation: BlkifOp.READ, segments: [seg(0, 6)] }, d4k)).to.equal(
      'misaligned-segment-size',
    );
    expect(parse({ operation: BlkifOp.READ, segments: [seg(4, 7)] }, d4k)).to.equal('misaligned-first-sect');
    expect(parse({ operation: BlkifOp.READ, segments: [seg(0, 7)] }, d4k)).to.deep.include({ size: 4096 });
  });

  it('start + size > disk length: "access beyond end of file"', () => {
    expect(parse({ operation: BlkifOp.READ, sector: 2047, segments: [seg(0, 0)] })).to.deep.include({
      start: MiB - 512,
    });
    expect(parse({ operation: BlkifOp.READ, sector: 2047, segments: [seg(0, 1)] })).to.equal('beyond-end');
    expect(parse({ operation: BlkifOp.READ, sector: 2048 })).to.deep.include({ start: MiB, size: 0 });
    expect(parse({ operation: BlkifOp.READ, sector: 2049 })).to.equal('beyond-end');
  });

  it('huge sector numbers are beyond the end, never wrapped around 2^64 into range', () => {
    // 2^55 * 512 = 2^64: a C off_t product wraps to 0.
    for (const sector of [2n ** 55n, 2n ** 64n - 1n, 2n ** 52n, 2n ** 53n + 8n]) {
      expect(parse({ operation: BlkifOp.READ, sector, segments: full(1) }), String(sector)).to.equal(
        'beyond-end',
      );
    }
  });

  it('DISCARD: no read-only or segment checks; wrap or > INT64_MAX/512 is an error', () => {
    const ok = parse(
      { operation: BlkifOp.DISCARD, sector: 16, nrSectors: 8, flag: 1 },
      { readOnly: true },
    ) as BlkifParsedRequest;
    expect(ok).to.deep.include({
      action: 'discard',
      discardOffset: 8192n,
      discardBytes: 4096n,
      discardSecure: true,
    });
    const limit = (2n ** 63n - 1n) / 512n; // 2^54 - 1
    expect(parse({ operation: BlkifOp.DISCARD, sector: limit, nrSectors: 0 })).to.deep.include({
      discardOffset: limit * 512n,
    });
    expect(parse({ operation: BlkifOp.DISCARD, sector: limit, nrSectors: 1 })).to.equal('discard-range');
    expect(parse({ operation: BlkifOp.DISCARD, sector: 2n ** 64n - 1n, nrSectors: 2 })).to.equal(
      'discard-range',
    );
    expect(parse({ operation: BlkifOp.DISCARD, sector: 0, nrSectors: 2n ** 64n - 1n })).to.equal(
      'discard-range',
    );
    expect(parse({ operation: BlkifOp.DISCARD, sector: 0, nrSectors: 2n ** 40n })).to.deep.include({
      discardBytes: 2n ** 49n,
      discardSecure: false,
    });
  });

  it('accounting class of an operation (block_acct_invalid on parse errors)', () => {
    expect(blkifAccounting(BlkifOp.READ)).to.equal('read');
    expect(blkifAccounting(BlkifOp.WRITE)).to.equal('write');
    expect(blkifAccounting(BlkifOp.FLUSH_DISKCACHE)).to.equal('flush');
    expect(blkifAccounting(BlkifOp.DISCARD)).to.equal(undefined);
    expect(blkifAccounting(99)).to.equal(undefined);
  });

  it('the parsed struct is reused: a failing parse after a good one does not leak old fields into a later success', () => {
    const out = new BlkifParsedRequest();
    const good = parseBlkifRequest(
      request({ operation: BlkifOp.READ, sector: 8, segments: full(3) }),
      disk,
      out,
    );
    expect(good).to.equal(out);
    expect(parseBlkifRequest(request({ operation: BlkifOp.FLUSH_DISKCACHE }), disk, out)).to.equal(out);
    expect(out).to.deep.include({ action: 'flush', start: 0, size: 0, segmentCount: 0 });
  });
});
