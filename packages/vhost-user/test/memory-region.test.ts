import { expect } from 'chai';
import { constants as bufferConstants } from 'node:buffer';
import { constants } from 'node:os';
import { closeFd, createMemfd, mapRegion, MappedRegion, native, OsErrno } from '../src/index.js';
import { collectUntil, mapsLines, requireAddon, settledCounts } from './helpers.js';

function map(fd: number, size: number | bigint, offset: number | bigint, writable = true): MappedRegion {
  const region = mapRegion(fd, size, offset, { writable });
  if (typeof region === 'number') throw new Error(`mmap failed: ${region}`);
  return region;
}

describe('vhost-user: memory regions (mmap of a memfd)', function () {
  const fds: number[] = [];
  before(function () {
    requireAddon(this);
  });
  afterEach(() => {
    for (const fd of fds.splice(0)) closeFd(fd);
  });

  function memfd(name: string, size: number): number {
    const fd = createMemfd(name, size);
    expect(fd).to.be.greaterThan(2);
    fds.push(fd);
    return fd;
  }

  it('QEMU 7.2 layout: two regions of one memfd, below and above the 640K-768K hole', () => {
    const ramSize = 2 << 20;
    const fd = memfd('vu-ram', ramSize);
    // As SET_MEM_TABLE describes them: guest address, size, mmap offset in the memfd.
    const low = map(fd, 0xa0000, 0);
    const high = map(fd, ramSize - 0xc0000, 0xc0000n);
    const whole = map(fd, ramSize, 0);
    expect(low.size).to.equal(0xa0000);
    expect(high.size).to.equal(ramSize - 0xc0000);
    expect(high.offset).to.equal(0xc0000n);

    high.bytes[0] = 0x11;
    high.bytes[high.size - 1] = 0x22;
    low.bytes[0x9ffff] = 0x33;
    expect(whole.bytes[0xc0000]).to.equal(0x11);
    expect(whole.bytes[ramSize - 1]).to.equal(0x22);
    expect(whole.bytes[0x9ffff]).to.equal(0x33);
    whole.bytes[0xc0001] = 0x44;
    expect(high.bytes[1]).to.equal(0x44);
    for (const r of [low, high, whole]) expect(r.unmap()).to.equal(0);
  });

  it('an offset that is not page aligned still starts the buffer at that byte', () => {
    const fd = memfd('vu-unaligned', 16384);
    const whole = map(fd, 16384, 0);
    const part = map(fd, 100, 4097);
    part.bytes[0] = 0x7e;
    expect(whole.bytes[4097]).to.equal(0x7e);
    expect(part.size).to.equal(100);
    part.unmap();
    whole.unmap();
  });

  it('unmap() detaches the buffer (views become empty) and removes the mapping', () => {
    const fd = memfd('vu-unmap', 12288);
    const region = map(fd, 8192, 4096);
    const view = new Uint32Array(region.buffer);
    expect(mapsLines('vu-unmap')).to.have.length(1);
    expect(region.unmap()).to.equal(0);
    expect(region.buffer.byteLength).to.equal(0);
    expect(region.bytes.length).to.equal(0);
    expect(view.length).to.equal(0);
    expect(region.mapped).to.equal(false);
    expect(mapsLines('vu-unmap')).to.deep.equal([]);
    expect(region.unmap(), 'a second unmap does nothing').to.equal(0);
  });

  it('an ArrayBuffer dropped without unmap() is unmapped when collected', async () => {
    const fd = memfd('vu-dropped', 4096);
    const baseline = (await settledCounts()).mappings;
    (() => {
      const region = map(fd, 4096, 0);
      region.bytes[0] = 1;
    })();
    expect(mapsLines('vu-dropped')).to.have.length(1);
    const unmapped = await collectUntil(() => mapsLines('vu-dropped').length === 0);
    expect(unmapped, 'finalizer munmapped the region').to.equal(true);
    expect(native.debug_counts().mappings).to.equal(baseline);
  });

  it('writable: false maps copy-on-write: reads see the file, writes never reach it', () => {
    const fd = memfd('vu-ro', 4096);
    const shared = map(fd, 4096, 0);
    const readOnly = map(fd, 4096, 0, false);
    shared.bytes[10] = 5;
    expect(readOnly.bytes[10]).to.equal(5);
    readOnly.bytes[20] = 9; // would be SIGSEGV on a PROT_READ page
    expect(shared.bytes[20]).to.equal(0);
    shared.unmap();
    readOnly.unmap();
  });

  it('refused ranges are errno results: zero size, past the end of the file, too big for a buffer', () => {
    const fd = memfd('vu-range', 8192);
    expect(mapRegion(fd, 0, 0)).to.equal(-OsErrno.EINVAL);
    expect(mapRegion(fd, 4097, 4096), 'would SIGBUS past EOF').to.equal(-OsErrno.EINVAL);
    expect(mapRegion(fd, 1, 8192)).to.equal(-OsErrno.EINVAL);
    expect(mapRegion(1_000_000, 4096, 0)).to.equal(-OsErrno.EBADF);
    const tooBig = bufferConstants.MAX_LENGTH + 1;
    if (Number.isSafeInteger(tooBig) && tooBig < 2 ** 40) {
      const big = memfd('vu-huge', tooBig); // sparse: costs nothing until touched
      expect(mapRegion(big, tooBig, 0)).to.equal(-constants.errno.EFBIG);
      expect(mapsLines('vu-huge')).to.deep.equal([]);
    }
  });

  it('bad arguments are TypeErrors; unmap wants a buffer made by mmap', () => {
    const fd = memfd('vu-args', 4096);
    expect(() => native.mmap(fd, -1, 0, true)).to.throw(TypeError, /size/);
    expect(() => native.mmap(fd, 4096, -1n, true)).to.throw(TypeError, /offset/);
    expect(() => native.mmap(fd, 4096, 0, 'yes' as unknown as boolean)).to.throw(TypeError, /writable/);
    expect(() => native.unmap(new ArrayBuffer(8))).to.throw(TypeError, /returned by mmap/);
    expect(() => native.unmap(new Uint8Array(8) as unknown as ArrayBuffer)).to.throw(
      TypeError,
      /ArrayBuffer/,
    );
  });

  it('many map/unmap cycles leave no mapping behind', () => {
    const fd = memfd('vu-cycles', 65536);
    const baseline = native.debug_counts().mappings;
    for (let i = 0; i < 500; i++) {
      const r = map(fd, 65536, 0);
      r.bytes[i] = i & 0xff;
      expect(r.unmap()).to.equal(0);
    }
    expect(native.debug_counts().mappings).to.equal(baseline);
    expect(mapsLines('vu-cycles')).to.deep.equal([]);
  });
});
