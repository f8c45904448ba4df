import { expect } from 'chai';
import sinon from 'sinon';
import type { IOVector } from '@vmkit/core';
import type { BlockAIOCB, BlockBackend, BlockCompletionFunc } from '@vmkit/block-layer';
import { BlkifOp, BlkifStatus, BLKIF_DISCARD_CHUNK_BYTES } from '../src/index.js';
import { BlkfrontIoError } from '../src/testing/index.js';
import { acct, BlockAcctType, connected, PROTOCOLS, same } from './helpers/connect.js';
import { MiB, pattern } from './helpers/rig.js';

const R = BlockAcctType.READ;
const W = BlockAcctType.WRITE;
const F = BlockAcctType.FLUSH;

describe('xen-block dataplane: I/O through the Blkfront', () => {
  for (const protocol of PROTOCOLS) {
    it(`${protocol}: READ, WRITE, FLUSH_DISKCACHE (pure and with data) and DISCARD; ids and ops echoed; bytes exact`, async () => {
      const { rig, dev, front, initial } = await connected({ front: { protocol } });
      const stats = dev.blk!.stats;

      // READ of 11 segments, byte for byte against the disk.
      expect(same(await front.read(8, 88), initial.subarray(8 * 512, 96 * 512))).to.equal(true);
      expect(acct(stats, R)).to.deep.include({ ops: 1, bytes: 88 * 512 });

      // WRITE of 11 segments, then checked on the node itself.
      const data = pattern(88 * 512, 21);
      await front.write(200, data);
      expect(same(await rig.readDisk('disk0', 200 * 512, 88 * 512), data)).to.equal(true);
      expect(acct(stats, W)).to.deep.include({ ops: 1, bytes: 88 * 512 });

      // Raw requests: ids above 2^53 and all-ones come back bit-exactly, with the operation.
      const page = front.allocDataPage(false);
      const rsp = await front.submit({
        operation: BlkifOp.READ,
        id: 0xffff_ffff_ffff_ffffn,
        sector: 16,
        segments: [{ gref: page.gref, firstSect: 2, lastSect: 5 }],
      });
      expect(rsp).to.deep.equal({
        id: 0xffff_ffff_ffff_ffffn,
        operation: BlkifOp.READ,
        status: BlkifStatus.OKAY,
      });
      // Sectors 16..19 land at bytes 1024..3071 of the page; the rest is untouched.
      const got = front.readDataPage(page);
      expect(same(got.subarray(1024, 3072), initial.subarray(16 * 512, 20 * 512))).to.equal(true);
      expect(
        got.subarray(0, 1024).every((b) => b === 0) && got.subarray(3072).every((b) => b === 0),
      ).to.equal(true);
      front.freeDataPage(page);

      // A pure flush: OKAY, not accounted.
      const flushed = await front.submit({ operation: BlkifOp.FLUSH_DISKCACHE, id: 0x8000_0000_0000_0001n });
      expect(flushed).to.deep.equal({ id: 0x8000_0000_0000_0001n, operation: 3, status: 0 });
      expect(acct(stats, F).ops).to.equal(0);

      // A flush with data: flush, then the write, accounted as FLUSH with its bytes.
      const src = front.allocDataPage(true, pattern(4096, 22));
      const fw = await front.submit({
        operation: BlkifOp.FLUSH_DISKCACHE,
        sector: 400,
        segments: [{ gref: src.gref, firstSect: 0, lastSect: 7 }],
      });
      expect(fw.status).to.equal(BlkifStatus.OKAY);
      front.freeDataPage(src);
      expect(same(await rig.readDisk('disk0', 400 * 512, 4096), pattern(4096, 22))).to.equal(true);
      expect(acct(stats, F)).to.deep.include({ ops: 1, bytes: 4096 });
      expect(acct(stats, W).ops).to.equal(1);

      // DISCARD of a 64 KiB-aligned range: OKAY, reads back as zeroes (memory node, discard=unmap).
      await front.discard(128, 256);
      expect((await rig.readDisk('disk0', 128 * 512, 256 * 512)).every((b) => b === 0)).to.equal(true);
      expect(acct(stats, BlockAcctType.UNMAP).ops).to.equal(0);

      // Unknown operations: ERROR, echoed.
      for (const op of [BlkifOp.WRITE_BARRIER, BlkifOp.RESERVED_1, BlkifOp.INDIRECT, 99, 255]) {
        expect(await front.submit({ operation: op, id: BigInt(op) << 56n })).to.deep.equal({
          id: BigInt(op) << 56n,
          operation: op,
          status: BlkifStatus.ERROR,
        });
      }
      expect(front.unexpectedResponses).to.deep.equal([]);
      await front.close();
      await rig.destroy();
    });
  }

  for (const protocol of PROTOCOLS) {
    for (const order of [0, 1, 4]) {
      it(`${protocol}, ${1 << order}-page ring: indexes start near 2^32 and wrap; 3 × ring size requests`, async () => {
        const size = 32 << order;
        const ringStart = (2 ** 32 - size / 2 - 3) >>> 0;
        const { rig, dev, front, initial } = await connected({
          front: { protocol, ringPageOrder: order, ringStart },
          iothread: order === 4,
          diskSize: 8 * MiB,
        });
        expect(front.info?.ringSize).to.equal(size);
        expect(dev.dataplane?.maxRequests).to.equal(size);
        // More requests than the ring holds: the Blkfront queues the rest until slots free up.
        const n = 3 * size;
        const writes = Array.from({ length: n }, (_, i) => front.write(i * 8, pattern(4096, 1000 + i)));
        await Promise.all(writes);
        const reads = await Promise.all(Array.from({ length: n }, (_, i) => front.read(i * 8, 8)));
        reads.forEach((r, i) => expect(same(r, pattern(4096, 1000 + i)), `request ${i}`).to.equal(true));
        // Past the written area the disk is as it was.
        expect(same(await front.read(n * 8, 8), initial.subarray(n * 4096, n * 4096 + 4096))).to.equal(true);
        // The free-running indexes wrapped past 2^32.
        expect(front.ring!.reqProdPvt).to.be.lessThan(ringStart);
        expect(front.ring!.rspCons).to.equal(front.ring!.reqProdPvt);
        expect(dev.dataplane!.requestsTotal).to.be.at.most(size);
        expect(front.unexpectedResponses).to.deep.equal([]);
        await front.close();
        await rig.destroy();
      });
    }
  }

  for (const [protocol, order, start] of [
    ['x86_32-abi', 1, 37],
    ['x86_64-abi', 2, 72],
  ] as const) {
    it(`${protocol}, ${1 << order} pages: an 11-segment request whose slot straddles a page boundary`, async () => {
      const { rig, front, initial } = await connected({
        front: { protocol, ringPageOrder: order, ringStart: start },
      });
      const stride = protocol === 'x86_32-abi' ? 108 : 112;
      const at = 64 + start * stride;
      expect(Math.floor(at / 4096)).to.not.equal(Math.floor((at + stride - 1) / 4096));
      // The first request (a read of 88 sectors: 11 segments, the last one in the next page) uses it.
      expect(same(await front.read(40, 88), initial.subarray(40 * 512, 128 * 512))).to.equal(true);
      // Wrap around to the same slot for a write.
      const size = front.info!.ringSize;
      for (let i = 1; i < size; i++) await front.flush();
      expect(front.ring!.reqProdPvt & (size - 1)).to.equal(start);
      const data = pattern(88 * 512, 31);
      await front.write(300, data);
      expect(same(await rig.readDisk('disk0', 300 * 512, 88 * 512), data)).to.equal(true);
      await front.close();
      await rig.destroy();
    });
  }

  it('a read-only grant as a read destination fails that request (ERROR, accounted failed); the backend carries on', async () => {
    const { rig, dev, front, initial } = await connected();
    const ro = front.allocDataPage(true);
    const rsp = await front.submit({
      operation: BlkifOp.READ,
      sector: 0,
      segments: [{ gref: ro.gref, firstSect: 0, lastSect: 7 }],
    });
    expect(rsp.status).to.equal(BlkifStatus.ERROR);
    expect(front.readDataPage(ro).every((b) => b === 0)).to.equal(true);
    expect(acct(dev.blk!.stats, R)).to.deep.include({ ops: 0, failed: 1, invalid: 0 });
    front.freeDataPage(ro);
    expect(same(await front.read(0, 8), initial.subarray(0, 4096))).to.equal(true);
    await front.close();
    await rig.destroy();
  });

  it('ungranted, revoked and foreign-domain refs fail the request with ERROR; the disk is untouched', async () => {
    const { rig, dev, front, initial } = await connected();
    const page = front.allocDataPage(true, pattern(4096, 40));
    const revoked = page.gref;
    front.freeDataPage(page);
    const foreign = rig.guest.grantAccess(5, 42); // granted to another domain
    for (const gref of [0, 7, revoked, foreign, 99999, 0xffffffff]) {
      const rsp = await front.submit({
        operation: BlkifOp.WRITE,
        sector: 64,
        segments: [{ gref, firstSect: 0, lastSect: 7 }],
      });
      expect(rsp.status, `gref ${gref}`).to.equal(BlkifStatus.ERROR);
    }
    // A write with a good first segment and a bad second one writes nothing either.
    const good = front.allocDataPage(true, pattern(4096, 41));
    const rsp = await front.submit({
      operation: BlkifOp.WRITE,
      sector: 64,
      segments: [
        { gref: good.gref, firstSect: 0, lastSect: 7 },
        { gref: foreign, firstSect: 0, lastSect: 7 },
      ],
    });
    expect(rsp.status).to.equal(BlkifStatus.ERROR);
    expect(
      same(await rig.readDisk('disk0', 64 * 512, 8192), initial.subarray(64 * 512, 64 * 512 + 8192)),
    ).to.equal(true);
    // Refused before any I/O: not accounted at all (QEMU's error path skips block_acct_start).
    expect(acct(dev.blk!.stats, W)).to.deep.equal({ bytes: 0, ops: 0, failed: 0, invalid: 0 });
    await front.close();
    await rig.destroy();
  });

  it('block-layer errors (blkdebug) answer ERROR and are accounted failed', async () => {
    const { rig } = await connected();
    await rig.machine.blockdevAdd({
      driver: 'raw',
      nodeName: 'dbg',
      file: {
        driver: 'blkdebug',
        image: { driver: 'memory', size: MiB },
        'inject-error': [
          { event: 'read_aio', errno: 'EIO', sector: 8 },
          { event: 'write_aio', errno: 'ENOSPC', sector: 16 },
        ],
      },
    });
    const dev = await rig.machine.deviceAdd<import('../src/index.js').XenBlockDevice>({
      type: 'xen-block',
      id: 'xvdb',
      vdev: 'xvdb',
      drive: 'dbg',
    });
    const front = rig.frontend({ devid: 51728 });
    await front.connect();
    const err = await front.read(8, 8).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BlkfrontIoError);
    expect((err as BlkfrontIoError).status).to.equal(BlkifStatus.ERROR);
    expect(acct(dev.blk!.stats, R)).to.deep.include({ ops: 0, failed: 1 });
    await front.read(0, 8);
    expect(acct(dev.blk!.stats, R)).to.deep.include({ ops: 1, failed: 1 });
    const werr = await front.write(16, pattern(4096, 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(werr).to.be.instanceOf(BlkfrontIoError);
    expect(acct(dev.blk!.stats, W)).to.deep.include({ ops: 0, failed: 1 });
    await front.close();
    await rig.destroy();
  });

  it('FLUSH_DISKCACHE with data: the presync flush completes before the write is issued', async () => {
    const { rig, dev, front } = await connected();
    const blk = dev.blk!;
    const order: string[] = [];
    let writes = 0;
    const origFlush = blk.aioFlush;
    const origWrite = blk.aioPwritev;
    blk.aioFlush = function <T>(this: BlockBackend, cb: BlockCompletionFunc<T>, opaque: T) {
      order.push('flush issued');
      const done = (o: T, ret: number): void => {
        order.push(`flush done (writes issued: ${writes})`);
        cb(o, ret);
      };
      return origFlush.call<BlockBackend, [BlockCompletionFunc<T>, T], BlockAIOCB>(this, done, opaque);
    };
    blk.aioPwritev = function <T>(
      this: BlockBackend,
      offset: number,
      qiov: IOVector,
      flags: number,
      cb: BlockCompletionFunc<T>,
      opaque: T,
    ) {
      writes++;
      order.push('write issued');
      return origWrite.call<BlockBackend, [number, IOVector, number, BlockCompletionFunc<T>, T], BlockAIOCB>(
        this,
        offset,
        qiov,
        flags,
        cb,
        opaque,
      );
    };
    const src = front.allocDataPage(true, pattern(4096, 50));
    const rsp = await front.submit({
      operation: BlkifOp.FLUSH_DISKCACHE,
      sector: 8,
      segments: [{ gref: src.gref, firstSect: 0, lastSect: 7 }],
    });
    expect(rsp.status).to.equal(BlkifStatus.OKAY);
    expect(order).to.deep.equal(['flush issued', 'flush done (writes issued: 0)', 'write issued']);
    expect(same(await rig.readDisk('disk0', 8 * 512, 4096), pattern(4096, 50))).to.equal(true);
    blk.aioFlush = origFlush;
    blk.aioPwritev = origWrite;
    await front.close();
    await rig.destroy();
  });

  it('DISCARD is split at 2147483136 bytes; past the end, wrapping or above INT64_MAX/512 is ERROR, never billions of chunks', async () => {
    const size = 5 * 2 ** 30; // 5 GiB, sparse
    const { rig, front } = await connected({ diskSize: MiB });
    await rig.addDisk('big', size);
    const big = await rig.machine.deviceAdd<import('../src/index.js').XenBlockDevice>({
      type: 'xen-block',
      id: 'xvdb',
      vdev: 'xvdb',
      drive: 'big',
    });
    const f2 = rig.frontend({ devid: 51728 });
    await f2.connect();
    // Data at both ends of a 3 GiB range, discarded in two chunks.
    const end = 3 * 2 ** 30;
    await f2.write(0, pattern(65536, 60));
    await f2.write((end - 65536) / 512, pattern(65536, 61));
    const spy = sinon.spy(big.blk!, 'aioPdiscard');
    await f2.discard(0, end / 512);
    expect(spy.args.map((a) => [a[0], a[1]])).to.deep.equal([
      [0, BLKIF_DISCARD_CHUNK_BYTES],
      [BLKIF_DISCARD_CHUNK_BYTES, end - BLKIF_DISCARD_CHUNK_BYTES],
    ]);
    expect((await f2.read(0, 128)).every((b) => b === 0)).to.equal(true);
    expect((await f2.read((end - 65536) / 512, 128)).every((b) => b === 0)).to.equal(true);
    spy.resetHistory();

    // The whole disk is fine; one sector more is ERROR and issues only the chunks on the disk.
    await f2.discard(0, size / 512);
    expect(spy.callCount).to.equal(3);
    spy.resetHistory();
    const bad = async (sector: bigint, count: bigint): Promise<number> =>
      (await f2.submit({ operation: BlkifOp.DISCARD, sector, nrSectors: count })).status;
    const calls = (): number => {
      const n = spy.callCount;
      spy.resetHistory();
      return n;
    };
    // Past the end by one sector: the two whole chunks before the end, then ERROR.
    expect(await bad(0n, BigInt(size / 512 + 1))).to.equal(BlkifStatus.ERROR);
    expect(calls()).to.equal(2);
    // 2^63 - 512 bytes (the largest range that does not overflow): still only those two chunks.
    expect(await bad(0n, 2n ** 54n - 1n)).to.equal(BlkifStatus.ERROR);
    expect(calls()).to.equal(2);
    expect(await bad(BigInt(size / 512), 1n)).to.equal(BlkifStatus.ERROR);
    expect(await bad(BigInt(size / 512) + 5n, 0n)).to.equal(BlkifStatus.ERROR);
    expect(await bad(2n ** 64n - 1n, 2n)).to.equal(BlkifStatus.ERROR); // wraps
    expect(await bad(2n ** 54n, 0n)).to.equal(BlkifStatus.ERROR); // above INT64_MAX / 512
    expect(calls()).to.equal(0);
    expect(await bad(BigInt(size / 512), 0n)).to.equal(BlkifStatus.OKAY); // empty, at the end
    expect(calls()).to.equal(1);
    spy.restore();
    await f2.close();
    await front.close();
    await rig.destroy();
  });

  it('the frontend is notified only when rsp_event asks for it (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY)', async () => {
    const { rig, dev, front } = await connected();
    const ring = front.ring!;
    // A frontend that does not want to be woken: rsp_event far behind.
    front.responseHook = () => undefined;
    ring.sring.rspEvent = (ring.rspCons - 1000) >>> 0;
    const before = dev.dataplane!.notifications;
    for (let i = 0; i < 10; i++) ring.pushRequest({ operation: BlkifOp.FLUSH_DISKCACHE, id: BigInt(i) });
    front.publish();
    await rig.settle();
    expect(ring.unconsumedResponses).to.equal(10);
    expect(dev.dataplane!.notifications).to.equal(before);
    // Asking for the 15th response: exactly one notification, when it is pushed.
    ring.sring.rspEvent = (ring.rspCons + 15) >>> 0;
    for (let i = 10; i < 20; i++) ring.pushRequest({ operation: BlkifOp.FLUSH_DISKCACHE, id: BigInt(i) });
    front.publish();
    await rig.settle();
    expect(ring.unconsumedResponses).to.equal(20);
    expect(dev.dataplane!.notifications).to.equal(before + 1);
    expect(ring.takeResponses().map((r) => r.id)).to.deep.equal(
      Array.from({ length: 20 }, (_, i) => BigInt(i)),
    );
    front.responseHook = null;
    await front.close();
    await rig.destroy();
  });
});
