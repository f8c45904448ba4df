import { expect } from 'chai';
import { Errno, IOVector } from '@vmkit/core';
import {
  BlockStatus,
  bdrvBlockStatusAbove,
  bdrvFlush,
  bdrvIsAllocated,
  bdrvPreadv,
  bdrvPwritev,
  bdrvTruncate,
} from '../src/index.js';
import { buf, makeTestDriver, newGraph, settle, state } from './helpers/test-driver.js';
import { pattern, testNode } from './helpers/io-node.js';
import { attachTestParent } from './helpers/fixtures.js';

describe('io: flush', () => {
  it('read-only node → 0 without driver calls', async () => {
    const bs = await testNode({}, { 'read-only': true });
    expect(await bdrvFlush(bs)).to.equal(0);
    expect(state(bs).calls).to.have.length(0);
  });

  it('flush_to_disk is skipped when nothing was written since the last flush, and with cache no-flush', async () => {
    const bs = await testNode();
    await settle(bdrvPwritev(bs, 0, 512, buf(512)));
    expect(await bdrvFlush(bs)).to.equal(0);
    expect(bs.flushedGen).to.equal(bs.writeGen);
    expect(await bdrvFlush(bs)).to.equal(0);
    expect(
      state(bs)
        .calls.filter((c) => c.op.startsWith('flush'))
        .map((c) => c.op),
    ).to.deep.equal(['flushToOs', 'flushToDisk', 'flushToOs']);
    const unsafe = await testNode({}, { cache: { 'no-flush': true } });
    await settle(bdrvPwritev(unsafe, 0, 512, buf(512)));
    expect(await bdrvFlush(unsafe)).to.equal(0);
    expect(
      state(unsafe)
        .calls.filter((c) => c.op.startsWith('flush'))
        .map((c) => c.op),
    ).to.deep.equal(['flushToOs']);
  });

  it('only one flush is active per node; later flushes wait', async () => {
    const bs = await testNode();
    await settle(bdrvPwritev(bs, 0, 512, buf(512)));
    state(bs).hold = true;
    const f1 = bdrvFlush(bs);
    const f2 = bdrvFlush(bs);
    await new Promise((r) => setImmediate(r));
    expect(state(bs).held).to.have.length(1);
    expect(bs.flushQueue).to.have.length(1);
    state(bs).release();
    await new Promise((r) => setImmediate(r));
    state(bs).release();
    await new Promise((r) => setImmediate(r));
    state(bs).release();
    expect(await f1).to.equal(0);
    expect(await f2).to.equal(0);
    expect(bs.activeFlush).to.equal(false);
  });

  it('children whose edge writes are flushed; driver errors propagate', async () => {
    const { graph } = newGraph();
    const child = await graph.openNode({ driver: 'test', 'node-name': 'c' });
    const raw = await graph.openNode({ driver: 'raw', file: 'c' });
    attachTestParent(graph, raw, 'b');
    await settle(bdrvPwritev(raw, 0, 512, buf(512)));
    expect(await bdrvFlush(raw)).to.equal(0);
    expect(state(child).ops('flushToDisk')).to.have.length(1);
    state(child).errors.set('flushToDisk', { ret: -Errno.EIO, sticky: false });
    await settle(bdrvPwritev(raw, 0, 512, buf(512)));
    expect(await bdrvFlush(raw)).to.equal(-Errno.EIO);
  });
});

describe('io: block status and allocation (§5 rules)', () => {
  it('is_allocated: 0 unallocated, 1 without block_status, 0 for bytes=0, 0 beyond EOF', async () => {
    const bs = await testNode();
    expect((await bdrvIsAllocated(bs, 0, 512)).ret).to.equal(0);
    await settle(bdrvPwritev(bs, 0, 512, buf(512)));
    expect(await bdrvIsAllocated(bs, 0, 1024)).to.deep.equal({ ret: 1, pnum: 512 });
    expect((await bdrvIsAllocated(bs, 0, 0)).ret).to.equal(0);
    expect((await bdrvIsAllocated(bs, 1 << 20, 512)).ret).to.equal(0);
    const { graph } = newGraph();
    graph.registerDriver({ ...makeTestDriver('nostatus'), blockStatus: undefined });
    const n = await graph.openNode({ driver: 'nostatus' });
    expect((await bdrvIsAllocated(n, 0, 512)).ret).to.equal(1);
  });

  it('block status looks through filters and backing files', async () => {
    const { graph } = newGraph();
    const base = await graph.openNode({ driver: 'test', 'node-name': 'base' });
    await settle(bdrvPwritev(base, 4096, 512, buf(512, 3)));
    const top = await graph.openNode({ driver: 'test', 'node-name': 'top', backing: 'base' });
    const r = await bdrvBlockStatusAbove(top, null, false, true, 4096, 1024);
    expect(r.status & BlockStatus.ALLOCATED).to.equal(BlockStatus.ALLOCATED);
    expect(r.pnum).to.equal(512);
    expect(r.depth).to.equal(2);
    const r2 = await bdrvBlockStatusAbove(top, null, false, true, 0, 1024);
    expect(r2.status & BlockStatus.ALLOCATED).to.equal(0);
  });
});

describe('io: truncate (§5)', () => {
  it('0 to 65536; -EINVAL negative; -EACCES read-only', async () => {
    const bs = await testNode({}, {}, 4096);
    expect(await bdrvTruncate(bs, 65536)).to.equal(0);
    expect(bs.totalBytes).to.equal(65536);
    expect(await bdrvTruncate(bs, -1)).to.equal(-Errno.EINVAL);
    const ro = await testNode({}, { 'read-only': true });
    expect(await bdrvTruncate(ro, 65536)).to.equal(-Errno.EACCES);
  });
});

describe('io: copy-on-read', () => {
  it('unallocated clusters are read and written back (WRITE_UNCHANGED, cor_write), serialising at cluster size', async () => {
    const { graph } = newGraph();
    const base = await graph.openNode({ driver: 'test', 'node-name': 'base' });
    state(base).data.set(pattern(65536, 9));
    const top = await graph.openNode({ driver: 'test', 'node-name': 'top', backing: 'base' });
    state(top).clusterSize = 4096;
    top.copyOnRead = 1;
    const out = new Uint8Array(100);
    expect(await settle(bdrvPreadv(top, 5000, 100, IOVector.fromBuffer(out)))).to.equal(0);
    expect(Buffer.from(out).equals(Buffer.from(pattern(65536, 9).subarray(5000, 5100)))).to.equal(true);
    const writes = state(top).ops('write');
    expect(writes.map((c) => [c.offset, c.bytes])).to.deep.equal([[4096, 4096]]);
    expect(state(top).events).to.include('cor_write');
    expect((await bdrvIsAllocated(top, 4096, 4096)).ret).to.equal(1);
  });
});
