import { AioContext, VirtualClock } from '@vmkit/core';
import { InProcessXen, XenbusState, type XenGuestDomain } from '@vmkit/xen-bus';
import { expect } from 'chai';
import { BlkifOp, BlkifStatus, type BlkifProtocol } from '../src/index.js';
import {
  Blkfront,
  BlkfrontIoError,
  ReferenceBlkback,
  type BlkfrontOptions,
  type ReferenceBlkbackOptions,
} from '../src/testing/index.js';

const MiB = 1024 * 1024;

interface Rig {
  xen: InProcessXen;
  guest: XenGuestDomain;
  disk: Uint8Array;
  back: ReferenceBlkback;
  front: Blkfront;
}

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

function rig(
  front: BlkfrontOptions = {},
  back: Partial<Omit<ReferenceBlkbackOptions, 'xen' | 'context' | 'frontendId'>> = {},
): Rig {
  const ctx = new AioContext({ name: 'xen', clock: new VirtualClock() });
  const xen = new InProcessXen({ context: ctx });
  const guest = xen.createDomain({ domid: 1, pages: 1024 });
  const disk = back.disk ?? pattern(MiB);
  const b = new ReferenceBlkback({ xen, context: ctx, frontendId: 1, ...back, disk });
  b.realize();
  return { xen, guest, disk, back: b, front: new Blkfront(guest, front) };
}

describe('xen-block testing: Blkfront against the reference backend', () => {
  it('handshake: Initialising → Initialised → Connected, keys published, backend details read', async () => {
    const { front, back, guest } = rig({ devid: 51712 });
    const info = await front.connect();
    expect(front.state).to.equal(XenbusState.Connected);
    expect(back.backendState).to.equal(XenbusState.Connected);
    const key = (k: string): string | number => guest.store.read(`${front.path}/${k}`);
    expect(key('ring-ref')).to.equal(String(front.ringRefs[0]));
    expect(key('ring-page-order')).to.be.a('number'); // absent (-ENOENT) for a 1-page ring
    expect(key('event-channel')).to.equal(String(front.port));
    expect(key('protocol')).to.be.a('number'); // native: absent
    expect(info).to.deep.include({
      sectors: 2048,
      sectorSize: 512,
      info: 0,
      readOnly: false,
      featureFlushCache: true,
      featureDiscard: true,
      discardGranularity: 512,
      maxRingPageOrder: 4,
      ringPageOrder: 0,
      ringSize: 32,
      protocol: 'native',
    });
    expect(guest.isGrantMapped(front.ringRefs[0])).to.equal(true);
    expect(guest.portStatus(front.port)?.kind).to.equal('interdomain');
  });

  it('multi-page rings publish ring-page-order and ring-ref0..N, capped by max-ring-page-order', async () => {
    const { front, guest } = rig({ ringPageOrder: 4, protocol: 'x86_32-abi' }, { maxRingPageOrder: 2 });
    const info = await front.connect();
    expect(info.ringPageOrder).to.equal(2);
    expect(info.ringSize).to.equal(128);
    expect(guest.store.read(`${front.path}/ring-page-order`)).to.equal('2');
    expect([0, 1, 2, 3].map((i) => guest.store.read(`${front.path}/ring-ref${i}`))).to.deep.equal(
      front.ringRefs.map(String),
    );
    expect(guest.store.read(`${front.path}/protocol`)).to.equal('x86_32-abi');
  });

  for (const protocol of ['native', 'x86_32-abi', 'x86_64-abi'] as BlkifProtocol[]) {
    for (const order of [0, 1, 4]) {
      it(`${protocol}, order ${order}: writes then reads back, across requests of up to 88 sectors`, async () => {
        const { front, disk } = rig({ protocol, ringPageOrder: order });
        await front.connect();
        expect(await front.read(0, 8)).to.deep.equal(disk.subarray(0, 4096));
        const data = pattern(300 * 512, 9);
        await front.write(100, data);
        expect(disk.subarray(100 * 512, 400 * 512)).to.deep.equal(data);
        expect(await front.read(100, 300)).to.deep.equal(data);
        expect(await front.read(2047, 1)).to.deep.equal(disk.subarray(MiB - 512));
        // Every data grant was ended; only the ring pages remain granted.
        expect(front.guest.grantsInUse).to.equal(1 << order);
        expect(front.pages.leaked).to.deep.equal([]);
      });
    }
  }

  it('more requests than ring slots: the surplus waits for free slots, all complete', async () => {
    const { front, back, disk } = rig();
    await front.connect();
    const reads = Array.from({ length: 100 }, (_, i) => front.read(i * 8, 8));
    expect(front.queued).to.be.greaterThan(0);
    const got = await Promise.all(reads);
    got.forEach((g, i) => expect(g).to.deep.equal(disk.subarray(i * 4096, (i + 1) * 4096)));
    expect(back.requests).to.equal(100);
    expect(front.inFlight).to.equal(0);
  });

  it('responses are matched by id; ids above 2^53 come back bit-exact', async () => {
    const { front } = rig();
    await front.connect();
    const ids = [2n ** 64n - 1n, 2n ** 53n + 1n, 0n];
    const rsps = await Promise.all(ids.map((id) => front.submit({ id, operation: BlkifOp.FLUSH_DISKCACHE })));
    expect(rsps.map((r) => r.id)).to.deep.equal(ids);
    expect(rsps.every((r) => r.status === BlkifStatus.OKAY && r.operation === 3)).to.equal(true);
    expect(front.unexpectedResponses).to.deep.equal([]);
  });

  it('batched submissions publish once and notify once; the backend notifies per push that crosses rsp_event', async () => {
    const { front, back } = rig();
    await front.connect();
    const done = Array.from({ length: 5 }, () =>
      front.submit({ operation: BlkifOp.FLUSH_DISKCACHE }, { publish: false }),
    );
    expect(front.ring!.sring.reqProd).to.equal(0);
    expect(front.publish()).to.equal(true);
    await Promise.all(done);
    expect(front.notificationsSent).to.equal(1);
    expect(back.flushes).to.equal(5);
    expect(back.notifications).to.equal(1);
    expect(front.interrupts).to.equal(1);
  });

  it('flush and discard', async () => {
    const { front, back, disk } = rig();
    await front.connect();
    await front.flush();
    expect(back.flushes).to.equal(1);
    await front.discard(8, 8);
    expect(disk.subarray(4096, 8192).every((b) => b === 0)).to.equal(true);
    expect(disk[8192]).to.not.equal(0);
    const err = await front.discard(2040, 16).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(BlkfrontIoError);
    expect((err as BlkfrontIoError).status).to.equal(BlkifStatus.ERROR);
  });

  it('a read-only disk: writes fail with BLKIF_RSP_ERROR, reads work, info has VDISK_READONLY', async () => {
    const { front, back, disk } = rig({}, { readOnly: true });
    const info = await front.connect();
    expect(info.readOnly).to.equal(true);
    const err = await front.write(0, new Uint8Array(512)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(BlkfrontIoError);
    expect(back.parseErrors).to.deep.equal(['read-only']);
    expect(await front.read(0, 1)).to.deep.equal(disk.subarray(0, 512));
  });

  it('4096-byte sectors: aligned I/O works, misaligned requests fail', async () => {
    const { front, back, disk } = rig({}, { sectorSize: 4096 });
    const info = await front.connect();
    expect(info.sectorSize).to.equal(4096);
    const data = pattern(8192, 3);
    await front.write(16, data);
    expect(disk.subarray(8192, 16384)).to.deep.equal(data);
    await front.read(3, 8).catch(() => undefined);
    await front.read(0, 4).catch(() => undefined);
    expect(back.parseErrors).to.deep.equal(['misaligned-sector', 'misaligned-segment-size']);
  });

  it('close: Closing → Closed, the backend unmaps, grants and port are released; reconnect works', async () => {
    const { front, back, guest, disk } = rig({ ringPageOrder: 1 });
    await front.connect();
    const refs = [...front.ringRefs];
    await front.close();
    expect(back.backendState).to.equal(XenbusState.Closed);
    expect(front.state).to.equal(XenbusState.Closed);
    expect(refs.some((r) => guest.isGrantMapped(r))).to.equal(false);
    expect(guest.grantsInUse).to.equal(0);
    expect(front.frames.allocated).to.equal(0);
    // A new driver instance on the same device: the backend offers InitWait again.
    const again = new Blkfront(guest);
    await again.connect();
    expect(await again.read(0, 1)).to.deep.equal(disk.subarray(0, 512));
  });

  it('requests in flight when the driver tears down are rejected', async () => {
    const { front } = rig();
    await front.connect();
    const p = front.submit({ operation: BlkifOp.FLUSH_DISKCACHE }, { publish: false });
    front.ring!.reqProdPvt = front.ring!.sring.reqProd; // never published: withdraw it
    front.teardown();
    const err = await p.catch((e: unknown) => e);
    expect(String(err)).to.match(/closed/);
    // The backend still maps the ring: its grant cannot end, and the frame stays allocated.
    expect(front.leakedRingRefs).to.have.length(1);
    expect(front.frames.allocated).to.equal(1);
  });
});
