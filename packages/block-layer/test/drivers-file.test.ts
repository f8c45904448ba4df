import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, ConfigError, Errno, IOVector } from '@vmkit/core';
import {
  BlockGraph,
  ChildRole,
  Perm,
  allocAligned,
  BlockStatus,
  bdrvBlockStatus,
  bdrvFlush,
  bdrvGetLength,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  bdrvTruncate,
  fileDriver,
  fileIo,
  ioPlug,
  ioUnplug,
  rawDriver,
  type BlockDriverState,
  type FileState,
  type MaybePromise,
} from '../src/index.js';
import { TestParent } from './helpers/test-driver.js';
import { simulateHostIoAbsent } from '../src/drivers/file-host.js';

const settle = async (r: MaybePromise<number>): Promise<number> => r;

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/** Wraps a fileIo member to count calls; restore() puts the original back. */
function countCalls<K extends keyof typeof fileIo>(name: K): { calls: unknown[][]; restore: () => void } {
  const orig = fileIo[name];
  const calls: unknown[][] = [];
  (fileIo as unknown as Record<string, unknown>)[name] = (...args: unknown[]): void => {
    calls.push(args);
    (orig as (...a: unknown[]) => void)(...args);
  };
  return { calls, restore: () => void ((fileIo as unknown as Record<string, unknown>)[name] = orig) };
}

/** The thread-pool path alone (no inline RWF_NOWAIT attempts: those are file-nowait.test.ts). */
const THREAD_POOL = { nowait: 'off' } as const;

describe('file driver', () => {
  let dir: string;
  let graph: BlockGraph;
  const restores: Array<() => void> = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-file-'));
    graph = new BlockGraph({ mainContext: new AioContext(), drivers: [fileDriver, rawDriver] });
  });
  afterEach(async () => {
    for (const r of restores.splice(0)) r();
    for (const bs of graph.nodes()) {
      if (!bs.deleted && bs.parents.length === 0 && bs.refcount > 0) {
        bs.unref();
        await bs.closing;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function img(name: string, content: Uint8Array | number): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, typeof content === 'number' ? new Uint8Array(content) : content);
    return p;
  }

  async function open(filename: string, extra: Record<string, unknown> = {}): Promise<BlockDriverState> {
    return graph.openNode({ driver: 'file', filename, ...extra });
  }

  describe('options', () => {
    it('requires filename', async () => {
      const e: unknown = await graph.openNode({ driver: 'file' }).catch((x: unknown) => x);
      expect(e).to.be.instanceOf(ConfigError).with.property('message', "Parameter 'filename' is missing");
    });
    it('reports a missing file like QEMU', async () => {
      const p = path.join(dir, 'nope.img');
      const e: unknown = await open(p).catch((x: unknown) => x);
      expect(e)
        .to.be.instanceOf(ConfigError)
        .with.property('message', `Could not open '${p}': No such file or directory`);
    });
    it('validates locking and aio, accepting io_uring and ignoring locking', async () => {
      const p = img('a.img', 4096);
      const e: unknown = await open(p, { locking: 'maybe' }).catch((x: unknown) => x);
      expect(e)
        .to.be.instanceOf(ConfigError)
        .with.property('message', "Parameter 'locking' does not accept value 'maybe'");
      const n: unknown = await open(p, { aio: 'native' }).catch((x: unknown) => x);
      expect((n as Error).message).to.match(/aio=native/);
      const bs = await open(p, { aio: 'io_uring', locking: 'off' });
      expect((bs.opaque as FileState).aio).to.equal('io_uring');
    });
    it('refuses unknown keys and non-regular files', async () => {
      const e: unknown = await open(img('b.img', 512), { foo: 1 }).catch((x: unknown) => x);
      expect((e as Error).message).to.equal("Invalid parameter 'foo'");
      const d: unknown = await open(dir, { 'read-only': true }).catch((x: unknown) => x);
      expect((d as Error).message).to.equal(`'file' driver requires '${dir}' to be a regular file`);
    });
  });

  describe('I/O', () => {
    it('writes and reads back through a scattered vector', async () => {
      const p = img('rw.img', 65536);
      const bs = await open(p);
      const data = pattern(12288, 3);
      const qiov = new IOVector([data.subarray(0, 100), data.subarray(100, 5000), data.subarray(5000)]);
      expect(await bdrvPwritev(bs, 4096, data.length, qiov)).to.equal(0);
      expect(Buffer.from(fs.readFileSync(p).subarray(4096, 4096 + data.length)).equals(data)).to.equal(true);
      const out = new Uint8Array(12288);
      const oq = new IOVector([out.subarray(0, 3000), out.subarray(3000)]);
      expect(await bdrvPreadv(bs, 4096, out.length, oq)).to.equal(0);
      expect(out).to.deep.equal(data);
    });

    it('zero-fills a read beyond the end of a short file', async () => {
      const p = img('short.img', pattern(1000, 9));
      const bs = await open(p);
      expect(bs.totalBytes).to.equal(1024);
      const out = new Uint8Array(1024).fill(0xee);
      expect(await bdrvPreadv(bs, 0, 1024, IOVector.fromBuffer(out))).to.equal(0);
      expect(out.subarray(0, 1000)).to.deep.equal(pattern(1000, 9));
      expect(out.subarray(1000).every((b) => b === 0)).to.equal(true);
      // The driver itself zero-fills what the file does not have.
      const d = new Uint8Array(4096).fill(0xee);
      expect(
        await fileDriver.preadv!(bs as BlockDriverState<FileState>, 512, 4096, IOVector.fromBuffer(d), 0, 0),
      ).to.equal(0);
      expect(d.subarray(0, 488)).to.deep.equal(pattern(1000, 9).subarray(512));
      expect(d.subarray(488).every((b) => b === 0)).to.equal(true);
    });

    it('continues a short write', async () => {
      const p = img('sw.img', 8192);
      const bs = await open(p, THREAD_POOL);
      const orig = fileIo.write;
      restores.push(() => void (fileIo.write = orig));
      let calls = 0;
      fileIo.write = (fd, b, off, len, pos, cb) => {
        calls++;
        orig(fd, b, off, Math.min(len, 1000), pos, cb); // the host writes at most 1000 bytes per call
      };
      const data = pattern(4096, 1);
      expect(await bdrvPwritev(bs, 0, 4096, IOVector.fromBuffer(data))).to.equal(0);
      expect(calls).to.equal(5);
      expect(Buffer.from(fs.readFileSync(p).subarray(0, 4096)).equals(data)).to.equal(true);
    });

    it('maps host errors to negative errno', async () => {
      const bs = await open(img('err.img', 8192), THREAD_POOL);
      const orig = fileIo.read;
      restores.push(() => void (fileIo.read = orig));
      fileIo.read = (_fd, _b, _o, _l, _p, cb) =>
        cb(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), 0);
      expect(await bdrvPreadv(bs, 0, 512, IOVector.fromBuffer(new Uint8Array(512)))).to.equal(-Errno.ENOSPC);
      fileIo.read = (_fd, _b, _o, _l, _p, cb) =>
        cb(Object.assign(new Error('EWEIRD'), { code: 'EWEIRD' }), 0);
      expect(await bdrvPreadv(bs, 0, 512, IOVector.fromBuffer(new Uint8Array(512)))).to.equal(-Errno.EIO);
      expect(bs.inFlight).to.equal(0);
      expect(bs.trackedRequests.size).to.equal(0);
    });

    it('read-only nodes open O_RDONLY and refuse writes', async () => {
      const p = img('ro.img', 4096);
      fs.chmodSync(p, 0o444);
      const bs = await open(p, { 'read-only': true });
      expect(bs.readOnly).to.equal(true);
      expect(await bdrvPwritev(bs, 0, 512, IOVector.fromBuffer(new Uint8Array(512)))).to.equal(-Errno.EPERM);
      // The descriptor itself is read-only: a write that slipped through fails in the host.
      const r = await fileDriver.pwritev!(
        bs as BlockDriverState<FileState>,
        0,
        512,
        IOVector.fromBuffer(new Uint8Array(512)),
        0,
        0,
      );
      expect(r).to.be.lessThan(0);
    });

    it('flush is one fdatasync; discard is ignored; write-zeroes falls back to writing zeroes', async () => {
      // The portable behaviour (no host-io addon); with it: drivers-file-host.test.ts.
      simulateHostIoAbsent(true);
      restores.push(() => simulateHostIoAbsent(false));
      const p = img('misc.img', pattern(8192, 5));
      const bs = await open(p, { discard: 'unmap' });
      const sync = countCalls('fdatasync');
      restores.push(sync.restore);
      expect(await bdrvPwritev(bs, 0, 512, IOVector.fromBuffer(pattern(512, 2)))).to.equal(0);
      expect(await bdrvFlush(bs)).to.equal(0);
      expect(sync.calls).to.have.length(1);
      expect(await bdrvPdiscard(bs, 4096, 4096)).to.equal(0);
      expect(fs.readFileSync(p).subarray(4096)).to.deep.equal(Buffer.from(pattern(8192, 5).subarray(4096)));
      expect(await bdrvPwriteZeroes(bs, 1000, 3000)).to.equal(0);
      const after = fs.readFileSync(p);
      expect(after.subarray(1000, 4000).every((b) => b === 0)).to.equal(true);
      expect(after[999]).to.equal(pattern(8192, 5)[999]);
      expect(after[4000]).to.equal(pattern(8192, 5)[4000]);
    });

    it('truncate, length, allocated size and block status', async () => {
      simulateHostIoAbsent(true); // block status without SEEK_DATA: all data
      restores.push(() => simulateHostIoAbsent(false));
      const p = img('t.img', 0);
      const bs = await open(p);
      expect(await bdrvGetLength(bs)).to.equal(0);
      expect(await bdrvTruncate(bs, 1 << 20)).to.equal(0);
      expect(fs.statSync(p).size).to.equal(1 << 20);
      expect(await bdrvGetLength(bs)).to.equal(1 << 20);
      const sparse = await fileDriver.getAllocatedFileSize!(bs as BlockDriverState<FileState>);
      expect(await bdrvPwritev(bs, 0, 65536, IOVector.fromBuffer(pattern(65536, 1)))).to.equal(0);
      const used = await fileDriver.getAllocatedFileSize!(bs as BlockDriverState<FileState>);
      expect(used).to.equal(fs.statSync(p).blocks * 512);
      expect(used).to.be.greaterThan(sparse);
      const st = await bdrvBlockStatus(bs, true, 0, 1 << 20);
      expect(st.status & (BlockStatus.DATA | BlockStatus.OFFSET_VALID)).to.equal(
        BlockStatus.DATA | BlockStatus.OFFSET_VALID,
      );
      expect(st.pnum).to.equal(1 << 20);
      expect(st.file).to.equal(bs);
      expect(await bdrvTruncate(bs, 4096)).to.equal(0);
      expect(fs.statSync(p).size).to.equal(4096);
      expect(await bdrvTruncate(bs, 8192, { prealloc: 'falloc' })).to.equal(-Errno.ENOTSUP);
    });

    it('create makes (or empties) a file of the given size', async () => {
      const p = path.join(dir, 'new.img');
      await fileDriver.create!({ filename: p, size: '1M' });
      expect(fs.statSync(p).size).to.equal(1 << 20);
      fs.writeFileSync(p, pattern(4096, 1));
      await fileDriver.create!({ filename: p, size: 8192, preallocation: 'full' });
      const c = fs.readFileSync(p);
      expect(c.length).to.equal(8192);
      expect(c.every((b) => b === 0)).to.equal(true);
      expect(fs.statSync(p).blocks * 512).to.be.at.least(8192);
      const e: unknown = await fileDriver.create!({
        filename: path.join(dir, 'no/such/dir.img'),
        size: 0,
      }).catch((x: unknown) => x);
      expect((e as Error).message).to.equal('Could not create file: No such file or directory');
    });
  });

  describe('plug coalescing', () => {
    it('merges contiguous writes, then reads, queued while plugged into one vectored call each', async () => {
      const p = img('plug.img', 65536);
      const bs = await open(p, THREAD_POOL);
      const writev = countCalls('writev');
      const write = countCalls('write');
      const readv = countCalls('readv');
      const read = countCalls('read');
      restores.push(writev.restore, write.restore, readv.restore, read.restore);
      const data = pattern(8 * 4096, 11);
      ioPlug(bs);
      const pending = [];
      for (let i = 0; i < 8; i++) {
        pending.push(
          bdrvPwritev(bs, i * 4096, 4096, IOVector.fromBuffer(data.subarray(i * 4096, (i + 1) * 4096))),
        );
      }
      expect(writev.calls.length + write.calls.length).to.equal(0);
      ioUnplug(bs);
      expect(writev.calls).to.have.length(1);
      expect((writev.calls[0][1] as Uint8Array[]).length).to.equal(8);
      expect(write.calls).to.have.length(0);
      expect(await Promise.all(pending.map(settle))).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]);
      expect(Buffer.from(fs.readFileSync(p).subarray(0, data.length)).equals(data)).to.equal(true);

      const out = new Uint8Array(data.length);
      ioPlug(bs);
      const reads = [];
      for (let i = 0; i < 8; i++) {
        reads.push(
          bdrvPreadv(bs, i * 4096, 4096, IOVector.fromBuffer(out.subarray(i * 4096, (i + 1) * 4096))),
        );
      }
      ioUnplug(bs);
      expect(readv.calls).to.have.length(1);
      expect(read.calls).to.have.length(0);
      expect(await Promise.all(reads.map(settle))).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]);
      expect(out).to.deep.equal(data);
    });

    it('plugging a raw node above plugs the file node (bdrv_io_plug recursion)', async () => {
      const p = img('raw.img', 65536);
      const top = await graph.openNode({
        driver: 'raw',
        file: { driver: 'file', filename: p, ...THREAD_POOL },
      });
      const user = new TestParent('blk', graph.mainContext);
      const root = graph.attachRootChild(
        top,
        'root',
        ChildRole.FILTERED | ChildRole.PRIMARY,
        user,
        Perm.ALL,
        Perm.ALL,
      );
      restores.push(() => graph.unrefChild(root));
      const writev = countCalls('writev');
      const write = countCalls('write');
      restores.push(writev.restore, write.restore);
      const data = pattern(4 * 512, 21);
      ioPlug(top);
      const pending = [0, 1, 2, 3].map((i) =>
        bdrvPwritev(root, i * 512, 512, IOVector.fromBuffer(data.subarray(i * 512, (i + 1) * 512))),
      );
      ioUnplug(top);
      expect(writev.calls).to.have.length(1);
      expect(write.calls).to.have.length(0);
      expect(await Promise.all(pending.map(settle))).to.deep.equal([0, 0, 0, 0]);
      expect(fs.readFileSync(p).subarray(0, data.length)).to.deep.equal(Buffer.from(data));
    });

    it('does not merge across a gap or a change of direction, and unplugged requests go at once', async () => {
      const bs = await open(img('gap.img', 65536), THREAD_POOL);
      const writev = countCalls('writev');
      const write = countCalls('write');
      const read = countCalls('read');
      restores.push(writev.restore, write.restore, read.restore);
      const b = (): IOVector => IOVector.fromBuffer(new Uint8Array(4096));
      ioPlug(bs);
      const all = [
        bdrvPwritev(bs, 0, 4096, b()),
        bdrvPwritev(bs, 4096, 4096, b()),
        bdrvPreadv(bs, 8192, 4096, b()),
        bdrvPwritev(bs, 12288, 4096, b()),
        bdrvPwritev(bs, 20480, 4096, b()),
      ];
      ioUnplug(bs);
      expect(writev.calls).to.have.length(1);
      expect(write.calls).to.have.length(2);
      expect(read.calls).to.have.length(1);
      expect(await Promise.all(all.map(settle))).to.deep.equal([0, 0, 0, 0, 0]);
      const p = bdrvPwritev(bs, 0, 4096, b());
      expect(write.calls).to.have.length(3);
      expect(await p).to.equal(0);
    });

    it('a failed or short batch is retried request by request (EOF zero-fill per request)', async () => {
      const p = img('eof.img', pattern(6000, 4));
      const bs = await open(p, THREAD_POOL);
      const readv = countCalls('readv');
      const read = countCalls('read');
      restores.push(readv.restore, read.restore);
      const out = new Uint8Array(8192).fill(0xaa);
      ioPlug(bs);
      const r = [0, 1].map((i) =>
        fileDriver.preadv!(
          bs as BlockDriverState<FileState>,
          i * 4096,
          4096,
          IOVector.fromBuffer(out.subarray(i * 4096, (i + 1) * 4096)),
          0,
          0,
        ),
      );
      ioUnplug(bs);
      expect(await Promise.all(r.map(settle))).to.deep.equal([0, 0]);
      expect(readv.calls).to.have.length(1);
      expect(read.calls.length).to.be.at.least(2);
      expect(out.subarray(0, 6000)).to.deep.equal(pattern(6000, 4));
      expect(out.subarray(6000).every((x) => x === 0)).to.equal(true);

      const origWritev = fileIo.writev;
      restores.push(() => void (fileIo.writev = origWritev));
      fileIo.writev = (_fd, _b, _p, cb) => cb(Object.assign(new Error('EIO'), { code: 'EIO' }), 0);
      ioPlug(bs);
      const w = [0, 1].map((i) => bdrvPwritev(bs, i * 4096, 4096, IOVector.fromBuffer(pattern(4096, i))));
      ioUnplug(bs);
      expect(await Promise.all(w.map(settle))).to.deep.equal([0, 0]);
      expect(fs.readFileSync(p).subarray(4096, 8192)).to.deep.equal(Buffer.from(pattern(4096, 1)));
    });
  });

  describe('cache.direct (O_DIRECT)', () => {
    it('probes the request alignment and keeps data right with unaligned guest buffers', async () => {
      const p = img('direct.img', pattern(65536, 6));
      const bs = await open(p, { cache: { direct: true } });
      const s = bs.opaque as FileState;
      expect(s.direct).to.equal(true);
      expect([512, 1024, 2048, 4096]).to.include(bs.limits.requestAlignment);
      // Unaligned request on a plain (malloc'ed) buffer: padding + bounce buffers.
      const data = pattern(3000, 8);
      expect(await bdrvPwritev(bs, 100, 3000, IOVector.fromBuffer(data))).to.equal(0);
      const out = new Uint8Array(5000);
      expect(await bdrvPreadv(bs, 0, 5000, IOVector.fromBuffer(out))).to.equal(0);
      expect(out.subarray(100, 3100)).to.deep.equal(data);
      expect(out.subarray(0, 100)).to.deep.equal(pattern(65536, 6).subarray(0, 100));
      expect(out.subarray(3100)).to.deep.equal(pattern(65536, 6).subarray(3100, 5000));
      expect(bs.trackedRequests.size).to.equal(0);
    });

    it('learns that a misaligned guest buffer must be bounced (one refused attempt, then bounce)', async () => {
      const p = img('learn.img', pattern(65536, 2));
      const bs = await open(p, { cache: { direct: true } });
      const align = bs.limits.requestAlignment;
      const read = countCalls('read');
      restores.push(read.restore);
      // A page-aligned buffer shifted by 16 bytes is certainly misaligned.
      const mem = allocAligned(65536 + 4096);
      const view = mem.subarray(16, 16 + 4096);
      expect(await bdrvPreadv(bs, 4096, 4096, IOVector.fromBuffer(view))).to.equal(0);
      expect(read.calls).to.have.length(2); // EINVAL, then through the bounce buffer
      expect(view).to.deep.equal(pattern(65536, 2).subarray(4096, 8192));
      expect(
        await bdrvPreadv(bs, 8192, 4096, IOVector.fromBuffer(mem.subarray(16 + 4096, 16 + 8192))),
      ).to.equal(0);
      expect(read.calls).to.have.length(3); // remembered: straight to the bounce buffer
      // An aligned buffer goes straight to the kernel.
      const aligned = mem.subarray(align * 16, align * 16 + 4096);
      expect(await bdrvPreadv(bs, 0, 4096, IOVector.fromBuffer(aligned))).to.equal(0);
      expect(read.calls).to.have.length(4);
      expect(read.calls[3][1]).to.equal(aligned);
      expect(aligned).to.deep.equal(pattern(65536, 2).subarray(0, 4096));
    });

    it('EINVAL on a buffer believed aligned (stale knowledge) falls back to the bounce buffer', async () => {
      const p = img('stale.img', pattern(65536, 3));
      const bs = await open(p, { cache: { direct: true } });
      const mem = allocAligned(65536);
      const view = mem.subarray(0, 4096);
      // Learned as good by a successful probe.
      expect(await bdrvPreadv(bs, 0, 4096, IOVector.fromBuffer(view))).to.equal(0);
      const orig = fileIo.read;
      restores.push(() => void (fileIo.read = orig));
      let refused = 0;
      fileIo.read = (fd, buf, off, len, pos, cb) => {
        // The kernel now refuses the guest buffer (e.g. knowledge learned for another alignment).
        if (buf.buffer === mem.buffer) {
          refused++;
          cb(Object.assign(new Error('EINVAL'), { code: 'EINVAL' }), 0);
          return;
        }
        orig(fd, buf, off, len, pos, cb);
      };
      expect(await bdrvPreadv(bs, 4096, 4096, IOVector.fromBuffer(view))).to.equal(0);
      expect(refused).to.equal(1);
      expect(view).to.deep.equal(pattern(65536, 3).subarray(4096, 8192));
    });

    it('an empty file gets the conservative 4096 alignment', async () => {
      const bs = await open(img('empty.img', 0), { cache: { direct: true } });
      expect(bs.limits.requestAlignment).to.equal(4096);
    });

    it('a file system without O_DIRECT support gives a clear ConfigError', async () => {
      const p = img('nodirect.img', 4096);
      const orig = fileIo.open;
      restores.push(() => void (fileIo.open = orig));
      fileIo.open = (pth, flags, mode, cb) => {
        if (flags & fs.constants.O_DIRECT)
          cb(Object.assign(new Error('EINVAL: invalid argument'), { code: 'EINVAL' }), -1);
        else orig(pth, flags, mode, cb);
      };
      const e: unknown = await open(p, { cache: { direct: true } }).catch((x: unknown) => x);
      expect(e).to.be.instanceOf(ConfigError);
      expect((e as Error).message).to.equal(
        `Could not open '${p}': the file system does not support O_DIRECT (cache.direct=on): Invalid argument`,
      );
    });
  });
});
