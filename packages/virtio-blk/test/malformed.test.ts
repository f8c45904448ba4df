import { expect } from 'chai';
import { VirtioFeature, VirtioStatus, VringDescFlag as D } from '@vmkit/virtio';
import type { RawDescriptor } from '@vmkit/virtio/testing';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { encodeOutHeader, withoutFeatures } from '../src/testing/index.js';
import { changedAddresses, inRanges, snapshot, type Ranges } from './helpers/memory-diff.js';
import { RAM_BASE, RAM_SIZE, makeRig, pattern, turns, type Rig } from './helpers/rig.js';

/** A malformed chain built from raw descriptors at the top of the table (the driver uses the bottom). */
interface Malformed {
  name: string;
  noIndirect?: boolean;
  build(
    rig: Rig,
    hdr: number,
    buf: number,
  ): { head: number; descs: Array<[number, RawDescriptor]>; idx?: number };
}

const SIZE = 64;
const HI = SIZE - 8;

const cases: Malformed[] = [
  {
    name: 'head index out of range',
    build: () => ({ head: SIZE + 3, descs: [] }),
  },
  {
    name: 'next index out of range',
    build: (_r, hdr) => ({
      head: HI,
      descs: [[HI, { addr: hdr, len: 16, flags: D.NEXT, next: SIZE + 1 }]],
    }),
  },
  {
    name: 'a descriptor loop',
    build: (_r, hdr, buf) => ({
      head: HI,
      descs: [
        [HI, { addr: hdr, len: 16, flags: D.NEXT, next: HI + 1 }],
        [HI + 1, { addr: buf, len: 512, flags: D.WRITE | D.NEXT, next: HI }],
      ],
    }),
  },
  {
    name: 'a zero-length descriptor',
    build: (_r, hdr, buf) => ({
      head: HI,
      descs: [
        [HI, { addr: hdr, len: 16, flags: D.NEXT, next: HI + 1 }],
        [HI + 1, { addr: buf, len: 0, flags: D.WRITE, next: 0 }],
      ],
    }),
  },
  {
    name: 'a buffer outside guest memory',
    build: (_r, hdr) => ({
      head: HI,
      descs: [
        [HI, { addr: hdr, len: 16, flags: D.NEXT, next: HI + 1 }],
        [HI + 1, { addr: RAM_BASE + RAM_SIZE - 100, len: 513, flags: D.WRITE, next: 0 }],
      ],
    }),
  },
  {
    name: 'a readable buffer after a writable one',
    build: (_r, hdr, buf) => ({
      head: HI,
      descs: [
        [HI, { addr: buf, len: 513, flags: D.WRITE | D.NEXT, next: HI + 1 }],
        [HI + 1, { addr: hdr, len: 16, flags: 0, next: 0 }],
      ],
    }),
  },
  {
    name: 'an indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC',
    noIndirect: true,
    build: (_r, hdr) => ({
      head: HI,
      descs: [[HI, { addr: hdr, len: 32, flags: D.INDIRECT, next: 0 }]],
    }),
  },
  {
    name: 'a nested indirect table',
    build: (_r, hdr) => ({
      head: HI,
      descs: [[HI, { addr: hdr, len: 16, flags: D.INDIRECT, next: 0 }]],
    }),
  },
  {
    name: 'avail.idx moved further than the queue size',
    build: (r) => ({ head: 0, descs: [], idx: (r.driver.queue.availIdx + SIZE + 5) & 0xffff }),
  },
];

describe('virtio-blk malformed rings: NEEDS_RESET, nothing written outside valid buffers', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  for (const c of cases) {
    for (const iothread of [false, true]) {
      it(`${c.name} (${iothread ? 'iothread' : 'main'})`, async () => {
        rig = await makeRig({ iothread, props: { 'queue-size': SIZE } });
        if (c.noIndirect === true)
          rig.driver.init({ features: withoutFeatures(VirtioFeature.RING_INDIRECT_DESC) });
        const q = rig.driver.queue;
        // A valid read first: it must complete normally.
        await rig.driver.write(0, pattern(512, 1));
        const good = rig.driver.submitRead(0, 512);
        const hdr = rig.driver.allocator.alloc(32, 16);
        const buf = rig.driver.allocator.alloc(1024, 16);
        rig.memory.write(hdr, encodeOutHeader(T.IN, 0));
        // For the nested case, the table's only entry is itself indirect.
        rig.memory.write(hdr + 16, new Uint8Array(16));
        if (c.name.startsWith('a nested'))
          q.writeDescriptor(0, { addr: buf, len: 16, flags: D.INDIRECT, next: 0 }, hdr);
        const m = c.build(rig, hdr, buf);
        for (const [i, d] of m.descs) q.writeDescriptor(i, d);
        rig.memory.fill(buf, 1024, 0xee);
        if (m.idx === undefined) {
          q.addHead(m.head);
          q.publish();
        } else {
          q.setAvailIdx(m.idx);
        }
        const before = snapshot(rig.memory);
        const usedBefore = q.deviceUsedIdx;
        rig.driver.kick();
        await turns(20);
        expect(rig.driver.virtio.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
        const allowed: Ranges = [[q.layout.used, q.layout.used + 6 + 8 * SIZE + 2]];
        for (const b of good.guest.inBuffers) allowed.push([b.addr, b.addr + b.len]);
        for (const a of changedAddresses(rig.memory, before))
          expect(inRanges(a, allowed), `0x${a.toString(16)}`).to.equal(true);
        // The valid request may complete (it came first); nothing else is published.
        expect((q.deviceUsedIdx - usedBefore) & 0xffff).to.be.at.most(1);
        const done = rig.driver.takeCompletions();
        for (const d of done) {
          expect(d.request).to.equal(good);
          expect(d.status).to.equal(S.OK);
          expect(d.data).to.deep.equal(pattern(512, 1));
        }
        // A reset brings the device back.
        rig.driver.init();
        expect((await rig.driver.read(0, 512)).data).to.deep.equal(pattern(512, 1));
      });
    }
  }
});
