import { AioContext, VirtualClock } from '@vmkit/core';
import { GntStatus, InProcessXen, XenbusState, type XenGuestDomain } from '@vmkit/xen-bus';
import { expect } from 'chai';
import { BlkifOp, BlkifStatus, X86_32_LAYOUT } from '../src/index.js';
import {
  Blkfront,
  ReferenceBlkback,
  waitForWatch,
  type BlkfrontOptions,
  type ReferenceBlkbackOptions,
} from '../src/testing/index.js';

const MiB = 1024 * 1024;

function rig(
  front: BlkfrontOptions = {},
  back: Partial<Omit<ReferenceBlkbackOptions, 'xen' | 'context' | 'frontendId'>> = {},
): {
  xen: InProcessXen;
  ctx: AioContext;
  guest: XenGuestDomain;
  disk: Uint8Array;
  back: ReferenceBlkback;
  front: Blkfront;
} {
  const ctx = new AioContext({ name: 'xen', clock: new VirtualClock() });
  const xen = new InProcessXen({ context: ctx });
  const guest = xen.createDomain({ domid: 1, pages: 1024 });
  const disk = back.disk ?? new Uint8Array(MiB).map((_, i) => (i * 13) & 0xff);
  const b = new ReferenceBlkback({ xen, context: ctx, frontendId: 1, ...back, disk });
  b.realize();
  return { xen, ctx, guest, disk, back: b, front: new Blkfront(guest, front) };
}

/** Lets watch events and event-channel handlers run until nothing is pending. */
async function settle(xen: InProcessXen): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    if (xen.flush() === 0 && xen.pendingWatchEvents === 0) return;
  }
}

describe('xen-block testing: Blkfront raw and hostile requests', () => {
  it('unknown operations are answered BLKIF_RSP_ERROR with the operation echoed', async () => {
    const { front, back } = rig();
    await front.connect();
    for (const op of [BlkifOp.WRITE_BARRIER, BlkifOp.INDIRECT, 99]) {
      const rsp = await front.submit({ operation: op });
      expect(rsp).to.deep.include({ operation: op, status: BlkifStatus.ERROR });
    }
    expect(back.parseErrors).to.deep.equal(['unknown-operation', 'unknown-operation', 'unknown-operation']);
  });

  it('segment rules: 12 segments, first > last, page crossing', async () => {
    const { front, back } = rig();
    await front.connect();
    const page = front.allocDataPage(false);
    const seg = { gref: page.gref, firstSect: 0, lastSect: 7 };
    const bad = [
      { operation: BlkifOp.READ, nrSegments: 12, segments: Array.from({ length: 11 }, () => seg) },
      { operation: BlkifOp.READ, segments: [{ ...seg, firstSect: 5, lastSect: 4 }] },
      { operation: BlkifOp.READ, segments: [{ ...seg, lastSect: 8 }] },
    ];
    for (const r of bad) expect((await front.submit(r)).status).to.equal(BlkifStatus.ERROR);
    expect(back.parseErrors).to.deep.equal(['too-many-segments', 'first-after-last', 'page-crossing']);
    expect(front.freeDataPage(page)).to.equal(true);
  });

  it('grants: an ungranted ref and a read into a read-only grant fail; a write from a read-only grant works', async () => {
    const { front, back, disk } = rig();
    await front.connect();
    const ungranted = await front.submit({
      operation: BlkifOp.READ,
      segments: [{ gref: 4000, firstSect: 0, lastSect: 0 }],
    });
    expect(ungranted.status).to.equal(BlkifStatus.ERROR);
    const ro = front.allocDataPage(true, new Uint8Array(4096).fill(0x5a));
    const readIntoRo = await front.submit({
      operation: BlkifOp.READ,
      segments: [{ gref: ro.gref, firstSect: 0, lastSect: 0 }],
    });
    expect(readIntoRo.status).to.equal(BlkifStatus.ERROR);
    expect(front.readDataPage(ro)[0]).to.equal(0x5a); // untouched
    expect(back.copyErrors).to.deep.equal([GntStatus.generalError, GntStatus.generalError]);
    const write = await front.submit({
      operation: BlkifOp.WRITE,
      sector: 4,
      segments: [{ gref: ro.gref, firstSect: 2, lastSect: 3 }],
    });
    expect(write.status).to.equal(BlkifStatus.OKAY);
    expect(disk.subarray(2048, 3072).every((b) => b === 0x5a)).to.equal(true);
    expect(disk[2047]).to.not.equal(0x5a);
    front.freeDataPage(ro);
  });

  it('an unknown protocol key: the backend refuses to connect and stays in InitWait', async () => {
    const { front, back, xen } = rig({ protocolKey: 'arm-abi' });
    await front.initialise();
    await settle(xen);
    expect(back.backendState).to.equal(XenbusState.InitWait);
    expect(back.lastError).to.match(/unknown protocol 'arm-abi'/);
  });

  it('a forced ring-page-order above the backend maximum is refused', async () => {
    const { front, back, xen } = rig({ ringPageOrder: 3, forceRingPageOrder: true }, { maxRingPageOrder: 2 });
    await front.initialise();
    await settle(xen);
    expect(back.backendState).to.equal(XenbusState.InitWait);
    expect(back.lastError).to.match(/ring-page-order \(3\)/);
  });

  it('a garbage slot gets an ERROR response with its garbage id (unexpected for the driver)', async () => {
    const { front, xen } = rig({ protocol: 'x86_32-abi' });
    await front.connect();
    const ring = front.ring!;
    const raw = new Uint8Array(X86_32_LAYOUT.requestSize).fill(0xee);
    ring.writeSlotBytes(ring.reqProdPvt, raw);
    ring.reqProdPvt++;
    front.publish();
    await settle(xen);
    expect(front.unexpectedResponses).to.deep.equal([
      { id: 0xeeee_eeee_eeee_eeeen, operation: 0xee, status: BlkifStatus.ERROR },
    ]);
  });

  it('req_prod far ahead: the reference backend halts the ring (Linux behaviour) and answers nothing', async () => {
    const { front, back, xen } = rig();
    await front.connect();
    front.ring!.sring.reqProd = 0x4000_0000;
    front.notify();
    await settle(xen);
    expect(back.halted).to.equal(true);
    expect(back.lastError).to.match(/overflows/);
    expect(back.requests).to.equal(0);
    expect(front.ring!.sring.rspProd).to.equal(0);
  });

  it('x86_32, 2-page ring: 11-segment writes through every slot, incl. slot 37 straddling the page boundary', async () => {
    const { front, disk } = rig(
      { protocol: 'x86_32-abi', ringPageOrder: 1 },
      { disk: new Uint8Array(4 * MiB) },
    );
    await front.connect();
    expect(front.ring!.slotOffset(37)).to.equal(4060);
    for (let i = 0; i < 70; i++) {
      const data = new Uint8Array(88 * 512).fill(i + 1);
      await front.write(i * 88, data);
      expect(disk.subarray(i * 88 * 512, (i + 1) * 88 * 512).every((b) => b === i + 1)).to.equal(true);
    }
    expect(front.ring!.reqProdPvt).to.equal(70);
    expect(await front.read(37 * 88, 88)).to.deep.equal(new Uint8Array(88 * 512).fill(38));
  });

  it('ring indexes wrapping 2^32: a frontend starting near the wrap and an attaching backend', async () => {
    const start = 0xffff_ffff - 20;
    const { front, disk } = rig({ ringStart: start });
    await front.connect();
    for (let i = 0; i < 50; i++)
      expect(await front.read(i, 1)).to.deep.equal(disk.subarray(i * 512, (i + 1) * 512));
    expect(front.ring!.reqProdPvt).to.equal(29);
    expect(front.ring!.sring.rspProd).to.equal(29);
  });

  it('a backend that starts at 0 (BACK_RING_INIT) sees a frontend starting elsewhere as an overflow', async () => {
    const { front, back, xen } = rig({ ringStart: 0x8000_0000 }, { ringStart: 0 });
    await front.connect();
    void front.submit({ operation: BlkifOp.FLUSH_DISKCACHE }).catch(() => undefined);
    await settle(xen);
    expect(back.halted).to.equal(true);
    front.teardown();
  });

  it('waitForWatch rejects when the check throws', async () => {
    const { guest } = rig();
    const err = await waitForWatch(guest.store, '/local/domain/1', () => {
      throw new Error('nope');
    }).catch((e: unknown) => e);
    expect(String(err)).to.match(/nope/);
  });
});
