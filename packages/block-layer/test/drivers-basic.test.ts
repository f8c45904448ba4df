import { expect } from 'chai';
import { Errno, IOVector } from '@vmkit/core';
import {
  BlockStatus,
  ChildRole,
  MEMORY_CHUNK_SIZE,
  MemoryState,
  Perm,
  RequestFlags,
  bdrvBlockStatus,
  bdrvFlush,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  bdrvTruncate,
  bdrvGetLength,
} from '../src/index.js';
import { buf, newGraph, settle, state, TestParent } from './helpers/test-driver.js';
import { attachTestParent } from './helpers/fixtures.js';

describe('drivers: memory', () => {
  it('stores data sparsely; holes read as zeroes and report ZERO; discard frees chunks', async () => {
    const { graph } = newGraph();
    const bs = await graph.openNode({ driver: 'memory', size: '1M', discard: 'unmap' });
    expect(await bdrvGetLength(bs)).to.equal(1 << 20);
    const m = bs.opaque as MemoryState;
    expect(m.chunks.size).to.equal(0);
    expect(await settle(bdrvPwritev(bs, 70000, 3, IOVector.fromBuffer(Uint8Array.of(1, 2, 3))))).to.equal(0);
    expect(m.chunks.size).to.equal(1);
    const out = new Uint8Array(6);
    await settle(bdrvPreadv(bs, 69999, 6, IOVector.fromBuffer(out)));
    expect([...out]).to.deep.equal([0, 1, 2, 3, 0, 0]);
    const hole = await bdrvBlockStatus(bs, true, 0, 4096);
    expect(hole.status & (BlockStatus.ZERO | BlockStatus.DATA)).to.equal(BlockStatus.ZERO);
    const data = await bdrvBlockStatus(bs, true, MEMORY_CHUNK_SIZE, 4096);
    expect(data.status & BlockStatus.DATA).to.equal(BlockStatus.DATA);
    expect(await bdrvPdiscard(bs, MEMORY_CHUNK_SIZE, MEMORY_CHUNK_SIZE)).to.equal(0);
    expect(m.chunks.size).to.equal(0);
  });

  it('write-zeroes with MAY_UNMAP frees whole chunks; truncate shrinks and grows', async () => {
    const { graph } = newGraph();
    const bs = await graph.openNode({ driver: 'memory', size: 4 * MEMORY_CHUNK_SIZE, discard: 'unmap' });
    const m = bs.opaque as MemoryState;
    await settle(bdrvPwritev(bs, 0, 2 * MEMORY_CHUNK_SIZE, buf(2 * MEMORY_CHUNK_SIZE, 5)));
    expect(m.chunks.size).to.equal(2);
    await settle(bdrvPwriteZeroes(bs, 0, MEMORY_CHUNK_SIZE, RequestFlags.MAY_UNMAP));
    expect(m.chunks.size).to.equal(1);
    expect(await bdrvTruncate(bs, 100)).to.equal(0);
    expect(bs.totalBytes).to.equal(512);
    expect(await bdrvTruncate(bs, 1 << 20)).to.equal(0);
    const out = new Uint8Array(10);
    await settle(bdrvPreadv(bs, MEMORY_CHUNK_SIZE, 10, IOVector.fromBuffer(out)));
    expect(out.every((b) => b === 0)).to.equal(true);
  });

  it('refuses bad options', async () => {
    const { graph } = newGraph();
    let e: unknown;
    try {
      await graph.openNode({ driver: 'memory', size: -1 });
    } catch (err) {
      e = err;
    }
    expect(String(e)).to.contain("Parameter 'size' expects a non-negative number below 2^64");
  });
});

describe('drivers: null-co', () => {
  it('read-zeroes fills the buffer, otherwise it is untouched; writes are dropped', async () => {
    const { graph } = newGraph();
    const a = await graph.openNode({ driver: 'null-co', size: 4096 });
    const b = await graph.openNode({ driver: 'null-co', size: 4096, 'read-zeroes': true });
    const v = buf(512, 0xaa);
    expect(bdrvPreadv(a, 0, 512, v)).to.equal(0);
    expect(v.views[0][0]).to.equal(0xaa);
    expect(bdrvPreadv(b, 0, 512, v)).to.equal(0);
    expect(v.isZero()).to.equal(true);
    expect(bdrvPwritev(a, 0, 512, v)).to.equal(0);
    expect(await bdrvGetLength(a)).to.equal(4096);
    expect((await bdrvBlockStatus(b, true, 0, 512)).status & BlockStatus.ZERO).to.equal(BlockStatus.ZERO);
    const dflt = await graph.openNode({ driver: 'null-co' });
    expect(dflt.totalBytes).to.equal(2 ** 30);
  });

  it('latency-ns delays completion on the context clock', async () => {
    const { graph, clock } = newGraph();
    const n = await graph.openNode({ driver: 'null-co', 'latency-ns': 1000 });
    let done = false;
    const p = settle(bdrvPreadv(n, 0, 512, buf(512))).then((r) => {
      done = true;
      return r;
    });
    await clock.advance(999);
    expect(done).to.equal(false);
    await clock.advance(1);
    expect(await p).to.equal(0);
    expect(done).to.equal(true);
    const f = bdrvFlush(n);
    await clock.advance(1000);
    expect(await f).to.equal(0);
  });
});

describe('drivers: raw', () => {
  it('passes through to file (synchronously for a sync file) with read_aio/write_aio events on file', async () => {
    const { graph } = newGraph();
    const file = await graph.openNode({ driver: 'test', 'node-name': 'f', size: 8192 });
    const raw = await graph.openNode({ driver: 'raw', 'node-name': 'r', file: 'f' });
    attachTestParent(graph, raw, 'b');
    expect(raw.file!.role & ChildRole.FILTERED).to.equal(ChildRole.FILTERED);
    expect(await settle(bdrvPwritev(raw, 0, 512, buf(512, 3)))).to.equal(0);
    expect(await settle(bdrvPreadv(raw, 0, 512, buf(512)))).to.equal(0);
    // Over a synchronous file without debug hooks the whole stack answers synchronously.
    const mraw = await graph.openNode({ driver: 'raw', file: { driver: 'memory', size: 4096 } });
    expect(bdrvPreadv(mraw, 0, 512, buf(512))).to.equal(0);
    expect(state(file).events).to.include.members(['write_aio', 'read_aio']);
    expect(await bdrvGetLength(raw)).to.equal(8192);
  });

  it('offset/size window: mapping, bounds (-EINVAL reads, -ENOSPC writes), block status, no resize', async () => {
    const { graph } = newGraph();
    const file = await graph.openNode({ driver: 'test', 'node-name': 'f', size: 8192 });
    state(file).data.fill(1, 1024, 2048);
    const raw = await graph.openNode({
      driver: 'raw',
      'node-name': 'r',
      file: 'f',
      offset: 1024,
      size: 1024,
    });
    expect(raw.file!.role & ChildRole.DATA).to.equal(ChildRole.DATA);
    attachTestParent(graph, raw, 'b');
    expect(raw.totalBytes).to.equal(1024);
    const out = new Uint8Array(1024);
    expect(await settle(bdrvPreadv(raw, 0, 1024, IOVector.fromBuffer(out)))).to.equal(0);
    expect(out.every((b) => b === 1)).to.equal(true);
    expect(state(file).ops('read')[0].offset).to.equal(1024);
    expect(await bdrvTruncate(raw, 4096)).to.equal(-Errno.ENOTSUP);
    const st = await bdrvBlockStatus(raw, true, 0, 512);
    expect(st.status & BlockStatus.DATA).to.equal(0);
    expect(state(file).ops('status')[0].offset).to.equal(1024);
    const rawDrv = raw.driver;
    expect(await rawDrv.preadv!(raw, 1000, 100, buf(100), 0, 0)).to.equal(-Errno.EINVAL);
    expect(await rawDrv.pwritev!(raw, 1000, 100, buf(100), 0, 0)).to.equal(-Errno.ENOSPC);
  });

  it("QEMU's offset/size checks", async () => {
    const { graph } = newGraph();
    await graph.openNode({ driver: 'test', 'node-name': 'f', size: 8192 });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ offset: 9000 }, 'Offset (9000) cannot be greater than size of the containing file (8192)'],
      [
        { offset: 4096, size: 8192 },
        'The sum of offset (4096) and size (8192) has to be smaller or equal to the actual size of the containing file (8192)',
      ],
      [{ size: 1000 }, 'Specified size is not multiple of 512'],
    ];
    for (const [o, msg] of cases) {
      let e: unknown;
      try {
        await graph.openNode({ driver: 'raw', file: 'f', ...o });
      } catch (err) {
        e = err;
      }
      expect(String(e)).to.contain(msg);
    }
    expect(graph.requireNode('f').parents).to.have.length(0);
  });

  it('takes WRITE on file only when its parents want it', async () => {
    const { graph } = newGraph();
    await graph.openNode({ driver: 'test', 'node-name': 'f' });
    const raw = await graph.openNode({ driver: 'raw', file: 'f' });
    expect(raw.file!.perm & Perm.WRITE).to.equal(0);
    graph.attachRootChild(
      raw,
      'root',
      ChildRole.FILTERED | ChildRole.PRIMARY,
      new TestParent('b', graph.mainContext),
      Perm.WRITE | Perm.CONSISTENT_READ,
      Perm.ALL,
    );
    expect(raw.file!.perm & Perm.WRITE).to.equal(Perm.WRITE);
  });
});
