import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import {
  HostErrno,
  hostIoAvailable,
  hostIoStatus,
  hostIoUnavailableReason,
  hostStrerror,
  HOST_IOV_MAX,
  preadvNowait,
  punchHole,
  pwritevNowait,
  punchHoleAsync,
  seekData,
  seekHole,
  zeroRange,
  zeroRangeAsync,
} from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('host-io addon', function () {
  let dir: string;
  let file: string;
  let fd: number;

  before(function () {
    // The addon is optional; CI sets VMKIT_REQUIRE_ADDON=1 so that a missing one fails the install.
    if (!hostIoAvailable()) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-host-io-'));
  });
  after(function () {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(function () {
    file = path.join(dir, `img-${Math.random().toString(16).slice(2)}`);
    fd = fs.openSync(file, 'w+');
  });
  afterEach(function () {
    fs.closeSync(fd);
  });

  /** Fills [0, size) with `byte` and makes it stable, so that the blocks are really allocated. */
  function fill(size: number, byte: number): void {
    fs.writeSync(fd, new Uint8Array(size).fill(byte), 0, size, 0);
    fs.fsyncSync(fd);
  }

  function read(offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    expect(fs.readSync(fd, buf, 0, length, offset)).to.equal(length);
    return buf;
  }

  const allBytes = (buf: Uint8Array, byte: number): boolean => buf.every((b) => b === byte);

  it('reports itself loaded, with no reason', function () {
    expect(hostIoStatus.available).to.equal(true);
    expect(hostIoUnavailableReason()).to.equal(null);
  });

  it('punchHole: the range reads zeroes, its blocks are freed, the size is kept', async function () {
    fill(1 * MiB, 0x55);
    const before = fs.fstatSync(fd);
    expect(await punchHoleAsync(fd, 256 * KiB, 512 * KiB)).to.equal(0);
    const after = fs.fstatSync(fd);
    expect(after.size).to.equal(1 * MiB);
    expect(before.blocks - after.blocks).to.equal((512 * KiB) / 512);
    expect(allBytes(read(0, 256 * KiB), 0x55)).to.equal(true);
    expect(allBytes(read(256 * KiB, 512 * KiB), 0)).to.equal(true);
    expect(allBytes(read(768 * KiB, 256 * KiB), 0x55)).to.equal(true);
  });

  it('punchHole: completes on the loop after the call returns (thread pool)', async function () {
    fill(64 * KiB, 0x11);
    let returned = false;
    const result = await new Promise<number>((resolve) => {
      punchHole(fd, 0, 64 * KiB, (r) => {
        expect(returned).to.equal(true);
        resolve(r);
      });
      returned = true;
    });
    expect(result).to.equal(0);
  });

  it('punchHole past EOF keeps the size', async function () {
    fill(64 * KiB, 0x22);
    expect(await punchHoleAsync(fd, 32 * KiB, 1 * MiB)).to.equal(0);
    expect(fs.fstatSync(fd).size).to.equal(64 * KiB);
    expect(allBytes(read(32 * KiB, 32 * KiB), 0)).to.equal(true);
  });

  it('zeroRange: the range reads zeroes and stays allocated', async function () {
    fill(1 * MiB, 0x66);
    const before = fs.fstatSync(fd);
    const r = await zeroRangeAsync(fd, 128 * KiB, 256 * KiB);
    if (r === -HostErrno.EOPNOTSUPP) this.skip(); // a file system without FALLOC_FL_ZERO_RANGE
    expect(r).to.equal(0);
    expect(fs.fstatSync(fd).blocks).to.equal(before.blocks);
    expect(allBytes(read(0, 128 * KiB), 0x66)).to.equal(true);
    expect(allBytes(read(128 * KiB, 256 * KiB), 0)).to.equal(true);
    expect(allBytes(read(384 * KiB, 640 * KiB), 0x66)).to.equal(true);
  });

  it('zeroRange past EOF extends the file', async function () {
    fill(64 * KiB, 0x33);
    const r = await zeroRangeAsync(fd, 64 * KiB, 64 * KiB);
    if (r === -HostErrno.EOPNOTSUPP) this.skip();
    expect(r).to.equal(0);
    expect(fs.fstatSync(fd).size).to.equal(128 * KiB);
  });

  it('seekData/seekHole walk the extents of a sparse file; -ENXIO past EOF', function () {
    fs.ftruncateSync(fd, 4 * MiB);
    fs.writeSync(fd, new Uint8Array(64 * KiB).fill(1), 0, 64 * KiB, 1 * MiB);
    fs.fsyncSync(fd);
    expect(seekData(fd, 0)).to.equal(1 * MiB);
    expect(seekHole(fd, 0)).to.equal(0);
    expect(seekData(fd, 1 * MiB + 4 * KiB)).to.equal(1 * MiB + 4 * KiB);
    expect(seekHole(fd, 1 * MiB)).to.equal(1 * MiB + 64 * KiB);
    // Only a hole follows the data: no more data before EOF.
    expect(seekData(fd, 1 * MiB + 64 * KiB)).to.equal(-HostErrno.ENXIO);
    // EOF is a hole; at or past it there is nothing.
    expect(seekHole(fd, 2 * MiB)).to.equal(2 * MiB);
    expect(seekHole(fd, 4 * MiB)).to.equal(-HostErrno.ENXIO);
    expect(seekData(fd, 5 * MiB)).to.equal(-HostErrno.ENXIO);
  });

  it('seekHole of a fully written file is its size', function () {
    fill(96 * KiB, 7);
    expect(seekData(fd, 0)).to.equal(0);
    expect(seekHole(fd, 0)).to.equal(96 * KiB);
  });

  it('errors are negative errnos: a closed fd gives -EBADF', async function () {
    const closed = fs.openSync(file, 'r');
    fs.closeSync(closed);
    expect(seekData(closed, 0)).to.equal(-HostErrno.EBADF);
    expect(seekHole(closed, 0)).to.equal(-HostErrno.EBADF);
    expect(await punchHoleAsync(closed, 0, 4096)).to.equal(-HostErrno.EBADF);
    expect(await zeroRangeAsync(closed, 0, 4096)).to.equal(-HostErrno.EBADF);
  });

  it('a read-only fd cannot punch holes (-EBADF)', async function () {
    fill(8 * KiB, 9);
    const ro = fs.openSync(file, 'r');
    try {
      expect(await punchHoleAsync(ro, 0, 4096)).to.equal(-HostErrno.EBADF);
    } finally {
      fs.closeSync(ro);
    }
    expect(allBytes(read(0, 8 * KiB), 9)).to.equal(true);
  });

  it('arguments of the wrong type throw a TypeError', function () {
    const cb = (): void => undefined;
    expect(() => punchHole(-1, 0, 1, cb)).to.throw(TypeError, /fd/);
    expect(() => punchHole(fd, 0.5, 1, cb)).to.throw(TypeError, /offset/);
    expect(() => zeroRange(fd, 0, -1, cb)).to.throw(TypeError, /length/);
    expect(() => seekData(fd, 2 ** 53)).to.throw(TypeError, /offset/);
    expect(() => zeroRange(fd, 0, 1, undefined as unknown as typeof cb)).to.throw(TypeError, /callback/);
  });

  it('hostStrerror gives the C library text for either sign', function () {
    expect(hostStrerror(-HostErrno.ENXIO)).to.equal(hostStrerror(HostErrno.ENXIO));
    expect(hostStrerror(HostErrno.EBADF)).to.match(/bad file descriptor/i);
  });

  describe('preadvNowait / pwritevNowait (RWF_NOWAIT)', function () {
    it('a page-cached read is served synchronously, scattered over several views', function () {
      const data = new Uint8Array(16 * KiB).map((_, i) => (i * 7 + 3) & 0xff);
      fs.writeSync(fd, data, 0, data.length, 0);
      read(0, data.length); // now certainly in the page cache
      const out = new Uint8Array(12 * KiB);
      const r = preadvNowait(
        fd,
        [out.subarray(0, 100), out.subarray(100, 4096), out.subarray(4096)],
        2 * KiB,
      );
      expect(r).to.equal(12 * KiB);
      expect(out).to.deep.equal(data.subarray(2 * KiB, 14 * KiB));
    });

    it('a read crossing EOF is short, and at or past EOF reads 0 bytes', function () {
      const data = new Uint8Array(5000).fill(0x5a);
      fs.writeSync(fd, data, 0, data.length, 0);
      read(0, data.length);
      const out = new Uint8Array(8192).fill(1);
      expect(preadvNowait(fd, [out], 4096)).to.equal(5000 - 4096);
      expect(allBytes(out.subarray(0, 5000 - 4096), 0x5a)).to.equal(true);
      expect(out[5000 - 4096]).to.equal(1);
      expect(preadvNowait(fd, [out], 5000)).to.equal(0);
      expect(preadvNowait(fd, [out], 1 * MiB)).to.equal(0);
    });

    it('no views, or empty views, transfer nothing', function () {
      fill(4096, 1);
      expect(preadvNowait(fd, [], 0)).to.equal(0);
      expect(preadvNowait(fd, [new Uint8Array(0)], 0)).to.equal(0);
    });

    it('writes go through, or are refused with -EAGAIN / -EOPNOTSUPP and change nothing', function () {
      fill(8 * KiB, 0);
      const data = new Uint8Array(4096).fill(0x77);
      const r = pwritevNowait(fd, [data.subarray(0, 1000), data.subarray(1000)], 4096);
      // ext4 on Linux 6.18 refuses every buffered RWF_NOWAIT write with EOPNOTSUPP; XFS and
      // btrfs accept it when nothing needs to wait.
      expect([4096, -HostErrno.EAGAIN, -HostErrno.EOPNOTSUPP]).to.include(r);
      expect(allBytes(read(4096, 4096), r === 4096 ? 0x77 : 0)).to.equal(true);
      expect(allBytes(read(0, 4096), 0)).to.equal(true);
    });

    it('errors are negative errnos: a closed fd gives -EBADF, writing a read-only fd -EBADF', function () {
      fill(4096, 2);
      const closed = fs.openSync(file, 'r');
      fs.closeSync(closed);
      const buf = new Uint8Array(4096);
      expect(preadvNowait(closed, [buf], 0)).to.equal(-HostErrno.EBADF);
      expect(pwritevNowait(closed, [buf], 0)).to.equal(-HostErrno.EBADF);
      const ro = fs.openSync(file, 'r');
      try {
        expect(pwritevNowait(ro, [buf], 0)).to.equal(-HostErrno.EBADF);
      } finally {
        fs.closeSync(ro);
      }
    });

    it('arguments of the wrong type throw a TypeError; too many views a RangeError', function () {
      const buf = new Uint8Array(16);
      type Views = Uint8Array[];
      expect(() => preadvNowait(-1, [buf], 0)).to.throw(TypeError, /fd/);
      expect(() => preadvNowait(fd, buf as unknown as Views, 0)).to.throw(TypeError, /views/);
      expect(() => preadvNowait(fd, [buf, new Uint16Array(4)] as unknown as Views, 0)).to.throw(
        TypeError,
        /views\[1\] must be a Uint8Array/,
      );
      expect(() => pwritevNowait(fd, [new DataView(buf.buffer)] as unknown as Views, 0)).to.throw(
        TypeError,
        /views\[0\]/,
      );
      expect(() => pwritevNowait(fd, ['abc'] as unknown as Views, 0)).to.throw(TypeError, /views\[0\]/);
      expect(() => preadvNowait(fd, [buf], -1)).to.throw(TypeError, /position/);
      expect(() => preadvNowait(fd, [buf], 2 ** 53)).to.throw(TypeError, /position/);
      expect(() => preadvNowait(fd, [buf], 1.5)).to.throw(TypeError, /position/);
      const many: Views = new Array<Uint8Array>(HOST_IOV_MAX + 1).fill(buf);
      expect(() => preadvNowait(fd, many, 0)).to.throw(RangeError, /at most 1024/);
      // IOV_MAX views exactly are fine (a heap iovec array beyond the stack's 64).
      fill(HOST_IOV_MAX * 16, 3);
      expect(preadvNowait(fd, many.slice(1), 0)).to.equal(HOST_IOV_MAX * 16);
      expect(allBytes(buf, 3)).to.equal(true);
    });
  });
});
