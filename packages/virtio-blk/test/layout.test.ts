import { expect } from 'chai';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { encodeOutHeader } from '../src/testing/index.js';
import { makeRig, pattern, type Rig } from './helpers/rig.js';

describe('virtio-blk descriptor layouts (ANY_LAYOUT)', () => {
  let rig: Rig;
  beforeEach(async () => {
    rig = await makeRig();
  });
  afterEach(async () => {
    await rig.machine.destroy();
  });

  const splits: Array<{ name: string; outSplit: number[]; inSplit: number[] }> = [
    { name: 'header in 1+15, data 7+505+512', outSplit: [1, 15, 7, 505, 512], inSplit: [1023, 1, 1] },
    { name: 'header and data mixed 3+600+437', outSplit: [3, 600, 437], inSplit: [333, 692] },
    {
      name: 'every byte of the header its own descriptor',
      outSplit: [...new Array<number>(16).fill(1), 1024],
      inSplit: [1025],
    },
    { name: 'status inside a large last buffer', outSplit: [10, 1030], inSplit: [1, 1, 1023] },
  ];

  for (const { name, outSplit, inSplit } of splits) {
    it(`write then read with ${name}`, async () => {
      const data = pattern(1024, outSplit.length);
      const w = await rig.driver.request({ type: T.OUT, sector: 2, payload: data, outSplit });
      expect(w.status).to.equal(S.OK);
      expect(rig.disk.bytes(1024, 1024)).to.deep.equal(data);
      const r = await rig.driver.request({ type: T.IN, sector: 2, inLength: 1024, inSplit });
      expect(r.status).to.equal(S.OK);
      expect(r.len).to.equal(1025);
      expect(r.data).to.deep.equal(data);
    });
  }

  it('the status byte is the last byte of the last writable descriptor, whatever its size', async () => {
    // 512 data bytes + 9 extra writable bytes: the status lands at the very end.
    const r = await rig.driver.request({ type: T.IN, sector: 0, inLength: 512 + 9, inSplit: [500, 22] });
    expect(r.status).to.equal(S.IOERR); // 521 bytes is not a whole number of sectors
    const ok = await rig.driver.request({ type: T.IN, sector: 0, inLength: 512, inSplit: [256, 257] });
    expect(ok.status).to.equal(S.OK);
  });

  it('indirect chains: write and read through indirect tables with odd splits', async () => {
    const data = pattern(2048, 5);
    const w = await rig.driver.request({
      type: T.OUT,
      sector: 100,
      payload: data,
      outSplit: [5, 11, 1000, 1048],
      indirect: true,
    });
    expect(w.status).to.equal(S.OK);
    const r = await rig.driver.request({
      type: T.IN,
      sector: 100,
      inLength: 2048,
      inSplit: [1, 2047, 1],
      indirect: true,
    });
    expect(r.status).to.equal(S.OK);
    expect(r.data).to.deep.equal(data);
  });

  it('a raw header split across the readable stream is parsed once it is whole', async () => {
    const hdr = encodeOutHeader(T.OUT, 4);
    const data = pattern(512, 2);
    const raw = new Uint8Array(528);
    raw.set(hdr);
    raw.set(data, 16);
    const c = await rig.driver.request({ type: 0, raw, outSplit: [9, 519] });
    expect(c.status).to.equal(S.OK);
    expect(rig.disk.bytes(2048, 512)).to.deep.equal(data);
  });

  it('16-bit index wrap: requests around avail/used index 65535 complete in order', async () => {
    rig.driver.init({ startIndex: 65530, queueSize: 64 });
    rig.device.queue(0).restoreIndices(65530);
    const reqs = [];
    for (let i = 0; i < 12; i++) reqs.push(rig.driver.submitWrite(i, pattern(512, i)));
    rig.driver.kick();
    const done = await rig.driver.settle();
    expect(done.map((c) => c.request)).to.have.members(reqs);
    expect(done.every((c) => c.status === S.OK)).to.equal(true);
    expect(rig.driver.queue.deviceUsedIdx).to.equal((65530 + 12) & 0xffff);
    for (let i = 0; i < 12; i++) {
      const r = await rig.driver.read(i, 512);
      expect(r.data).to.deep.equal(pattern(512, i));
    }
    expect(rig.driver.queue.lastUsedIdx).to.equal((65530 + 24) & 0xffff);
  });
});
