import { expect } from 'chai';
import { BlockAcctType as A } from '@vmkit/block-layer';
import { VirtioStatus } from '@vmkit/virtio';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { encodeDiscardRanges, encodeOutHeader } from '../src/testing/index.js';
import { changedAddresses, inRanges, snapshot } from './helpers/memory-diff.js';
import { makeRig, pattern, turns, type Rig } from './helpers/rig.js';

const CAPACITY = 131072; // 64 MiB / 512
const UNMAP = 1;

describe('virtio-blk validation (reference §4.2, §4.3)', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  describe('read/write range check (virtio_blk_sect_range_ok)', () => {
    beforeEach(async () => {
      rig = await makeRig({ props: { 'logical-block-size': 4096, 'physical-block-size': 4096 } });
    });

    const cases: Array<[string, number, number]> = [
      ['sector not aligned to the logical block', 1, 4096],
      ['size not a multiple of the logical block', 0, 512],
      ['sector beyond the capacity', CAPACITY + 8, 4096],
      ['request crossing the end', CAPACITY - 8, 8192],
    ];
    for (const [name, sector, size] of cases) {
      it(`IOERR without I/O and invalid accounting: ${name}`, async () => {
        const blk = rig.blk();
        const r = await rig.driver.read(sector, size);
        expect(r.status).to.equal(S.IOERR);
        const w = await rig.driver.write(sector, pattern(size));
        expect(w.status).to.equal(S.IOERR);
        expect(rig.disk.calls).to.have.length(0);
        expect(blk.stats.invalidOps[A.READ]).to.equal(1);
        expect(blk.stats.invalidOps[A.WRITE]).to.equal(1);
        expect(blk.stats.nrOps[A.READ] + blk.stats.nrOps[A.WRITE]).to.equal(0);
      });
    }

    it('the last whole block of the disk is fine; accounting counts it done', async () => {
      const blk = rig.blk();
      const w = await rig.driver.write(CAPACITY - 8, pattern(4096));
      expect(w.status).to.equal(S.OK);
      expect(blk.stats.nrOps[A.WRITE]).to.equal(1);
      expect(blk.stats.nrBytes[A.WRITE]).to.equal(4096);
    });
  });

  describe('discard / write-zeroes (vhost-user-blk-test test_invalid_discard_write_zeroes)', () => {
    beforeEach(async () => {
      rig = await makeRig();
    });

    for (const type of [T.DISCARD, T.WRITE_ZEROES]) {
      const name = type === T.DISCARD ? 'DISCARD' : 'WRITE_ZEROES';
      it(`${name}: two segments → UNSUPP`, async () => {
        const c = await rig.driver.request({
          type,
          payload: encodeDiscardRanges([
            { sector: 0, numSectors: 1 },
            { sector: 1, numSectors: 1 },
          ]),
        });
        expect(c.status).to.equal(S.UNSUPP);
      });
      it(`${name}: num_sectors = 0xffffffff → IOERR`, async () => {
        const c = await rig.driver.request({
          type,
          payload: encodeDiscardRanges([{ sector: 0, numSectors: 0xffff_ffff }]),
        });
        expect(c.status).to.equal(S.IOERR);
      });
      it(`${name}: sector = capacity + 1 → IOERR`, async () => {
        const c = await rig.driver.request({
          type,
          payload: encodeDiscardRanges([{ sector: CAPACITY + 1, numSectors: 1 }]),
        });
        expect(c.status).to.equal(S.IOERR);
      });
      it(`${name}: flags = ~UNMAP → UNSUPP`, async () => {
        const c = await rig.driver.request({
          type,
          payload: encodeDiscardRanges([{ sector: 0, numSectors: 1, flags: ~UNMAP >>> 0 }]),
        });
        expect(c.status).to.equal(S.UNSUPP);
      });
      it(`${name} without the OUT bit → UNSUPP (checked before anything else)`, async () => {
        const c = await rig.driver.request({
          type: type & ~T.OUT,
          payload: encodeDiscardRanges([{ sector: CAPACITY + 1, numSectors: 0xffff_ffff, flags: 2 }]),
        });
        expect(c.status).to.equal(S.UNSUPP);
      });
      it(`${name}: the limit check comes before the range check and the flags check`, async () => {
        const c = await rig.driver.request({
          type,
          payload: encodeDiscardRanges([{ sector: CAPACITY + 1, numSectors: 5_000_000, flags: 6 }]),
        });
        expect(c.status).to.equal(S.IOERR);
        const d = await rig.driver.request({
          type,
          payload: encodeDiscardRanges([{ sector: CAPACITY + 1, numSectors: 1, flags: 6 }]),
        });
        expect(d.status).to.equal(S.IOERR);
      });
    }

    it('DISCARD with the UNMAP flag → UNSUPP; WRITE_ZEROES with UNMAP → OK with MAY_UNMAP', async () => {
      const d = await rig.driver.discard([{ sector: 0, numSectors: 8, flags: UNMAP }]);
      expect(d.status).to.equal(S.UNSUPP);
      const z = await rig.driver.writeZeroes([{ sector: 0, numSectors: 8, flags: UNMAP }]);
      expect(z.status).to.equal(S.OK);
      const zero = rig.disk.ops('zero');
      expect(zero).to.have.length(1);
      expect(zero[0].offset).to.equal(0);
      expect(zero[0].bytes).to.equal(4096);
      expect(zero[0].flags & 0x4).to.equal(0x4);
    });

    it('max-discard-sectors / max-write-zeroes-sectors bound num_sectors (IOERR above)', async () => {
      await rig.machine.destroy();
      rig = await makeRig({ props: { 'max-discard-sectors': 16, 'max-write-zeroes-sectors': 8 } });
      expect((await rig.driver.discard([{ sector: 0, numSectors: 16 }])).status).to.equal(S.OK);
      expect((await rig.driver.discard([{ sector: 0, numSectors: 17 }])).status).to.equal(S.IOERR);
      expect((await rig.driver.writeZeroes([{ sector: 0, numSectors: 8 }])).status).to.equal(S.OK);
      expect((await rig.driver.writeZeroes([{ sector: 0, numSectors: 9 }])).status).to.equal(S.IOERR);
    });

    it('accounting: write-zeroes is a WRITE (invalid on a validation error); discard is never accounted', async () => {
      const blk = rig.blk();
      await rig.driver.writeZeroes([{ sector: 0, numSectors: 2 }]);
      await rig.driver.writeZeroes([{ sector: CAPACITY + 1, numSectors: 1 }]);
      await rig.driver.discard([{ sector: 0, numSectors: 2 }]);
      await rig.driver.discard([{ sector: CAPACITY + 1, numSectors: 1 }]);
      expect(blk.stats.nrOps[A.WRITE]).to.equal(1);
      expect(blk.stats.nrBytes[A.WRITE]).to.equal(1024);
      expect(blk.stats.invalidOps[A.WRITE]).to.equal(1);
      expect(blk.stats.nrOps[A.UNMAP] + blk.stats.invalidOps[A.UNMAP]).to.equal(0);
    });
  });

  describe('fatal request errors (virtio_error): NEEDS_RESET, nothing written, queue stops', () => {
    beforeEach(async () => {
      rig = await makeRig();
    });

    const fatal: Array<[string, () => Parameters<Rig['driver']['submit']>[0]]> = [
      ['missing headers (no device-writable buffer)', () => ({ type: T.IN, sector: 0, noStatus: true })],
      [
        'missing headers (no device-readable buffer)',
        () => ({ type: 0, raw: new Uint8Array(0), inLength: 512 }),
      ],
      ['outhdr too short', () => ({ type: 0, raw: encodeOutHeader(T.IN, 0).subarray(0, 15), inLength: 512 })],
      [
        'discard/write_zeroes header too short',
        () => ({
          type: T.WRITE_ZEROES,
          payload: encodeDiscardRanges([{ sector: 0, numSectors: 1 }]).subarray(0, 15),
        }),
      ],
    ];

    for (const [name, spec] of fatal) {
      it(name, async () => {
        const q = rig.driver.queue;
        const before = await rig.driver.write(0, pattern(512, 1));
        expect(before.status).to.equal(S.OK);
        const bad = rig.driver.submit(spec());
        const after = rig.driver.submitWrite(8, pattern(512, 2));
        const usedIdx = q.deviceUsedIdx;
        const mem = snapshot(rig.memory);
        rig.driver.kick();
        await turns(10);
        expect(rig.driver.virtio.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
        expect(rig.driver.virtio.configInterrupts).to.equal(1);
        expect(q.deviceUsedIdx).to.equal(usedIdx);
        const usedArea: Array<readonly [number, number]> = [[q.layout.used, q.layout.used + 6 + 8 * q.size]];
        for (const a of changedAddresses(rig.memory, mem))
          expect(inRanges(a, usedArea), `0x${a.toString(16)}`).to.equal(true);
        expect(rig.driver.completion(bad)).to.equal(undefined);
        expect(rig.driver.completion(after)).to.equal(undefined);
        expect(rig.disk.bytes(8 * 512, 512)).to.deep.equal(new Uint8Array(512));
        // Reset brings the device back.
        rig.driver.init();
        expect((await rig.driver.read(0, 512)).data).to.deep.equal(pattern(512, 1));
      });
    }
  });
});
