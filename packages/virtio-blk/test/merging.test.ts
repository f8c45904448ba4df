import { expect } from 'chai';
import { BlockAcctType as A } from '@vmkit/block-layer';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import type { BlkRequestSpec } from '../src/testing/index.js';
import { makeRig, pattern, type Rig } from './helpers/rig.js';

function writes(sectors: number[], size = 512): BlkRequestSpec[] {
  return sectors.map((s, i) => ({ type: T.OUT, sector: s, payload: pattern(size, i + 1) }));
}

describe('virtio-blk multireq merging (virtio_blk_submit_multireq)', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  it('32 contiguous writes become one backend write; each completes on its own; merged = 31', async () => {
    rig = await makeRig();
    const sectors = Array.from({ length: 32 }, (_, i) => 64 + i);
    const done = await rig.driver.batch(writes(sectors));
    expect(done.map((c) => c.status)).to.deep.equal(new Array<number>(32).fill(S.OK));
    const w = rig.disk.ops('write');
    expect(w).to.have.length(1);
    expect(w[0].offset).to.equal(64 * 512);
    expect(w[0].bytes).to.equal(32 * 512);
    const blk = rig.blk();
    expect(blk.stats.merged[A.WRITE]).to.equal(31);
    expect(blk.stats.nrOps[A.WRITE]).to.equal(32);
    expect(blk.stats.nrBytes[A.WRITE]).to.equal(32 * 512);
    for (let i = 0; i < 32; i++)
      expect(rig.disk.bytes((64 + i) * 512, 512)).to.deep.equal(pattern(512, i + 1));
  });

  it('33 contiguous writes: the 33rd starts a new batch (at most 32 per merge)', async () => {
    rig = await makeRig();
    await rig.driver.batch(writes(Array.from({ length: 33 }, (_, i) => i)));
    expect(rig.disk.ops('write').map((c) => c.bytes)).to.deep.equal([32 * 512, 512]);
    expect(rig.blk().stats.merged[A.WRITE]).to.equal(31);
  });

  it('requests are sorted by sector before merging (submitted in reverse order)', async () => {
    rig = await makeRig();
    const sectors = [7, 6, 5, 4, 3, 2, 1, 0];
    await rig.driver.batch(writes(sectors));
    const w = rig.disk.ops('write');
    expect(w).to.have.length(1);
    expect(w[0].offset).to.equal(0);
    for (let i = 0; i < 8; i++)
      expect(rig.disk.bytes(sectors[i] * 512, 512)).to.deep.equal(pattern(512, i + 1));
  });

  it('non-contiguous requests are not merged (sorted submission order)', async () => {
    rig = await makeRig();
    await rig.driver.batch(writes([10, 0, 2, 1]));
    expect(rig.disk.ops('write').map((c) => [c.offset / 512, c.bytes / 512])).to.deep.equal([
      [0, 3],
      [10, 1],
    ]);
    expect(rig.blk().stats.merged[A.WRITE]).to.equal(2);
  });

  it('opposite directions are not merged: a direction change submits the buffer', async () => {
    rig = await makeRig();
    const done = await rig.driver.batch([
      { type: T.OUT, sector: 0, payload: pattern(512, 1) },
      { type: T.IN, sector: 1, inLength: 512 },
      { type: T.OUT, sector: 2, payload: pattern(512, 2) },
      { type: T.IN, sector: 3, inLength: 512 },
    ]);
    expect(done.every((c) => c.status === S.OK)).to.equal(true);
    expect(rig.disk.calls.map((c) => `${c.op}@${c.offset / 512}`)).to.deep.equal([
      'write@0',
      'read@1',
      'write@2',
      'read@3',
    ]);
    expect(rig.blk().stats.merged[A.READ] + rig.blk().stats.merged[A.WRITE]).to.equal(0);
  });

  it('contiguous reads merge too and each gets its own data', async () => {
    rig = await makeRig();
    await rig.driver.batch(writes([0, 1, 2, 3]));
    const done = await rig.driver.batch([0, 1, 2, 3].map((s) => ({ type: T.IN, sector: s, inLength: 512 })));
    expect(done.map((c) => c.data)).to.deep.equal([1, 2, 3, 4].map((seed) => pattern(512, seed)));
    expect(rig.disk.ops('read')).to.have.length(1);
    expect(rig.blk().stats.merged[A.READ]).to.equal(3);
  });

  it('request-merging=off: every request is submitted on its own', async () => {
    rig = await makeRig({ props: { 'request-merging': false } });
    await rig.driver.batch(writes([0, 1, 2, 3]));
    expect(rig.disk.ops('write')).to.have.length(4);
    expect(rig.blk().stats.merged[A.WRITE]).to.equal(0);
  });

  it('max-transfer: a merge never exceeds it', async () => {
    rig = await makeRig({ disk: { 'max-transfer': 4096 } });
    await rig.driver.batch(writes(Array.from({ length: 20 }, (_, i) => i)));
    expect(rig.disk.ops('write').map((c) => c.bytes)).to.deep.equal([4096, 4096, 2048]);
  });

  it('max-iov: a merge never exceeds the backend iov count', async () => {
    rig = await makeRig({ disk: { 'max-iov': 5 } });
    // Each write carries its data in two descriptors: two iovs per request.
    const specs = Array.from({ length: 6 }, (_, i) => ({
      type: T.OUT,
      sector: i,
      payload: pattern(512, i),
      outSplit: [16, 100, 412],
    }));
    await rig.driver.batch(specs);
    const w = rig.disk.ops('write');
    expect(w.map((c) => c.bytes / 512)).to.deep.equal([2, 2, 2]);
    expect(w.every((c) => c.niov <= 5)).to.equal(true);
  });

  it('FLUSH submits the buffered writes first (not buffered reads)', async () => {
    rig = await makeRig();
    await rig.driver.batch([
      { type: T.OUT, sector: 0, payload: pattern(512, 1) },
      { type: T.OUT, sector: 1, payload: pattern(512, 2) },
      { type: T.FLUSH },
      { type: T.IN, sector: 0, inLength: 512 },
    ]);
    expect(rig.disk.calls.map((c) => c.op)).to.deep.equal(['write', 'flush', 'read']);
    rig.disk.calls.length = 0;
    // A buffered read stays in the buffer: the flush goes out first, the read at the end of the pass.
    await rig.driver.batch([{ type: T.IN, sector: 0, inLength: 512 }, { type: T.FLUSH }]);
    expect(rig.disk.calls.map((c) => c.op)).to.deep.equal(['flush', 'read']);
  });

  it('a failed merged write fails every request of the run (report: IOERR each, failed accounting)', async () => {
    rig = await makeRig({ props: { werror: 'report' } });
    rig.disk.errors.push({ op: 'write', ret: -5 });
    const done = await rig.driver.batch(writes([0, 1, 2]));
    expect(done.map((c) => c.status)).to.deep.equal([S.IOERR, S.IOERR, S.IOERR]);
    const blk = rig.blk();
    expect(blk.stats.failedOps[A.WRITE]).to.equal(3);
    expect(blk.stats.merged[A.WRITE]).to.equal(2);
  });
});
