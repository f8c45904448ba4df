import { expect } from 'chai';
import { Errno, IOVector } from '@vmkit/core';
import {
  BDRV_REQUEST_MAX_BYTES,
  RequestFlags,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  checkQiovRequest,
  doPwriteZeroes,
  setSerialising,
  trackedRequestBegin,
  trackedRequestEnd,
} from '../src/index.js';
import { buf, newGraph, settle, state } from './helpers/test-driver.js';
import type { BlockDriverState } from '../src/index.js';
import { pattern, testNode } from './helpers/io-node.js';

describe('io: request checks (bdrv_check_qiov_request)', () => {
  it('negative, too large, qiov too small, > BDRV_REQUEST_MAX_BYTES → -EIO', async () => {
    const bs = await testNode();
    expect(await settle(bdrvPreadv(bs, -2, 512, buf(512)))).to.equal(-Errno.EIO);
    expect(await settle(bdrvPwritev(bs, -2, 512, buf(512)))).to.equal(-Errno.EIO);
    expect(await settle(bdrvPwriteZeroes(bs, -2, 512))).to.equal(-Errno.EIO);
    expect(await settle(bdrvPreadv(bs, 0, 1024, buf(512)))).to.equal(-Errno.EIO);
    expect(await settle(bdrvPreadv(bs, 0, 512, buf(512), 1))).to.equal(-Errno.EIO);
    expect(checkQiovRequest(2 ** 63, 0)).to.equal(-Errno.EIO);
    expect(checkQiovRequest(0, -1)).to.equal(-Errno.EIO);
    expect(await settle(bdrvPreadv(bs, 0, BDRV_REQUEST_MAX_BYTES + 512, new IOVector()))).to.equal(
      -Errno.EIO,
    );
    expect(await bdrvPdiscard(bs, -2, 512)).to.equal(-Errno.EIO);
    expect(state(bs).calls).to.have.length(0);
  });

  it('sync ops of 512 bytes at 0 succeed (§5 test-block-iothread)', async () => {
    const bs = await testNode();
    expect(await settle(bdrvPreadv(bs, 0, 512, buf(512)))).to.equal(0);
    expect(await settle(bdrvPwritev(bs, 0, 512, buf(512)))).to.equal(0);
    expect(await settle(bdrvPwriteZeroes(bs, 0, 512))).to.equal(0);
  });
});

describe('io: tracked and serialising requests', () => {
  it('the tracked list keeps begin order through deletes anywhere, and each request once', async () => {
    const bs = await testNode();
    const list = bs.trackedRequests;
    const [a, b, c, d] = [0, 1, 2, 3].map((i) => trackedRequestBegin(bs, i * 512, 512, 'write'));
    const offsets = (): number[] => [...list].map((r) => r.offset);
    expect([list.size, list.first]).to.deep.equal([4, a]);
    list.add(b); // already listed: no change
    expect(offsets()).to.deep.equal([0, 512, 1024, 1536]);
    trackedRequestEnd(b);
    expect(offsets()).to.deep.equal([0, 1024, 1536]);
    expect([list.has(b), list.delete(b), list.size]).to.deep.equal([false, false, 3]);
    trackedRequestEnd(a);
    trackedRequestEnd(d);
    expect([offsets(), list.first, list.has(c)]).to.deep.equal([[1024], c, true]);
    const other = (await testNode()).trackedRequests;
    other.add(c); // another node's request: refused
    expect([other.has(c), other.delete(c), other.size, list.has(c)]).to.deep.equal([false, false, 0, true]);
    const e = trackedRequestBegin(bs, 4096, 512, 'read');
    expect(offsets()).to.deep.equal([1024, 4096]);
    trackedRequestEnd(c);
    trackedRequestEnd(e);
    expect([list.size, list.first, offsets()]).to.deep.equal([0, null, []]);
  });

  it('a SERIALISING write makes an overlapping read wait; non-serialising requests do not', async () => {
    const bs = await testNode();
    state(bs).hold = true;
    const w1 = settle(bdrvPwritev(bs, 0, 512, buf(512, 1)));
    const w2 = settle(bdrvPwritev(bs, 0, 512, buf(512, 2)));
    await Promise.resolve();
    expect(state(bs).held).to.have.length(2); // plain writes do not wait for each other
    state(bs).release();
    await Promise.all([w1, w2]);
    const ws = settle(bdrvPwritev(bs, 0, 512, buf(512, 3), 0, RequestFlags.SERIALISING));
    await new Promise((r) => setImmediate(r));
    expect(bs.serialisingInFlight).to.equal(1);
    const r = settle(bdrvPreadv(bs, 256, 512, buf(512)));
    await new Promise((res) => setImmediate(res));
    expect(state(bs).held.map((h) => h.call.op)).to.deep.equal(['write']);
    state(bs).release();
    await ws;
    await new Promise((res) => setImmediate(res));
    state(bs).release();
    expect(await r).to.equal(0);
    expect(bs.inFlight).to.equal(0);
    expect(bs.trackedRequests.size).to.equal(0);
  });

  it('SERIALISING|NO_WAIT with a conflict → -EBUSY', async () => {
    const bs = await testNode();
    state(bs).hold = true;
    const w = settle(bdrvPwritev(bs, 0, 512, buf(512), 0, RequestFlags.SERIALISING));
    await new Promise((r) => setImmediate(r));
    const r = await settle(
      bdrvPwritev(bs, 0, 512, buf(512), 0, RequestFlags.SERIALISING | RequestFlags.NO_WAIT),
    );
    expect(r).to.equal(-Errno.EBUSY);
    state(bs).release();
    expect(await w).to.equal(0);
  });

  it('serialising widens the overlap range to the alignment', async () => {
    const bs = await testNode();
    const req = trackedRequestBegin(bs, 1000, 100, 'write');
    setSerialising(req, 4096);
    expect([req.overlapOffset, req.overlapBytes]).to.deep.equal([0, 4096]);
    setSerialising(req, 512);
    expect([req.overlapOffset, req.overlapBytes]).to.deep.equal([0, 4096]);
    trackedRequestEnd(req);
    expect(bs.serialisingInFlight).to.equal(0);
  });

  it('in_flight is counted around a yielding request', async () => {
    const bs = await testNode();
    state(bs).hold = true;
    const p = settle(bdrvPreadv(bs, 0, 512, buf(512)));
    expect(bs.inFlight).to.equal(1);
    expect(bs.trackedRequests.size).to.equal(1);
    state(bs).release();
    await p;
    expect(bs.inFlight).to.equal(0);
  });
});

describe('io: padding / read-modify-write', () => {
  it('an unaligned write inside one block does one merged RMW read, then writes the block', async () => {
    const bs = await testNode({ requestAlignment: 4096 });
    state(bs).data.set(pattern(65536));
    expect(
      await settle(bdrvPwritev(bs, 100, 200, IOVector.fromBuffer(new Uint8Array(200).fill(9)))),
    ).to.equal(0);
    expect(state(bs).calls.map((c) => [c.op, c.offset, c.bytes])).to.deep.equal([
      ['read', 0, 4096],
      ['write', 0, 4096],
    ]);
    expect(state(bs).events).to.deep.equal([
      'pwritev_rmw_head',
      'pwritev_rmw_tail',
      'pwritev_rmw_after_head',
      'pwritev_rmw_after_tail',
      'pwritev',
      'pwritev_done',
    ]);
    const expected = pattern(65536);
    expected.fill(9, 100, 300);
    expect(Buffer.from(state(bs).data).equals(Buffer.from(expected))).to.equal(true);
  });

  it('head and tail in different blocks are read separately (2·align buffer, no merge)', async () => {
    const bs = await testNode({ requestAlignment: 512 });
    expect(await settle(bdrvPwritev(bs, 100, 1000, buf(1000, 5)))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.op, c.offset, c.bytes])).to.deep.equal([
      ['read', 0, 512],
      ['read', 1024, 512],
      ['write', 0, 1536],
    ]);
    expect(state(bs).events.slice(0, 4)).to.deep.equal([
      'pwritev_rmw_head',
      'pwritev_rmw_after_head',
      'pwritev_rmw_tail',
      'pwritev_rmw_after_tail',
    ]);
  });

  it('head + bytes + tail == 2·align merges the reads', async () => {
    const bs = await testNode({ requestAlignment: 512 });
    expect(await settle(bdrvPwritev(bs, 100, 800, buf(800, 5)))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.op, c.offset, c.bytes])).to.deep.equal([
      ['read', 0, 1024],
      ['write', 0, 1024],
    ]);
  });

  it('reads are widened to the aligned range and return the right bytes', async () => {
    const bs = await testNode({ requestAlignment: 512 });
    state(bs).data.set(pattern(65536));
    const out = new Uint8Array(700);
    expect(await settle(bdrvPreadv(bs, 300, 700, IOVector.fromBuffer(out)))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.op, c.offset, c.bytes])).to.deep.equal([['read', 0, 1024]]);
    expect(Buffer.from(out).equals(Buffer.from(pattern(65536).subarray(300, 1000)))).to.equal(true);
  });

  it('a zero-length request at an unaligned offset returns 0 and does nothing', async () => {
    const bs = await testNode({ requestAlignment: 512 });
    expect(await settle(bdrvPreadv(bs, 3, 0, buf(0)))).to.equal(0);
    expect(await settle(bdrvPwritev(bs, 3, 0, buf(0)))).to.equal(0);
    expect(state(bs).calls).to.have.length(0);
    expect(bs.writeGen).to.equal(0);
  });

  it('unaligned write-zeroes: RMW head and tail, plain zero-write for the aligned middle', async () => {
    const bs = await testNode({ requestAlignment: 512 });
    state(bs).data.set(pattern(65536));
    expect(await settle(bdrvPwriteZeroes(bs, 100, 2000))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.op, c.offset, c.bytes])).to.deep.equal([
      ['read', 0, 512],
      ['read', 2048, 512],
      ['write', 0, 512],
      ['zero', 512, 1536],
      ['write', 2048, 512],
    ]);
    const expected = pattern(65536);
    expected.fill(0, 100, 2100);
    expect(Buffer.from(state(bs).data).equals(Buffer.from(expected))).to.equal(true);
  });
});

describe('io: read past EOF and fragmentation', () => {
  it('bytes beyond the end read as zeroes; reads split at max_transfer', async () => {
    const bs = await testNode({ maxTransfer: 1024 }, {}, 2560);
    state(bs).data.fill(7);
    const out = new Uint8Array(4096).fill(0xee);
    expect(await settle(bdrvPreadv(bs, 0, 4096, IOVector.fromBuffer(out)))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.offset, c.bytes])).to.deep.equal([
      [0, 1024],
      [1024, 1024],
      [2048, 512],
    ]);
    expect(out.subarray(0, 2560).every((b) => b === 7)).to.equal(true);
    expect(out.subarray(2560).every((b) => b === 0)).to.equal(true);
  });

  it('writes split at max_transfer; FUA emulated by one flush after the last fragment', async () => {
    const bs = await testNode({ maxTransfer: 1024 });
    expect(await settle(bdrvPwritev(bs, 0, 3000, buf(3000, 1), 0, RequestFlags.FUA))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.op, c.offset, c.bytes])).to.deep.equal([
      ['write', 0, 1024],
      ['write', 1024, 1024],
      ['write', 2048, 952],
      // The write is counted before its flush (a deliberate deviation from QEMU, which skips
      // flush_to_disk here because write_gen is bumped only after the driver call).
      ['flushToOs', 0, 0],
      ['flushToDisk', 0, 0],
    ]);
  });
});

describe('io: write-zeroes', () => {
  it('first chunk to the alignment boundary, then aligned chunks ≤ max_pwrite_zeroes, tail trimmed', async () => {
    const bs = await testNode({ pwriteZeroesAlignment: 4096, maxPwriteZeroes: 8192 });
    expect(await settle(bdrvPwriteZeroes(bs, 1000, 20000))).to.equal(0);
    expect(state(bs).calls.map((c) => [c.offset, c.bytes])).to.deep.equal([
      [1000, 3096],
      [4096, 8192],
      [12288, 8192],
      [20480, 520],
    ]);
  });

  it('-ENOTSUP falls back to writing zero buffers of ≤ max_transfer; NO_FALLBACK → -ENOTSUP', async () => {
    const bs = await testNode({ maxTransfer: 4096 });
    state(bs).zeroesSupported = false;
    state(bs).data.fill(1);
    expect(await settle(bdrvPwriteZeroes(bs, 0, 10000))).to.equal(0);
    expect(
      state(bs)
        .ops('write')
        .map((c) => [c.offset, c.bytes]),
    ).to.deep.equal([
      [0, 4096],
      [4096, 4096],
      [8192, 1808],
    ]);
    expect(
      state(bs)
        .data.subarray(0, 10000)
        .every((b) => b === 0),
    ).to.equal(true);
    expect(state(bs).data[10000]).to.equal(1);
    expect(await settle(bdrvPwriteZeroes(bs, 0, 512, RequestFlags.NO_FALLBACK))).to.equal(-Errno.ENOTSUP);
  });

  it('NO_FALLBACK on an unaligned request → -ENOTSUP; REGISTERED_BUF → -EINVAL', async () => {
    const bs = await testNode({ requestAlignment: 512 });
    expect(await settle(bdrvPwriteZeroes(bs, 1, 512, RequestFlags.NO_FALLBACK))).to.equal(-Errno.ENOTSUP);
    expect(await doPwriteZeroes(bs, 0, 512, RequestFlags.REGISTERED_BUF)).to.equal(-Errno.EINVAL);
  });

  it('MAY_UNMAP is dropped unless discard=unmap', async () => {
    const bs1 = await testNode();
    await settle(bdrvPwriteZeroes(bs1, 0, 512, RequestFlags.MAY_UNMAP));
    expect(state(bs1).calls[0].flags & RequestFlags.MAY_UNMAP).to.equal(0);
    const bs2 = await testNode({}, { discard: 'unmap' });
    await settle(bdrvPwriteZeroes(bs2, 0, 512, RequestFlags.MAY_UNMAP));
    expect(state(bs2).calls[0].flags & RequestFlags.MAY_UNMAP).to.equal(RequestFlags.MAY_UNMAP);
  });

  it('FUA the driver cannot do is emulated with one flush at the end', async () => {
    const bs = await testNode({ maxPwriteZeroes: 512 });
    expect(await settle(bdrvPwriteZeroes(bs, 0, 2048, RequestFlags.FUA))).to.equal(0);
    expect(state(bs).calls.map((c) => c.op)).to.deep.equal([
      'zero',
      'zero',
      'zero',
      'zero',
      'flushToOs',
      'flushToDisk',
    ]);
  });

  it('detect-zeroes turns an all-zero write into a zero-write (+MAY_UNMAP with unmap)', async () => {
    const bs = await testNode({}, { 'detect-zeroes': 'on' });
    expect(await settle(bdrvPwritev(bs, 0, 512, buf(512, 0)))).to.equal(0);
    expect(await settle(bdrvPwritev(bs, 512, 512, buf(512, 1)))).to.equal(0);
    expect(state(bs).calls.map((c) => c.op)).to.deep.equal(['zero', 'write']);
    expect(state(bs).events).to.include('pwritev_zero');
    const bs2 = await testNode({}, { discard: 'unmap', 'detect-zeroes': 'unmap' });
    await settle(bdrvPwritev(bs2, 0, 512, buf(512, 0)));
    expect(state(bs2).calls[0].flags & RequestFlags.MAY_UNMAP).to.equal(RequestFlags.MAY_UNMAP);
  });
});

describe('io: discard', () => {
  it('is a no-op (0) without discard=unmap, and for drivers without pdiscard', async () => {
    const bs = await testNode();
    expect(await bdrvPdiscard(bs, 0, 512)).to.equal(0);
    expect(state(bs).calls).to.have.length(0);
    const { graph } = newGraph();
    const n = await graph.openNode({ driver: 'null-co', discard: 'unmap' });
    expect(await bdrvPdiscard(n, 0, 512)).to.equal(0);
  });

  it('fragments at max(pdiscard_alignment, request_alignment) and max_pdiscard; never grows', async () => {
    const bs = await testNode({ pdiscardAlignment: 4096, maxPdiscard: 8192 }, { discard: 'unmap' });
    expect(await bdrvPdiscard(bs, 1000, 20000)).to.equal(0);
    expect(state(bs).calls.map((c) => [c.offset, c.bytes])).to.deep.equal([
      [1000, 3096],
      [4096, 8192],
      [12288, 8192],
      [20480, 520],
    ]);
    const gen = bs.writeGen;
    expect(await bdrvPdiscard(bs, 65536, 4096)).to.equal(0);
    expect(bs.totalBytes).to.equal(65536);
    expect(bs.writeGen).to.equal(gen + 1);
  });

  it('-ENOTSUP is ignored; -EINVAL on an unaligned head is ignored; other errors returned', async () => {
    const bs = await testNode({ pdiscardAlignment: 4096 }, { discard: 'unmap' });
    state(bs).errors.set('discard', { ret: -Errno.ENOTSUP, sticky: true });
    expect(await bdrvPdiscard(bs, 0, 8192)).to.equal(0);
    state(bs).errors.set('discard', { ret: -Errno.EINVAL, sticky: false, offset: 100 });
    expect(await bdrvPdiscard(bs, 100, 8092)).to.equal(0);
    state(bs).errors.set('discard', { ret: -Errno.EINVAL, sticky: false });
    expect(await bdrvPdiscard(bs, 0, 4096)).to.equal(-Errno.EINVAL);
    state(bs).errors.set('discard', { ret: -Errno.EIO, sticky: false });
    expect(await bdrvPdiscard(bs, 0, 4096)).to.equal(-Errno.EIO);
  });
});

describe('io: write completion', () => {
  it('write_gen counts every write (also failed); wr_highest_offset includes failed writes', async () => {
    const bs = await testNode();
    await settle(bdrvPwritev(bs, 0, 512, buf(512)));
    state(bs).errors.set('write', { ret: -Errno.EIO, sticky: false });
    expect(await settle(bdrvPwritev(bs, 4096, 512, buf(512)))).to.equal(-Errno.EIO);
    expect(bs.writeGen).to.equal(2);
    expect(bs.wrHighestOffset).to.equal(4608);
  });

  /** Runs `fn` with the test driver's fast path open (it has debugEvent, which closes it). */
  async function onFastPath(
    fn: (bs: BlockDriverState, drv: { pwritev?: unknown }) => Promise<void>,
  ): Promise<void> {
    const bs = await testNode();
    const drv = bs.driver as { debugEvent?: unknown; pwritev?: unknown };
    const { debugEvent, pwritev } = drv;
    drv.debugEvent = undefined;
    try {
      await fn(bs, drv);
    } finally {
      drv.debugEvent = debugEvent;
      drv.pwritev = pwritev;
    }
  }

  it('a fast-path write that yields is tracked until it settles, then counted like any write', () =>
    onFastPath(async (bs) => {
      state(bs).hold = true;
      const w = settle(bdrvPwritev(bs, 8192, 512, buf(512, 7)));
      expect(state(bs).held).to.have.length(1);
      expect(bs.inFlight).to.equal(1);
      expect([...bs.trackedRequests].map((r) => [r.type, r.offset, r.bytes])).to.deep.equal([
        ['write', 8192, 512],
      ]);
      expect(bs.writeGen).to.equal(0); // bdrv_co_write_req_finish runs when the driver is done
      state(bs).release();
      expect(await w).to.equal(0);
      expect([bs.inFlight, bs.trackedRequests.size, bs.writeGen, bs.wrHighestOffset]).to.deep.equal([
        0, 0, 1, 8704,
      ]);
      // A failed one: still counted, its error passed on; a read that yields is tracked the same way.
      state(bs).errors.set('write', { ret: -Errno.EIO, sticky: false });
      expect(await settle(bdrvPwritev(bs, 16384, 512, buf(512)))).to.equal(-Errno.EIO);
      expect([bs.inFlight, bs.trackedRequests.size, bs.writeGen, bs.wrHighestOffset]).to.deep.equal([
        0, 0, 2, 16896,
      ]);
      const r = settle(bdrvPreadv(bs, 8192, 512, buf(512)));
      expect([...bs.trackedRequests].map((t) => t.type)).to.deep.equal(['read']);
      state(bs).release();
      expect(await r).to.equal(0);
      expect([bs.inFlight, bs.trackedRequests.size, bs.writeGen]).to.deep.equal([0, 0, 2]);
    }));

  it('a driver promise that rejects is passed on as it came, and the request stops being tracked', () =>
    onFastPath(async (bs, drv) => {
      const bug = new Error('driver bug');
      drv.pwritev = () => Promise.reject(bug);
      let caught: unknown;
      await Promise.resolve(bdrvPwritev(bs, 0, 512, buf(512))).catch((e: unknown) => (caught = e));
      expect(caught).to.equal(bug);
      expect([bs.inFlight, bs.trackedRequests.size, bs.writeGen]).to.deep.equal([0, 0, 0]);
    }));

  it('a successful write past EOF grows the node and notifies parents', async () => {
    const { graph, ctx } = newGraph();
    const bs = await graph.openNode({ driver: 'test', size: 1024 });
    const { TestParent } = await import('./helpers/test-driver.js');
    const p = new TestParent('blk', ctx);
    const { ChildRole, Perm } = await import('../src/index.js');
    graph.attachRootChild(bs, 'root', ChildRole.FILTERED | ChildRole.PRIMARY, p, Perm.ALL, Perm.ALL);
    expect(await settle(bdrvPwritev(bs, 1024, 1000, buf(1000)))).to.equal(0);
    expect(bs.totalBytes).to.equal(2048);
    expect(p.resized).to.equal(1);
  });
});
