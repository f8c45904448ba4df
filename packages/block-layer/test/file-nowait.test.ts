/**
 * The file driver's inline page-cache I/O (RWF_NOWAIT first, thread pool for the rest): when it is
 * tried, what each host answer leads to, and that the data stays right whatever the host answers.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, ConfigError, Errno, IOVector } from '@vmkit/core';
import { HostErrno } from '@vmkit/host-io';
import {
  BlockGraph,
  bdrvPreadv,
  bdrvPwritev,
  fileDriver,
  fileIo,
  ioPlug,
  ioUnplug,
  rawDriver,
  RequestFlags,
  type BlockDriverState,
  type FileIoCalls,
  type FileState,
  type MaybePromise,
} from '../src/index.js';
import { NOWAIT_MAX_BYTES, NowaitGate } from '../src/drivers/file-nowait.js';

const KiB = 1024;
const settle = async (r: MaybePromise<number>): Promise<number> => r;

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

type NowaitCall = FileIoCalls['preadvNowait'];
type FsCall = 'read' | 'readv' | 'write' | 'writev';

/** A host that does RWF_NOWAIT (whatever this machine's file system does): the sync fs calls. */
const emulatedRead: NowaitCall = (fd, views, pos) => fs.readvSync(fd, views, pos);
const emulatedWrite: NowaitCall = (fd, views, pos) => fs.writevSync(fd, views, pos);

/** The first `n` bytes of `views`. */
function truncateViews(views: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of views) {
    if (n <= 0) break;
    out.push(v.subarray(0, Math.min(n, v.length)));
    n -= v.length;
  }
  return out;
}

const total = (views: readonly Uint8Array[]): number => views.reduce((a, v) => a + v.length, 0);

describe('file driver: inline page-cache I/O (nowait)', () => {
  let dir: string;
  let graph: BlockGraph;
  const restores: Array<() => void> = [];
  /** Calls of the thread-pool data path, and of the inline hooks. */
  let pool: Record<FsCall, number>;
  let inline: { read: number; write: number; views: Uint8Array[][] };

  /** Replaces the inline hooks (default: count and pass to the real host) and counts fs calls. */
  function hooks(read?: NowaitCall, write?: NowaitCall): void {
    const orig = { ...fileIo };
    restores.push(() => Object.assign(fileIo, orig));
    pool = { read: 0, readv: 0, write: 0, writev: 0 };
    inline = { read: 0, write: 0, views: [] };
    for (const k of ['read', 'readv', 'write', 'writev'] as const) {
      const f = orig[k] as (...a: unknown[]) => void;
      (fileIo as unknown as Record<string, unknown>)[k] = (...a: unknown[]): void => {
        pool[k]++;
        f(...a);
      };
    }
    const r = read ?? orig.preadvNowait;
    const w = write ?? orig.pwritevNowait;
    fileIo.preadvNowait = (fd, views, pos) => {
      inline.read++;
      inline.views.push([...views]);
      return r(fd, views, pos);
    };
    fileIo.pwritevNowait = (fd, views, pos) => {
      inline.write++;
      return w(fd, views, pos);
    };
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-nowait-'));
    graph = new BlockGraph({ mainContext: new AioContext(), drivers: [fileDriver, rawDriver] });
  });
  afterEach(async () => {
    for (const r of restores.splice(0).reverse()) r();
    for (const bs of graph.nodes()) {
      if (!bs.deleted && bs.parents.length === 0 && bs.refcount > 0) {
        bs.unref();
        await bs.closing;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function img(name: string, content: Uint8Array): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  }

  async function open(
    filename: string,
    extra: Record<string, unknown> = {},
  ): Promise<BlockDriverState<FileState>> {
    return (await graph.openNode({ driver: 'file', filename, ...extra })) as BlockDriverState<FileState>;
  }

  const driverRead = (
    bs: BlockDriverState<FileState>,
    offset: number,
    out: Uint8Array,
  ): MaybePromise<number> => fileDriver.preadv!(bs, offset, out.length, IOVector.fromBuffer(out), 0, 0);
  const driverWrite = (
    bs: BlockDriverState<FileState>,
    offset: number,
    data: Uint8Array,
    flags = 0,
  ): MaybePromise<number> =>
    fileDriver.pwritev!(bs, offset, data.length, IOVector.fromBuffer(data), 0, flags);

  describe('options and query', () => {
    it('nowait defaults to on, accepts on/off/true/false and booleans, and query reports it', async () => {
      const p = img('o.img', new Uint8Array(4096));
      const cases: Array<[unknown, boolean]> = [
        [undefined, true],
        ['on', true],
        ['off', false],
        ['true', true],
        ['false', false],
        [true, true],
        [false, false],
      ];
      for (const [v, want] of cases) {
        const bs = await open(p, v === undefined ? {} : { nowait: v });
        expect(bs.opaque.nowait, String(v)).to.equal(want);
        expect(fileDriver.info!(bs).formatSpecific).to.deep.include({ nowait: want });
        bs.unref();
        await bs.closing;
      }
    });

    it('a bad value is a ConfigError naming the option', async () => {
      const p = img('bad.img', new Uint8Array(4096));
      for (const v of ['maybe', 1, '']) {
        const e: unknown = await open(p, { nowait: v }).catch((x: unknown) => x);
        expect(e)
          .to.be.instanceOf(ConfigError)
          .with.property('message', "Parameter 'nowait' expects 'on' or 'off'");
      }
    });

    it('cache.direct=on ignores it: never tried, query says nowait false', async () => {
      const data = pattern(64 * KiB, 3);
      const bs = await open(img('d.img', data), { cache: { direct: true }, nowait: 'on' });
      hooks();
      expect(bs.opaque.nowait).to.equal(false);
      expect(fileDriver.info!(bs).formatSpecific).to.deep.include({ nowait: false, direct: true });
      const out = new Uint8Array(8 * KiB);
      expect(await settle(bdrvPreadv(bs, 4 * KiB, out.length, IOVector.fromBuffer(out)))).to.equal(0);
      expect(await settle(bdrvPwritev(bs, 0, 4096, IOVector.fromBuffer(pattern(4096, 9))))).to.equal(0);
      expect(inline).to.deep.include({ read: 0, write: 0 });
      expect(out).to.deep.equal(data.subarray(4 * KiB, 12 * KiB));
    });
  });

  describe('reads', () => {
    it('a page-cached read is served inline: synchronous result, no thread-pool call', async () => {
      const data = pattern(64 * KiB, 1);
      const bs = await open(img('r.img', data));
      hooks();
      const out = new Uint8Array(12 * KiB);
      const qiov = new IOVector([out.subarray(0, 100), out.subarray(100, 5000), out.subarray(5000)]);
      const r = fileDriver.preadv!(bs, 8 * KiB, out.length, qiov, 0, 0);
      expect(r).to.equal(0); // a plain number, not a promise
      expect(out).to.deep.equal(data.subarray(8 * KiB, 20 * KiB));
      expect(inline.read).to.equal(1);
      expect(inline.views[0].map((v) => v.length)).to.deep.equal([100, 4900, 7288]);
      expect(pool).to.deep.equal({ read: 0, readv: 0, write: 0, writev: 0 });
      // Through the generic layer too.
      const out2 = new Uint8Array(4 * KiB);
      expect(await settle(bdrvPreadv(bs, 0, out2.length, IOVector.fromBuffer(out2)))).to.equal(0);
      expect(out2).to.deep.equal(data.subarray(0, 4 * KiB));
      expect(inline.read).to.equal(2);
      expect(pool.read + pool.readv).to.equal(0);
      expect(bs.inFlight).to.equal(0);
    });

    it('-EAGAIN falls back to the thread pool, data right', async () => {
      const data = pattern(64 * KiB, 2);
      const bs = await open(img('a.img', data));
      hooks(() => -HostErrno.EAGAIN);
      const out = new Uint8Array(8 * KiB);
      const r = driverRead(bs, 4 * KiB, out);
      expect(r).to.be.instanceOf(Promise);
      expect(await r).to.equal(0);
      expect(out).to.deep.equal(data.subarray(4 * KiB, 12 * KiB));
      expect(inline.read).to.equal(1);
      expect(pool.read).to.equal(1);
      expect(bs.opaque.nowaitRead.enabled).to.equal(true);
    });

    it('a short inline read: the rest goes through the thread pool from where it stopped', async () => {
      const data = pattern(64 * KiB, 3);
      const bs = await open(img('s.img', data));
      const readPositions: number[] = [];
      hooks((fd, views, pos) => emulatedRead(fd, truncateViews(views, 5000), pos));
      const origRead = fileIo.read;
      fileIo.read = (fd, buf, off, len, pos, cb) => {
        readPositions.push(pos);
        origRead(fd, buf, off, len, pos, cb);
      };
      const out = new Uint8Array(12 * KiB).fill(0xee);
      const qiov = new IOVector([out.subarray(0, 3000), out.subarray(3000)]);
      expect(await settle(fileDriver.preadv!(bs, 1000, out.length, qiov, 0, 0))).to.equal(0);
      expect(out).to.deep.equal(data.subarray(1000, 1000 + 12 * KiB));
      expect(readPositions).to.deep.equal([6000]);
      expect(inline.read).to.equal(1);
    });

    it('a read at EOF: the thread-pool path zero-fills what the file does not have', async () => {
      const data = pattern(6000, 4);
      const bs = await open(img('eof.img', data));
      hooks();
      const out = new Uint8Array(4096).fill(0xee);
      expect(await settle(driverRead(bs, 4096, out))).to.equal(0);
      expect(out.subarray(0, 6000 - 4096)).to.deep.equal(data.subarray(4096));
      expect(out.subarray(6000 - 4096).every((b) => b === 0)).to.equal(true);
      expect(inline.read).to.equal(1);
    });

    for (const e of ['EOPNOTSUPP', 'EINVAL', 'ENOSYS'] as const) {
      it(`-${e} disables inline reads for this file only, not its writes nor other files`, async () => {
        const data = pattern(64 * KiB, 5);
        const p = img('n.img', data);
        const bs = await open(p);
        const other = await open(img('other.img', data));
        hooks(() => -HostErrno[e], emulatedWrite);
        const out = new Uint8Array(4096);
        for (let i = 0; i < 3; i++) {
          expect(await settle(driverRead(bs, i * 4096, out))).to.equal(0);
          expect(out).to.deep.equal(data.subarray(i * 4096, (i + 1) * 4096));
        }
        expect(inline.read).to.equal(1);
        expect(pool.read).to.equal(3);
        expect(bs.opaque.nowaitRead.enabled).to.equal(false);
        expect(bs.opaque.nowait).to.equal(true); // the option; query keeps reporting it
        expect(driverWrite(bs, 0, pattern(4096, 6))).to.equal(0);
        expect(inline.write).to.equal(1);
        await settle(driverRead(other, 0, out));
        expect(inline.read).to.equal(2);
      });
    }

    it('another error goes to the thread pool, which reports it as without nowait; the gate stays open', async () => {
      const bs = await open(img('e.img', pattern(8192, 1)));
      hooks(() => -HostErrno.EIO);
      fileIo.read = (_fd, _b, _o, _l, _p, cb) =>
        cb(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), 0);
      expect(await settle(driverRead(bs, 0, new Uint8Array(512)))).to.equal(-Errno.ENOSPC);
      expect(await settle(driverRead(bs, 0, new Uint8Array(512)))).to.equal(-Errno.ENOSPC);
      expect(inline.read).to.equal(2);
      expect(bs.opaque.nowaitRead.enabled).to.equal(true);
    });

    it('nowait=off never tries inline', async () => {
      const data = pattern(64 * KiB, 7);
      const bs = await open(img('off.img', data), { nowait: 'off' });
      hooks(emulatedRead, emulatedWrite);
      const out = new Uint8Array(4096);
      expect(await settle(driverRead(bs, 4096, out))).to.equal(0);
      expect(await settle(driverWrite(bs, 0, pattern(4096, 8)))).to.equal(0);
      expect(out).to.deep.equal(data.subarray(4096, 8192));
      expect(inline).to.deep.include({ read: 0, write: 0 });
      expect(pool.read + pool.write).to.equal(2);
    });

    it(`requests above ${NOWAIT_MAX_BYTES / KiB} KiB go to the thread pool`, async () => {
      const data = pattern(NOWAIT_MAX_BYTES * 2, 9);
      const bs = await open(img('big.img', data));
      hooks(emulatedRead);
      const out = new Uint8Array(NOWAIT_MAX_BYTES + 512);
      expect(await settle(driverRead(bs, 0, out))).to.equal(0);
      expect(out).to.deep.equal(data.subarray(0, out.length));
      expect(inline.read).to.equal(0);
      expect(driverRead(bs, 0, new Uint8Array(NOWAIT_MAX_BYTES))).to.equal(0);
      expect(inline.read).to.equal(1);
    });

    it('while requests are held in the queue, new ones queue behind them (submission order)', async () => {
      const data = pattern(NOWAIT_MAX_BYTES * 4, 10);
      const bs = await open(img('q.img', data));
      hooks(emulatedRead, emulatedWrite);
      ioPlug(bs);
      // Plugged with an empty queue, an inline request needs no batching: it completes at once.
      const small = new Uint8Array(4096);
      expect(driverRead(bs, 0, small)).to.equal(0);
      const big = new Uint8Array(NOWAIT_MAX_BYTES * 2);
      const first = driverRead(bs, 0, big); // too big for inline: held
      const second = driverWrite(bs, NOWAIT_MAX_BYTES * 3, pattern(4096, 11)); // must not overtake it
      expect(second).to.be.instanceOf(Promise);
      ioUnplug(bs);
      expect(await Promise.all([settle(first), settle(second)])).to.deep.equal([0, 0]);
      expect(big).to.deep.equal(data.subarray(0, big.length));
      expect(inline).to.deep.include({ read: 1, write: 0 });
    });
  });

  describe('writes', () => {
    it('an inline write completes synchronously and lands in the file', async () => {
      const p = img('w.img', new Uint8Array(64 * KiB));
      const bs = await open(p);
      hooks(undefined, emulatedWrite);
      const data = pattern(8 * KiB, 12);
      expect(driverWrite(bs, 4096, data)).to.equal(0);
      expect(inline.write).to.equal(1);
      expect(pool.write + pool.writev).to.equal(0);
      expect(fs.readFileSync(p).subarray(4096, 4096 + data.length)).to.deep.equal(Buffer.from(data));
    });

    it('a FUA write never goes inline (it would need RWF_DSYNC)', async () => {
      const p = img('fua.img', new Uint8Array(64 * KiB));
      const bs = await open(p);
      hooks(undefined, emulatedWrite);
      const data = pattern(4096, 13);
      expect(await settle(driverWrite(bs, 0, data, RequestFlags.FUA))).to.equal(0);
      expect(inline.write).to.equal(0);
      expect(pool.write).to.equal(1);
      expect(driverWrite(bs, 4096, data)).to.equal(0);
      expect(inline.write).to.equal(1);
      expect(fs.readFileSync(p).subarray(0, 4096)).to.deep.equal(Buffer.from(data));
    });

    it('a short inline write is continued by the thread pool', async () => {
      const p = img('sw.img', new Uint8Array(64 * KiB));
      const bs = await open(p);
      hooks(undefined, (fd, views, pos) => emulatedWrite(fd, truncateViews(views, 1000), pos));
      const data = pattern(8 * KiB, 14);
      expect(await settle(driverWrite(bs, 512, data))).to.equal(0);
      expect(fs.readFileSync(p).subarray(512, 512 + data.length)).to.deep.equal(Buffer.from(data));
      expect(inline.write).to.equal(1);
      expect(pool.write).to.equal(1);
    });

    it('on this host: a refused buffered RWF_NOWAIT write costs one system call per file', async () => {
      const p = img('host.img', new Uint8Array(64 * KiB));
      const bs = await open(p);
      hooks();
      for (let i = 0; i < 4; i++) {
        expect(await settle(driverWrite(bs, i * 4096, pattern(4096, i)))).to.equal(0);
      }
      // ext4 (Linux 6.18) refuses them (-EOPNOTSUPP); XFS/btrfs take them inline.
      if (bs.opaque.nowaitWrite.enabled) expect(inline.write).to.equal(4);
      else expect(inline.write).to.equal(1);
      expect(fs.readFileSync(p).subarray(12288, 16384)).to.deep.equal(Buffer.from(pattern(4096, 3)));
    });
  });

  describe('the -EAGAIN backoff (NowaitGate)', () => {
    it('after 4 misses in a row it skips 8, 16, 32, ... requests up to 1024, a hit resets it', () => {
      const g = new NowaitGate(true);
      const tried: number[] = [];
      for (let i = 1; i <= 200; i++) {
        if (g.admit()) {
          tried.push(i);
          g.miss();
        }
      }
      // 1-4 miss; skip 8 (5-12); 13 misses: skip 16 (14-29); 30: skip 32; 63: skip 64; 128: skip 128.
      expect(tried).to.deep.equal([1, 2, 3, 4, 13, 30, 63, 128]);
      let n = 0;
      for (let i = 0; i < 20_000; i++) {
        if (g.admit()) {
          n++;
          g.miss();
        }
      }
      expect(n).to.be.within(18, 22); // capped at one try per 1025 requests
      while (!g.admit());
      g.hit();
      const after: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        const ok = g.admit();
        after.push(ok);
        if (ok) g.miss();
      }
      expect(after).to.deep.equal([true, true, true, true, false]);
    });

    it('in the driver: a file that is never cached pays few wasted attempts', async () => {
      const bs = await open(img('cold.img', pattern(64 * KiB, 1)));
      hooks(() => -HostErrno.EAGAIN);
      const out = new Uint8Array(4096);
      for (let i = 0; i < 100; i++) expect(await settle(driverRead(bs, (i % 16) * 4096, out))).to.equal(0);
      expect(inline.read).to.equal(7); // 1-4, 13, 30, 63
      expect(pool.read).to.equal(100);
    });
  });

  it('property: mixed reads and writes with inline hits, short transfers and misses equal a model', async () => {
    const SIZE = 512 * KiB;
    type Outcome = 'ok' | 'short' | 'eagain' | 'error';
    const op = fc.record({
      write: fc.boolean(),
      offset: fc.integer({ min: 0, max: SIZE - 1 }),
      bytes: fc.oneof(
        fc.integer({ min: 1, max: 16 * KiB }),
        fc.integer({ min: 1, max: NOWAIT_MAX_BYTES + 32 * KiB }),
      ),
      split: fc.integer({ min: 1, max: 4 }),
      seed: fc.integer({ min: 0, max: 255 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 25 }),
        fc.array(fc.constantFrom<Outcome>('ok', 'short', 'eagain', 'error'), { minLength: 1, maxLength: 16 }),
        fc.integer({ min: 0, max: 0xffff }),
        async (ops, outcomes, shortSeed) => {
          const model = pattern(SIZE, 77);
          const p = img(`prop.img`, model);
          const bs = await open(p);
          let k = 0;
          const fake =
            (real: NowaitCall): NowaitCall =>
            (fd, views, pos) => {
              const o = outcomes[k++ % outcomes.length];
              if (o === 'eagain') return -HostErrno.EAGAIN;
              if (o === 'error') return -HostErrno.EIO;
              if (o === 'ok') return real(fd, views, pos);
              const short = (shortSeed * (k + 1)) % total(views);
              return short === 0 ? 0 : real(fd, truncateViews(views, short), pos);
            };
          hooks(fake(emulatedRead), fake(emulatedWrite));
          try {
            for (const o of ops) {
              const bytes = Math.min(o.bytes, SIZE - o.offset);
              const buf = o.write ? pattern(bytes, o.seed) : new Uint8Array(bytes).fill(0xee);
              const cut = Math.floor(bytes / o.split);
              const parts: Uint8Array[] = [];
              for (let i = 0; i < o.split - 1 && cut > 0; i++)
                parts.push(buf.subarray(i * cut, (i + 1) * cut));
              parts.push(buf.subarray(parts.length * cut));
              const qiov = new IOVector(parts);
              if (o.write) {
                expect(await settle(bdrvPwritev(bs, o.offset, bytes, qiov))).to.equal(0);
                model.set(buf, o.offset);
              } else {
                expect(await settle(bdrvPreadv(bs, o.offset, bytes, qiov))).to.equal(0);
                expect(
                  Buffer.from(buf).equals(Buffer.from(model.subarray(o.offset, o.offset + bytes))),
                ).to.equal(true);
              }
            }
            expect(Buffer.from(fs.readFileSync(p)).equals(Buffer.from(model))).to.equal(true);
            expect(bs.inFlight).to.equal(0);
          } finally {
            for (const r of restores.splice(0).reverse()) r();
            bs.unref();
            await bs.closing;
          }
        },
      ),
      { numRuns: 60, seed: 20250717 },
    );
  });
});
