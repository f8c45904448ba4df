import { expect } from 'chai';
import { BlockError, Errno, IOThread } from '@vmkit/core';
import { BlockBackend, Perm, RequestFlags, type BlockDriver } from '../src/index.js';
import { bbBackend, bbNode, newEnv, settle, vec } from './helpers-backend/bb-driver.js';

const EIO = -Errno.EIO;
const ENOMEDIUM = -Errno.ENOMEDIUM;

describe('BlockBackend request checks and results (reference §5)', () => {
  describe('blk_check_byte_request, in QEMU order', () => {
    it('1. a negative length is -EIO, even without medium', async () => {
      const env = newEnv();
      const blk = new BlockBackend(env.graph);
      expect(await blk.coPreadv(0, -1, vec(0))).to.equal(EIO);
      expect(await blk.coPdiscard(0, -1)).to.equal(EIO);
    });

    it('2. no medium (no node, or the tray is open) is -ENOMEDIUM, before the offset is looked at', async () => {
      const env = newEnv();
      const empty = new BlockBackend(env.graph);
      expect(await empty.coPreadv(-2, 512, vec(512))).to.equal(ENOMEDIUM);
      expect(await empty.coPwritev(0, 512, vec(512))).to.equal(ENOMEDIUM);
      expect(await empty.coPdiscard(0, 512)).to.equal(ENOMEDIUM);
      const { blk } = await bbBackend(env);
      let open = true;
      blk.attachDev({}, 'cd0');
      blk.setDevOps({ isTrayOpen: () => open });
      expect(blk.isInserted()).to.equal(true);
      expect(blk.isAvailable()).to.equal(false);
      expect(await blk.coPreadv(-2, 512, vec(512))).to.equal(ENOMEDIUM);
      expect(await blk.coFlush()).to.equal(ENOMEDIUM);
      open = false;
      expect(await blk.coPreadv(0, 512, vec(512))).to.equal(0);
    });

    it('3. a negative offset is -EIO', async () => {
      const env = newEnv();
      const { blk } = await bbBackend(env);
      expect(await blk.coPreadv(-2, 512, vec(512))).to.equal(EIO);
      expect(await blk.coPwritev(-512, 512, vec(512))).to.equal(EIO);
    });

    it('4. beyond the end is -EIO for reads and writes, unless writing beyond EOF is allowed', async () => {
      const env = newEnv();
      const { blk } = await bbBackend(env, {}, 65536);
      expect(await blk.coPreadv(65536, 512, vec(512))).to.equal(EIO);
      expect(await blk.coPreadv(65536 - 256, 512, vec(512))).to.equal(EIO);
      expect(await blk.coPreadv(65537, 0, vec(0))).to.equal(EIO);
      expect(await blk.coPreadv(65536, 0, vec(0))).to.equal(0);
      expect(await blk.coPwritev(65536, 512, vec(512))).to.equal(EIO);
      expect(await blk.coPdiscard(65536, 512)).to.equal(EIO);
      expect(await blk.coPwriteZeroes(65536, 512)).to.equal(EIO);
      blk.setAllowWriteBeyondEof(true);
      expect(await blk.coPwritev(65536, 512, vec(512, 3))).to.equal(0);
      expect(await blk.coGetLength()).to.equal(65536 + 512);
    });

    it('4. a length error of the node is returned as it is', async () => {
      const env = newEnv();
      let len = 4096;
      const varlen: BlockDriver = {
        name: 'varlen',
        kind: 'protocol',
        hasVariableLength: true,
        open() {},
        getLength: () => len,
        preadv: () => 0,
      };
      env.graph.registerDriver(varlen);
      const bs = await env.graph.openNode({ driver: 'varlen', 'node-name': 'v' });
      const blk = BlockBackend.withNode(bs, { perm: Perm.CONSISTENT_READ });
      expect(await blk.coPreadv(0, 512, vec(512))).to.equal(0);
      len = -Errno.ENODEV;
      expect(await blk.coPreadv(0, 512, vec(512))).to.equal(-Errno.ENODEV);
    });

    it('flush and truncate only check for a medium', async () => {
      const env = newEnv();
      const blk = new BlockBackend(env.graph);
      expect(await blk.coFlush()).to.equal(ENOMEDIUM);
      expect(await blk.coTruncate(-1)).to.equal(ENOMEDIUM);
      expect(await blk.coGetLength()).to.equal(ENOMEDIUM);
      expect(blk.nbSectors()).to.equal(ENOMEDIUM);
    });
  });

  describe('test-block-iothread sync ops (a 64 KiB node, BlockBackend in an iothread)', () => {
    async function setup(readOnly = false, discard: 'unmap' | 'ignore' = 'ignore') {
      const env = newEnv();
      const iothread = new IOThread('io0', env.clock);
      const bs = await env.graph.openNode({
        driver: 'bbtest',
        'node-name': 'n',
        size: 65536,
        'read-only': readOnly,
        discard,
      });
      const blk = BlockBackend.withNode(bs, {
        perm: readOnly ? Perm.CONSISTENT_READ : Perm.ALL,
        sharedPerm: Perm.ALL,
      });
      bs.unref();
      blk.setAioContext(iothread);
      expect(bs.aioContext).to.equal(iothread);
      return { env, blk, bs };
    }

    it('pread/pwrite/preadv/pwritev/pwrite_zeroes of 512 bytes: 0 at offset 0, -EIO at -2', async () => {
      const { blk } = await setup();
      expect(await blk.coPreadv(0, 512, vec(512))).to.equal(0);
      expect(await blk.coPwritev(0, 512, vec(512))).to.equal(0);
      expect(await blk.coPwriteZeroes(0, 512)).to.equal(0);
      expect(await blk.coPreadv(-2, 512, vec(512))).to.equal(EIO);
      expect(await blk.coPwritev(-2, 512, vec(512))).to.equal(EIO);
      expect(await blk.coPwriteZeroes(-2, 512)).to.equal(EIO);
      // The _part variants: a qiov longer than the request.
      expect(await blk.coPreadv(0, 512, vec(1024))).to.equal(0);
      let aio: number | undefined;
      blk.aioPreadv(-2, vec(512), 0, (_: null, r: number) => (aio = r), null);
      await settle();
      expect(aio).to.equal(EIO);
    });

    it('pdiscard: 0 with discard=unmap, 0 (early success) without, -EIO at -2', async () => {
      for (const mode of ['unmap', 'ignore'] as const) {
        const { blk, bs } = await setup(false, mode);
        expect(await blk.coPdiscard(0, 512)).to.equal(0);
        expect(await blk.coPdiscard(-2, 512)).to.equal(EIO);
        const discards = (bs.opaque as { ops(op: string): unknown[] }).ops('discard').length;
        expect(discards).to.equal(mode === 'unmap' ? 1 : 0);
      }
    });

    it('truncate: 0 to 65536, -EINVAL for a negative size, -EACCES on a read-only node', async () => {
      const { blk } = await setup();
      expect(await blk.coTruncate(65536)).to.equal(0);
      expect(await blk.coTruncate(-1)).to.equal(-Errno.EINVAL);
      const ro = await setup(true);
      expect(await ro.blk.coTruncate(65536)).to.equal(-Errno.EACCES);
    });

    it('flush: 0, and 0 on a read-only node (early success)', async () => {
      const { blk } = await setup();
      expect(await blk.coFlush()).to.equal(0);
      const ro = await setup(true);
      expect(await ro.blk.coFlush()).to.equal(0);
    });

    it('a write without WRITE permission is -EPERM', async () => {
      const env = newEnv();
      const { blk } = await bbBackend(env, { perm: Perm.CONSISTENT_READ });
      expect(await blk.coPwritev(0, 512, vec(512))).to.equal(-Errno.EPERM);
    });
  });

  describe('write cache and FUA', () => {
    it('with the write cache off every write carries FUA (emulated by a flush below)', async () => {
      const env = newEnv();
      const { blk, s } = await bbBackend(env);
      await blk.write(0, new Uint8Array(512));
      expect(s.ops('flush').length).to.equal(0);
      blk.setEnableWriteCache(false);
      await blk.write(0, new Uint8Array(512));
      expect(s.ops('flush').length).to.equal(1);
      await blk.writeZeroes(0, 512);
      expect(s.ops('flush').length).to.equal(2);
    });

    it('a driver that honours FUA receives the flag', async () => {
      const env = newEnv();
      const bs = await env.graph.openNode({ driver: 'memory', 'node-name': 'm', size: 65536 });
      const seen: number[] = [];
      const drv = bs.driver;
      const orig = drv.pwritev!.bind(drv);
      const spy = { ...drv, pwritev: (...a: Parameters<typeof orig>) => (seen.push(a[5]), orig(...a)) };
      (bs as { driver: unknown }).driver = spy;
      const blk = BlockBackend.withNode(bs);
      blk.setEnableWriteCache(false);
      await blk.write(0, new Uint8Array(512));
      expect(seen).to.deep.equal([RequestFlags.FUA]);
    });
  });

  describe('convenience API', () => {
    it('read/write round trip and BlockError texts', async () => {
      const env = newEnv();
      const { blk } = await bbBackend(env, {}, 65536);
      await blk.write(4096, new Uint8Array([1, 2, 3, 4]));
      expect([...(await blk.read(4096, 4))]).to.deep.equal([1, 2, 3, 4]);
      let error: unknown;
      try {
        await blk.read(65536, 512);
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(BlockError);
      expect((error as BlockError).message).to.equal('read failed: Input/output error');
      expect((error as BlockError).code).to.equal('EIO');
      const empty = new BlockBackend(env.graph);
      for (const [what, run] of [
        ['write failed', () => empty.write(0, new Uint8Array(1))],
        ['flush failed', () => empty.flush()],
        ['discard failed', () => empty.discard(0, 512)],
        ['write zeroes failed', () => empty.writeZeroes(0, 512)],
        ['truncate failed', () => empty.truncate(512)],
        ['getlength failed', () => empty.getLength()],
      ] as const) {
        let e2: unknown;
        try {
          await run();
        } catch (e) {
          e2 = e;
        }
        expect((e2 as Error).message).to.equal(`${what}: No medium found`);
      }
      let e3: unknown;
      try {
        await blk.read(0, -1);
      } catch (e) {
        e3 = e;
      }
      expect((e3 as BlockError).errno).to.equal(Errno.EIO);
    });

    it('limits reported to devices', async () => {
      const env = newEnv();
      const empty = new BlockBackend(env.graph);
      expect([empty.requestAlignment, empty.maxTransfer]).to.deep.equal([512, 0x7fffffff]);
      const bs = await bbNode(env.graph, 'x', 8192);
      const blk = BlockBackend.withNode(bs);
      expect(blk.requestAlignment).to.equal(1);
      expect(blk.nbSectors()).to.equal(16);
    });
  });
});
