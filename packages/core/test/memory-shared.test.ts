import { expect } from 'chai';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { GuestMemory, GuestMemoryError, IOVector } from '../src/index.js';

describe('GuestMemory over SharedArrayBuffer', () => {
  it('maps a SharedArrayBuffer and marks the region shared', () => {
    const sab = new SharedArrayBuffer(0x1000);
    const mem = new GuestMemory();
    const region = mem.addRegion(0x10000, sab, 'shared-ram');
    expect(region.shared).to.equal(true);
    expect(mem.addRegion(0, new ArrayBuffer(16)).shared).to.equal(false);
    mem.writeU32(0x10004, 0x01020304);
    expect([...new Uint8Array(sab, 4, 4)]).to.deep.equal([4, 3, 2, 1]);
    expect(mem.view(0x10000, 8).buffer).to.equal(sab);
  });

  it('maps a Uint8Array view of a SharedArrayBuffer, bounds-checked to the view', () => {
    const sab = new SharedArrayBuffer(64);
    const mem = new GuestMemory();
    const region = mem.addRegion(0x1000, new Uint8Array(sab, 16, 32));
    expect(region.shared).to.equal(true);
    mem.writeU64(0x1018, 0xffn);
    expect(new Uint8Array(sab)[16 + 0x18]).to.equal(0xff);
    expect(() => mem.readU64(0x1019)).to.throw(GuestMemoryError);
  });

  it('spans an ArrayBuffer region and an adjacent SharedArrayBuffer region', () => {
    const mem = new GuestMemory();
    mem.addRegion(0, new ArrayBuffer(8));
    const sab = new SharedArrayBuffer(8);
    mem.addRegion(8, sab);
    mem.write(4, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect([...new Uint8Array(sab)]).to.deep.equal([5, 6, 7, 8, 0, 0, 0, 0]);
    const iov = new IOVector(mem.views(4, 8));
    expect(iov.niov).to.equal(2);
    expect([...iov.toBuffer()]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('sees writes made by another thread through the shared buffer', async () => {
    const sab = new SharedArrayBuffer(0x100);
    const mem = new GuestMemory();
    mem.addRegion(0x8000, sab);
    mem.writeU32(0x8000, 41);
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const dv = new DataView(workerData);
       dv.setUint32(4, dv.getUint32(0, true) + 1, true);
       dv.setBigUint64(8, 0x1122334455667788n, true);`,
      { eval: true, workerData: sab },
    );
    const [code] = (await once(worker, 'exit')) as [number];
    expect(code).to.equal(0);
    expect(mem.readU32(0x8004)).to.equal(42);
    expect(mem.readU64(0x8008)).to.equal(0x1122334455667788n);
  });
});
