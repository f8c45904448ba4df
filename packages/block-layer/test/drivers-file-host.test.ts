import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, Errno, IOVector } from '@vmkit/core';
import { hostIoAvailable } from '@vmkit/host-io';
import {
  BlockGraph,
  BlockStatus,
  RequestFlags,
  bdrvBlockStatus,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwriteZeroes,
  fileDriver,
  fileIo,
  rawDriver,
  type BlockDriverState,
  type BlockStatusResult,
  type FileState,
} from '../src/index.js';
import { simulateHostIoAbsent } from '../src/drivers/file-host.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('file driver with host-io (hole punching, ZERO_RANGE, SEEK_DATA/SEEK_HOLE)', function () {
  let dir: string;
  let graph: BlockGraph;
  const restores: Array<() => void> = [];

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-file-host-'));
    graph = new BlockGraph({ mainContext: new AioContext(), drivers: [fileDriver, rawDriver] });
  });
  afterEach(async function () {
    for (const r of restores.splice(0)) r();
    for (const bs of graph.nodes()) {
      if (!bs.deleted && bs.parents.length === 0 && bs.refcount > 0) {
        bs.unref();
        await bs.closing;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A file of `size` bytes of `byte`, flushed so that its blocks are allocated. */
  function dataFile(name: string, size: number, byte: number): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, new Uint8Array(size).fill(byte));
    const fd = fs.openSync(p, 'r+');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    return p;
  }

  const blocks = (p: string): number => fs.statSync(p).blocks;

  function open(filename: string, extra: Record<string, unknown> = {}): Promise<BlockDriverState> {
    return graph.openNode({ driver: 'file', filename, ...extra });
  }

  async function read(bs: BlockDriverState, offset: number, bytes: number): Promise<Uint8Array> {
    const buf = new Uint8Array(bytes);
    expect(await bdrvPreadv(bs, offset, bytes, IOVector.fromBuffer(buf))).to.equal(0);
    return buf;
  }

  const all = (buf: Uint8Array, byte: number): boolean => buf.every((b) => b === byte);

  /** Counts the driver's data writes (a fallback zero buffer goes through them). */
  function countWrites(): { count: () => number } {
    let n = 0;
    const write = fileIo.write;
    const writev = fileIo.writev;
    const io = fileIo as unknown as Record<string, unknown>;
    io.write = (...args: unknown[]): void => {
      n++;
      (write as (...a: unknown[]) => void)(...args);
    };
    io.writev = (...args: unknown[]): void => {
      n++;
      (writev as (...a: unknown[]) => void)(...args);
    };
    restores.push(() => {
      io.write = write;
      io.writev = writev;
    });
    return { count: () => n };
  }

  describe('with the addon', function () {
    before(function () {
      if (!hostIoAvailable()) this.skip();
    });

    it('discard=unmap: discard punches a hole — the range reads zeroes and its blocks are freed', async function () {
      const p = dataFile('d.img', 1 * MiB, 0x55);
      const bs = await open(p, { discard: 'unmap' });
      const before = blocks(p);
      expect(await bdrvPdiscard(bs, 256 * KiB, 256 * KiB)).to.equal(0);
      expect(before - blocks(p)).to.equal((256 * KiB) / 512);
      expect(fs.statSync(p).size).to.equal(1 * MiB);
      expect(all(await read(bs, 256 * KiB, 256 * KiB), 0)).to.equal(true);
      expect(all(await read(bs, 0, 256 * KiB), 0x55)).to.equal(true);
      expect(all(await read(bs, 512 * KiB, 512 * KiB), 0x55)).to.equal(true);
    });

    it('discard without discard=unmap does nothing (bdrv_co_pdiscard)', async function () {
      const p = dataFile('i.img', 256 * KiB, 0x44);
      const bs = await open(p);
      const before = blocks(p);
      expect(await bdrvPdiscard(bs, 0, 128 * KiB)).to.equal(0);
      expect(blocks(p)).to.equal(before);
      expect(all(await read(bs, 0, 128 * KiB), 0x44)).to.equal(true);
    });

    it('the node honours MAY_UNMAP and NO_FALLBACK for write-zeroes (raw_open_common)', async function () {
      const bs = await open(dataFile('f.img', 4096, 1));
      expect(bs.supportedZeroFlags).to.equal(RequestFlags.MAY_UNMAP | RequestFlags.NO_FALLBACK);
    });

    it('write-zeroes with MAY_UNMAP on discard=unmap punches a hole, without writing data', async function () {
      const p = dataFile('zu.img', 1 * MiB, 0x66);
      const bs = await open(p, { discard: 'unmap' });
      const writes = countWrites();
      const before = blocks(p);
      expect(await bdrvPwriteZeroes(bs, 0, 512 * KiB, RequestFlags.MAY_UNMAP)).to.equal(0);
      expect(writes.count()).to.equal(0);
      expect(before - blocks(p)).to.equal((512 * KiB) / 512);
      expect(all(await read(bs, 0, 512 * KiB), 0)).to.equal(true);
      expect(all(await read(bs, 512 * KiB, 512 * KiB), 0x66)).to.equal(true);
    });

    it('write-zeroes without MAY_UNMAP uses ZERO_RANGE: zeroes, blocks kept, no data written', async function () {
      const p = dataFile('z.img', 1 * MiB, 0x77);
      const bs = await open(p, { discard: 'unmap' });
      const writes = countWrites();
      const before = blocks(p);
      expect(await bdrvPwriteZeroes(bs, 64 * KiB, 128 * KiB)).to.equal(0);
      expect(writes.count()).to.equal(0);
      expect(blocks(p)).to.equal(before);
      expect(all(await read(bs, 64 * KiB, 128 * KiB), 0)).to.equal(true);
      expect(all(await read(bs, 0, 64 * KiB), 0x77)).to.equal(true);
      expect(all(await read(bs, 192 * KiB, 64 * KiB), 0x77)).to.equal(true);
    });

    it('MAY_UNMAP is dropped unless discard=unmap: the blocks stay allocated', async function () {
      const p = dataFile('zi.img', 256 * KiB, 0x12);
      const bs = await open(p);
      const before = blocks(p);
      expect(await bdrvPwriteZeroes(bs, 0, 128 * KiB, RequestFlags.MAY_UNMAP)).to.equal(0);
      expect(blocks(p)).to.equal(before);
      expect(all(await read(bs, 0, 128 * KiB), 0)).to.equal(true);
    });

    it('NO_FALLBACK write-zeroes succeeds without a zero buffer', async function () {
      const p = dataFile('nf.img', 64 * KiB, 0x13);
      const bs = await open(p);
      const writes = countWrites();
      expect(await bdrvPwriteZeroes(bs, 0, 64 * KiB, RequestFlags.NO_FALLBACK)).to.equal(0);
      expect(writes.count()).to.equal(0);
      expect(all(fs.readFileSync(p), 0)).to.equal(true);
    });

    it('write-zeroes with MAY_UNMAP past EOF grows the file (no KEEP_SIZE hole there)', async function () {
      const p = dataFile('g.img', 64 * KiB, 0x21);
      const bs = await open(p, { discard: 'unmap' });
      expect(
        await fileDriver.pwriteZeroes!(
          bs as BlockDriverState<FileState>,
          32 * KiB,
          64 * KiB,
          RequestFlags.MAY_UNMAP,
        ),
      ).to.equal(0);
      expect(fs.statSync(p).size).to.equal(96 * KiB);
      const data = fs.readFileSync(p);
      expect(all(data.subarray(0, 32 * KiB), 0x21)).to.equal(true);
      expect(all(data.subarray(32 * KiB), 0)).to.equal(true);
    });

    describe('block status (raw_co_block_status / find_allocation)', function () {
      /** 4 MiB, data only in [1 MiB, 1 MiB + 64 KiB). */
      async function sparse(extra: Record<string, unknown> = {}): Promise<BlockDriverState> {
        const p = path.join(dir, 's.img');
        const fd = fs.openSync(p, 'w+');
        fs.ftruncateSync(fd, 4 * MiB);
        fs.writeSync(fd, new Uint8Array(64 * KiB).fill(9), 0, 64 * KiB, 1 * MiB);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        return open(p, extra);
      }

      it('a hole is ZERO|OFFSET_VALID up to the next data', async function () {
        const bs = await sparse();
        const st = await bdrvBlockStatus(bs, true, 0, 4 * MiB);
        expect(st.status).to.equal(BlockStatus.ZERO | BlockStatus.OFFSET_VALID | BlockStatus.ALLOCATED);
        expect(st.pnum).to.equal(1 * MiB);
        expect(st.map).to.equal(0);
        expect(st.file).to.equal(bs);
      });

      it('a data extent is DATA|OFFSET_VALID up to the next hole', async function () {
        const bs = await sparse();
        const st = await bdrvBlockStatus(bs, true, 1 * MiB, 3 * MiB);
        expect(st.status).to.equal(BlockStatus.DATA | BlockStatus.OFFSET_VALID | BlockStatus.ALLOCATED);
        expect(st.pnum).to.equal(64 * KiB);
        expect(st.map).to.equal(1 * MiB);
      });

      it('the trailing hole is ZERO up to EOF (with EOF set)', async function () {
        const bs = await sparse();
        const st = await bdrvBlockStatus(bs, true, 1 * MiB + 64 * KiB, 4 * MiB);
        expect(st.status).to.equal(
          BlockStatus.ZERO | BlockStatus.OFFSET_VALID | BlockStatus.ALLOCATED | BlockStatus.EOF,
        );
        expect(st.pnum).to.equal(3 * MiB - 64 * KiB);
      });

      it('pnum never exceeds the request', async function () {
        const bs = await sparse();
        expect((await bdrvBlockStatus(bs, true, 0, 4096)).pnum).to.equal(4096);
        expect((await bdrvBlockStatus(bs, true, 1 * MiB, 4096)).pnum).to.equal(4096);
      });

      it('without wantZero everything is data (the cheap answer)', async function () {
        const bs = await sparse();
        const st = await bdrvBlockStatus(bs, false, 0, 4 * MiB);
        expect(st.status & (BlockStatus.DATA | BlockStatus.ZERO)).to.equal(BlockStatus.DATA);
        expect(st.pnum).to.equal(4 * MiB);
      });

      it('a punched range is then reported as a hole', async function () {
        const p = dataFile('ph.img', 1 * MiB, 3);
        const bs = await open(p, { discard: 'unmap' });
        expect((await bdrvBlockStatus(bs, true, 0, 1 * MiB)).pnum).to.equal(1 * MiB);
        expect(await bdrvPdiscard(bs, 256 * KiB, 256 * KiB)).to.equal(0);
        const a = await bdrvBlockStatus(bs, true, 0, 1 * MiB);
        expect([a.status & BlockStatus.DATA, a.pnum]).to.deep.equal([BlockStatus.DATA, 256 * KiB]);
        const b = await bdrvBlockStatus(bs, true, 256 * KiB, 768 * KiB);
        expect([b.status & BlockStatus.ZERO, b.pnum]).to.deep.equal([BlockStatus.ZERO, 256 * KiB]);
      });

      it('a data extent ending at an unaligned EOF is rounded up to the request alignment', async function () {
        const p = dataFile('u.img', 4096 + 100, 5);
        const bs = (await open(p, { cache: { direct: true } })) as BlockDriverState<FileState>;
        const align = bs.limits.requestAlignment;
        expect(align).to.be.greaterThan(1);
        const r = fileDriver.blockStatus!(bs, true, 4096, 2 * align) as BlockStatusResult;
        expect(r.status).to.equal(BlockStatus.DATA | BlockStatus.OFFSET_VALID);
        expect(r.pnum).to.equal(align);
      });
    });
  });

  describe('without the addon (simulated): the portable behaviour', function () {
    beforeEach(function () {
      simulateHostIoAbsent(true);
      restores.push(() => simulateHostIoAbsent(false));
    });

    it('discard keeps the data (-ENOTSUP, ignored)', async function () {
      const p = dataFile('a.img', 64 * KiB, 0x31);
      const bs = await open(p, { discard: 'unmap' });
      expect(await fileDriver.pdiscard!(bs as BlockDriverState<FileState>, 0, 4096)).to.equal(-Errno.ENOTSUP);
      expect(await bdrvPdiscard(bs, 0, 32 * KiB)).to.equal(0);
      expect(all(fs.readFileSync(p), 0x31)).to.equal(true);
    });

    it('write-zeroes writes a zero buffer; MAY_UNMAP and NO_FALLBACK are not honoured', async function () {
      const p = dataFile('b.img', 64 * KiB, 0x32);
      const bs = await open(p, { discard: 'unmap' });
      expect(bs.supportedZeroFlags).to.equal(0);
      const writes = countWrites();
      const before = blocks(p);
      expect(await bdrvPwriteZeroes(bs, 0, 32 * KiB, RequestFlags.MAY_UNMAP)).to.equal(0);
      expect(writes.count()).to.be.greaterThan(0);
      expect(blocks(p)).to.equal(before);
      expect(all(fs.readFileSync(p).subarray(0, 32 * KiB), 0)).to.equal(true);
      expect(await bdrvPwriteZeroes(bs, 0, 4096, RequestFlags.NO_FALLBACK)).to.equal(-Errno.ENOTSUP);
    });

    it('block status reports one data extent for a sparse file', async function () {
      const p = path.join(dir, 'c.img');
      fs.writeFileSync(p, '');
      fs.truncateSync(p, 1 * MiB);
      const bs = await open(p);
      const st = await bdrvBlockStatus(bs, true, 0, 1 * MiB);
      expect(st.status & (BlockStatus.DATA | BlockStatus.ZERO)).to.equal(BlockStatus.DATA);
      expect(st.pnum).to.equal(1 * MiB);
    });
  });
});
