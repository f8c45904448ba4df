import { expect } from 'chai';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { makeRig, pattern, type Rig } from './helpers/rig.js';

const TEST = new TextEncoder().encode('TEST');

function sector(data: Uint8Array, size = 512): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data);
  return out;
}

for (const iothread of [false, true]) {
  describe(`virtio-blk requests (${iothread ? 'iothread' : 'main context'})`, () => {
    let rig: Rig;
    beforeEach(async () => {
      rig = await makeRig({ iothread, props: { serial: 'vmkit-serial-0001' } });
    });
    afterEach(async () => {
      await rig.machine.destroy();
    });

    it('test_basic: a 512-byte write of "TEST" at sector 0 is read back', async () => {
      const w = await rig.driver.write(0, sector(TEST));
      expect(w.status).to.equal(S.OK);
      expect(w.len).to.equal(1);
      const r = await rig.driver.read(0, 512);
      expect(r.status).to.equal(S.OK);
      expect(r.len).to.equal(513);
      expect(r.data.subarray(0, 4)).to.deep.equal(TEST);
      expect(rig.disk.bytes(0, 4)).to.deep.equal(TEST);
    });

    it('test_basic: WRITE_ZEROES of one sector then reads as zeroes; DISCARD answers OK', async () => {
      await rig.driver.write(0, sector(TEST));
      const z = await rig.driver.writeZeroes([{ sector: 0, numSectors: 1 }]);
      expect(z.status).to.equal(S.OK);
      expect((await rig.driver.read(0, 512)).data).to.deep.equal(new Uint8Array(512));
      const d = await rig.driver.discard([{ sector: 0, numSectors: 1 }]);
      expect(d.status).to.equal(S.OK);
      expect(rig.disk.ops('discard')).to.have.length(1);
    });

    it('test_basic: header and data in one descriptor (ANY_LAYOUT 2-descriptor layout)', async () => {
      const data = pattern(512, 3);
      const w = await rig.driver.request({ type: T.OUT, sector: 5, payload: data, outSplit: [528] });
      expect(w.status).to.equal(S.OK);
      const r = await rig.driver.request({ type: T.IN, sector: 5, inLength: 512, inSplit: [513] });
      expect(r.status).to.equal(S.OK);
      expect(r.data).to.deep.equal(data);
    });

    it('FLUSH answers OK and reaches the backend', async () => {
      const f = await rig.driver.flush();
      expect(f.status).to.equal(S.OK);
      expect(rig.disk.ops('flush')).to.have.length(1);
    });

    it('GET_ID answers the serial, NUL-padded; no terminator when exactly 20 bytes', async () => {
      const id = await rig.driver.getId(20);
      expect(id.status).to.equal(S.OK);
      expect(id.len).to.equal(21);
      expect(new TextDecoder().decode(id.data.subarray(0, 17))).to.equal('vmkit-serial-0001');
      expect([...id.data.subarray(17)]).to.deep.equal([0, 0, 0]);
    });

    it('unknown types answer UNSUPP', async () => {
      for (const type of [3 << 4, 16, 18, 14, 15, 0x7fff_fff0]) {
        const c = await rig.driver.request({ type, inLength: 8 });
        expect(c.status, `type ${type}`).to.equal(S.UNSUPP);
      }
    });
  });
}

describe('virtio-blk request types and statuses', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  it('BARRIER is ignored: IN|BARRIER reads, OUT|BARRIER writes', async () => {
    rig = await makeRig();
    const data = pattern(1024, 9);
    const w = await rig.driver.request({ type: T.OUT | T.BARRIER, sector: 8, payload: data });
    expect(w.status).to.equal(S.OK);
    const r = await rig.driver.request({ type: T.IN | T.BARRIER, sector: 8, inLength: 1024 });
    expect(r.status).to.equal(S.OK);
    expect(r.data).to.deep.equal(data);
  });

  it('FLUSH with the OUT bit set is still a flush', async () => {
    rig = await makeRig();
    const f = await rig.driver.request({ type: T.FLUSH | T.OUT });
    expect(f.status).to.equal(S.OK);
    expect(rig.disk.ops('flush')).to.have.length(1);
  });

  it('GET_ID without serial answers an empty string; with a short buffer only what fits', async () => {
    rig = await makeRig({ props: { serial: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' } });
    const short = await rig.driver.getId(5);
    expect(short.status).to.equal(S.OK);
    expect(new TextDecoder().decode(short.data)).to.equal('ABCDE');
    const full = await rig.driver.getId(32);
    expect(new TextDecoder().decode(full.data.subarray(0, 20))).to.equal('ABCDEFGHIJKLMNOPQRST');
    expect([...full.data.subarray(20)]).to.deep.equal(new Array<number>(12).fill(0));
    await rig.machine.destroy();
    rig = await makeRig();
    const empty = await rig.driver.getId(20);
    expect(empty.status).to.equal(S.OK);
    expect([...empty.data]).to.deep.equal(new Array<number>(20).fill(0));
  });

  it('GET_ID with room for the status byte only writes just the status', async () => {
    rig = await makeRig({ props: { serial: 'X' } });
    const c = await rig.driver.getId(0);
    expect(c.status).to.equal(S.OK);
    expect(c.len).to.equal(1);
  });

  it('SCSI_CMD: IOERR without room for its headers, else UNSUPP with errors = 255', async () => {
    rig = await makeRig();
    const tooFew = await rig.driver.request({ type: T.SCSI_CMD, inLength: 16 });
    expect(tooFew.status).to.equal(S.IOERR);
    const c = await rig.driver.request({
      type: T.SCSI_CMD,
      payload: new Uint8Array(10),
      outSplit: [16, 10],
      inLength: 112,
      inSplit: [96, 16, 1],
    });
    expect(c.status).to.equal(S.UNSUPP);
    // virtio_scsi_inhdr.errors is the first word of the next-to-last writable buffer.
    expect([...c.data.subarray(96, 100)]).to.deep.equal([255, 0, 0, 0]);
    expect([...c.data.subarray(0, 96)]).to.deep.equal(new Array<number>(96).fill(0));
  });

  it('every status reports the total writable length as used length', async () => {
    rig = await makeRig();
    const c = await rig.driver.request({ type: T.OUT, sector: 0, payload: pattern(512), inLength: 40 });
    expect(c.status).to.equal(S.OK);
    expect(c.len).to.equal(41);
    const u = await rig.driver.request({ type: 0x55, inLength: 7 });
    expect(u.status).to.equal(S.UNSUPP);
    expect(u.len).to.equal(8);
  });
});
