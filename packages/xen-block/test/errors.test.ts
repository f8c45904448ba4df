import { expect } from 'chai';
import { BlkifOp, BlkifStatus } from '../src/index.js';
import type { BlkfrontRequest, DataPage } from '../src/testing/index.js';
import { acct, BlockAcctType, connected, same, type Connected } from './helpers/connect.js';
import { MiB } from './helpers/rig.js';

const { READ, WRITE, FLUSH_DISKCACHE: FLUSH, DISCARD } = BlkifOp;
const seg = (
  gref: number,
  firstSect = 0,
  lastSect = 7,
): { gref: number; firstSect: number; lastSect: number } => ({
  gref,
  firstSect,
  lastSect,
});

type Acct = 'read' | 'write' | 'flush' | null;

interface Case {
  readonly name: string;
  /** Builds the request from a writable page and a read-only page the frontend granted. */
  readonly req: (rw: DataPage, ro: DataPage) => BlkfrontRequest;
  /** The type whose invalid counter goes up (QEMU block_acct_invalid), or none. */
  readonly invalid: Acct;
}

const TYPES = { read: BlockAcctType.READ, write: BlockAcctType.WRITE, flush: BlockAcctType.FLUSH } as const;

/** Runs every case on one connection; each must be answered ERROR, echo id and op, and touch nothing. */
async function expectRefused(c: Connected, cases: readonly Case[]): Promise<void> {
  const { rig, dev, front, initial } = c;
  const stats = dev.blk!.stats;
  const rw = front.allocDataPage(false);
  const ro = front.allocDataPage(true);
  const fill = new Uint8Array(4096).fill(0x5c);
  rig.guest.memory.write(rw.gpa, fill);
  rig.guest.memory.write(ro.gpa, fill);
  const snapshot = (): object =>
    Object.fromEntries(Object.entries(TYPES).map(([k, t]) => [k, { ...acct(stats, t) }] as const));
  let id = 0x7000_0000_0000_0000n;
  for (const c of cases) {
    const before = snapshot() as Record<keyof typeof TYPES, ReturnType<typeof acct>>;
    const req = c.req(rw, ro);
    const rsp = await front.submit({ ...req, id: ++id });
    expect(rsp, c.name).to.deep.equal({ id, operation: req.operation, status: BlkifStatus.ERROR });
    const after = snapshot() as Record<keyof typeof TYPES, ReturnType<typeof acct>>;
    for (const k of Object.keys(TYPES) as (keyof typeof TYPES)[]) {
      const want = { ...before[k], invalid: before[k].invalid + (c.invalid === k ? 1 : 0) };
      expect(after[k], `${c.name}: ${k} accounting`).to.deep.equal(want);
    }
    expect(same(front.readDataPage(rw), fill), `${c.name}: writable page`).to.equal(true);
    expect(same(front.readDataPage(ro), fill), `${c.name}: read-only page`).to.equal(true);
  }
  const len = initial.length;
  expect(same(await rig.readDisk('disk0', 0, len), initial), 'disk untouched').to.equal(true);
  front.freeDataPage(rw);
  front.freeDataPage(ro);
}

describe('xen-block dataplane: parse errors (qemu-behaviour §4.6) and hostile rings', () => {
  it('512-byte sectors: each bad request is answered ERROR with id and op echoed, nothing touched, invalid accounted', async () => {
    const c = await connected();
    const last = 2048; // sectors on the 1 MiB disk
    await expectRefused(c, [
      { name: 'unknown op 2', req: () => ({ operation: BlkifOp.WRITE_BARRIER }), invalid: null },
      {
        name: 'unknown op 6',
        req: (rw) => ({ operation: BlkifOp.INDIRECT, segments: [seg(rw.gref)] }),
        invalid: null,
      },
      { name: 'unknown op 200', req: () => ({ operation: 200 }), invalid: null },
      {
        name: 'nr_segments 12',
        req: (rw) => ({
          operation: READ,
          nrSegments: 12,
          segments: Array.from({ length: 11 }, () => seg(rw.gref, 0, 0)),
        }),
        invalid: 'read',
      },
      {
        name: 'nr_segments 255',
        req: (_rw, ro) => ({ operation: WRITE, nrSegments: 255, segments: [seg(ro.gref)] }),
        invalid: 'write',
      },
      {
        name: 'first > last',
        req: (rw) => ({ operation: READ, segments: [seg(rw.gref, 3, 2)] }),
        invalid: 'read',
      },
      {
        name: 'good segment then first > last',
        req: (rw) => ({ operation: READ, segments: [seg(rw.gref), seg(rw.gref, 5, 4)] }),
        invalid: 'read',
      },
      {
        name: 'last_sect 8 (page crossing)',
        req: (_rw, ro) => ({ operation: WRITE, segments: [seg(ro.gref, 0, 8)] }),
        invalid: 'write',
      },
      {
        name: 'last_sect 255',
        req: (rw) => ({ operation: READ, segments: [seg(rw.gref, 255, 255)] }),
        invalid: 'read',
      },
      {
        name: 'beyond the end by one sector',
        req: (rw) => ({ operation: READ, sector: last - 1, segments: [seg(rw.gref, 0, 1)] }),
        invalid: 'read',
      },
      {
        name: 'sector 2^63',
        req: (rw) => ({ operation: READ, sector: 2n ** 63n, segments: [seg(rw.gref)] }),
        invalid: 'read',
      },
      {
        name: 'sector 2^64-1 (no wrap into range)',
        req: (_rw, ro) => ({ operation: WRITE, sector: 2n ** 64n - 1n, segments: [seg(ro.gref, 0, 0)] }),
        invalid: 'write',
      },
      {
        name: 'flush with data beyond the end',
        req: (_rw, ro) => ({ operation: FLUSH, sector: last, segments: [seg(ro.gref, 0, 0)] }),
        invalid: 'flush',
      },
      {
        name: 'write of 0 segments beyond the end',
        req: () => ({ operation: WRITE, sector: last + 1 }),
        invalid: 'write',
      },
      {
        name: 'discard wrapping 2^64',
        req: () => ({ operation: DISCARD, sector: 2n ** 64n - 8n, nrSectors: 16n }),
        invalid: null,
      },
      {
        name: 'discard above INT64_MAX/512',
        req: () => ({ operation: DISCARD, sector: 2n ** 53n, nrSectors: 2n ** 53n }),
        invalid: null,
      },
    ]);
    await c.front.close();
    await c.rig.destroy();
  });

  it('read-only device: writes and flushes with data are refused (invalid); a pure flush and reads still work', async () => {
    const c = await connected({ device: { readonly: true } });
    await expectRefused(c, [
      { name: 'write', req: (_rw, ro) => ({ operation: WRITE, segments: [seg(ro.gref)] }), invalid: 'write' },
      { name: 'write of 0 segments', req: () => ({ operation: WRITE }), invalid: 'write' },
      {
        name: 'flush with data',
        req: (_rw, ro) => ({ operation: FLUSH, segments: [seg(ro.gref)] }),
        invalid: 'flush',
      },
    ]);
    await c.front.flush();
    expect(same(await c.front.read(0, 8), c.initial.subarray(0, 4096))).to.equal(true);
    await c.front.close();
    await c.rig.destroy();
  });

  it('4096-byte sectors: sector_number and first_sect misaligned are refused', async () => {
    const c = await connected({
      device: { 'logical-block-size': 4096 },
      front: { extraKeys: { 'feature-large-sector-size': '1' } },
    });
    await expectRefused(c, [
      {
        name: 'sector 1',
        req: (rw) => ({ operation: READ, sector: 1, segments: [seg(rw.gref)] }),
        invalid: 'read',
      },
      {
        name: 'sector 4',
        req: (_rw, ro) => ({ operation: WRITE, sector: 4, segments: [seg(ro.gref)] }),
        invalid: 'write',
      },
      {
        name: 'first_sect 1',
        req: (rw) => ({ operation: READ, sector: 8, segments: [seg(rw.gref, 1, 7)] }),
        invalid: 'read',
      },
      {
        name: 'a half page',
        req: (_rw, ro) => ({ operation: FLUSH, sector: 8, segments: [seg(ro.gref, 0, 3)] }),
        invalid: 'flush',
      },
    ]);
    // Aligned requests are fine.
    expect(same(await c.front.read(16, 8), c.initial.subarray(16 * 512, 24 * 512))).to.equal(true);
    await c.front.close();
    await c.rig.destroy();
  });

  it('1024-byte sectors: a segment length that is not a multiple of the sector size is refused', async () => {
    const c = await connected({
      device: { 'logical-block-size': 1024 },
      front: { extraKeys: { 'feature-large-sector-size': '1' } },
    });
    await expectRefused(c, [
      {
        name: '3 sectors',
        req: (rw) => ({ operation: READ, sector: 2, segments: [seg(rw.gref, 0, 2)] }),
        invalid: 'read',
      },
      {
        name: 'first_sect 1',
        req: (rw) => ({ operation: READ, sector: 2, segments: [seg(rw.gref, 1, 2)] }),
        invalid: 'read',
      },
    ]);
    expect(same(await c.front.read(2, 2), c.initial.subarray(1024, 2048))).to.equal(true);
    await c.front.close();
    await c.rig.destroy();
  });

  it('a frontend that publishes more than ring-size requests: at most ring-size are taken and in flight, each answered once', async () => {
    const c = await connected({ diskSize: MiB });
    const { rig, front } = c;
    await rig.machine.blockdevAdd({ driver: 'null-co', nodeName: 'slow', size: MiB, latencyNs: 1000 });
    await rig.machine.deviceDel('xvda');
    front.teardown();
    const slow = await rig.addDevice({ drive: 'slow' });
    const f = rig.frontend();
    await f.connect();
    f.responseHook = () => undefined;
    const ring = f.ring!;
    const base = ring.reqProdPvt;
    const size = ring.size;
    // 40 reads into 32 slots: the last 8 overwrite the first 8. (Reads, not flushes: flushes of
    // one node run one at a time.)
    const page = f.allocDataPage(false);
    for (let i = 0; i < size + 8; i++) {
      ring.writeRequest(base + i, { operation: READ, id: BigInt(i), segments: [seg(page.gref)] });
    }
    ring.sring.reqProd = (base + size + 8) >>> 0;
    f.notify();
    await rig.settle();
    expect(slow.dataplane!.requestsInflight).to.equal(size);
    expect(ring.sring.rspProd).to.equal(base);
    await rig.clock.advance(1000);
    await rig.settle();
    await rig.clock.advance(1000);
    await rig.settle();
    expect(slow.dataplane!.requestsInflight).to.equal(0);
    expect(slow.dataplane!.requestsTotal).to.be.at.most(size);
    // Every request taken was answered exactly once: 40 responses.
    expect((ring.sring.rspProd - base) >>> 0).to.equal(size + 8);
    // The frontend resynchronises and carries on.
    ring.reqProdPvt = ring.rspCons = ring.sring.rspProd;
    f.responseHook = null;
    ring.sring.rspEvent = (ring.rspCons + 1) >>> 0;
    const p = f.submit({ operation: FLUSH });
    await rig.settle();
    await rig.clock.advance(1000);
    expect((await p).status).to.equal(BlkifStatus.OKAY);
    await f.close();
    await rig.destroy();
  });

  it('req_prod far ahead or behind: bounded passes, host unharmed, and a close still completes', async () => {
    for (const delta of [2 ** 31, -5]) {
      const c = await connected();
      const { rig, dev, front } = c;
      front.responseHook = () => undefined;
      const ring = front.ring!;
      const base = ring.reqProdPvt;
      ring.sring.reqProd = (base + delta) >>> 0;
      front.notify();
      // Twenty turns of the main loop (the work never ends by itself: each completion finds more).
      for (let i = 0; i < 20; i++) {
        rig.machine.mainContext.poll();
        expect(dev.dataplane!.requestsTotal).to.be.at.most(ring.size);
      }
      // Zeroed slots read as 0-segment READs of sector 0: answered OKAY, round after round.
      expect((ring.sring.rspProd - base) >>> 0).to.be.greaterThan(ring.size);
      await front.close();
      expect(dev.dataplane!.started).to.equal(false);
      await rig.destroy();
    }
  });
});
