import { expect } from 'chai';
import {
  RequestFlags,
  bdrvFlush,
  bdrvPwriteZeroes,
  bdrvPwritev,
  type BlockDriverState,
} from '../src/index.js';
import { buf, newGraph, settle, state } from './helpers/test-driver.js';

/** A `test` node: no native FUA (neither for writes nor for write-zeroes), flush_to_disk counted. */
async function testNode(): Promise<BlockDriverState> {
  const { graph } = newGraph();
  return graph.openNode({ driver: 'test', 'node-name': 'n', size: 65536 });
}

function flushesToDisk(bs: BlockDriverState): number {
  return state(bs).ops('flushToDisk').length;
}

describe('graph follow-ups: emulated FUA reaches the disk (deliberate deviation from QEMU)', () => {
  it('write, flush, FUA write: flushToDisk is called twice in total', async () => {
    const bs = await testNode();
    expect(await settle(bdrvPwritev(bs, 0, 512, buf(512, 1)))).to.equal(0);
    expect(await bdrvFlush(bs)).to.equal(0);
    expect(flushesToDisk(bs)).to.equal(1);
    expect(await settle(bdrvPwritev(bs, 0, 512, buf(512, 2), 0, RequestFlags.FUA))).to.equal(0);
    expect(flushesToDisk(bs)).to.equal(2);
    expect(state(bs).calls.map((c) => c.op)).to.deep.equal([
      'write',
      'flushToOs',
      'flushToDisk',
      'write',
      'flushToOs',
      'flushToDisk',
    ]);
    // The FUA flag itself never reaches a driver that cannot honour it.
    expect(state(bs).ops('write')[1].flags & RequestFlags.FUA).to.equal(0);
  });

  it('the very first write of a node, with FUA, is flushed to the disk', async () => {
    const bs = await testNode();
    expect(await settle(bdrvPwritev(bs, 0, 512, buf(512, 1), 0, RequestFlags.FUA))).to.equal(0);
    expect(flushesToDisk(bs)).to.equal(1);
  });

  it('FUA write-zeroes after a flush: one flush, and it reaches the disk', async () => {
    const bs = await testNode();
    expect(await bdrvFlush(bs)).to.equal(0);
    expect(await settle(bdrvPwriteZeroes(bs, 0, 1024, RequestFlags.FUA))).to.equal(0);
    expect(state(bs).ops('flushToOs')).to.have.length(2);
    expect(flushesToDisk(bs)).to.equal(1);
  });

  it('a flush that started while the FUA data was still on its way does not cover it', async () => {
    const bs = await testNode();
    state(bs).hold = true;
    const write = settle(bdrvPwritev(bs, 0, 512, buf(512, 3), 0, RequestFlags.FUA));
    await new Promise((r) => setImmediate(r));
    state(bs).hold = false;
    // Nothing written yet as far as the generations know: this flush may skip the disk.
    expect(await bdrvFlush(bs)).to.equal(0);
    const before = flushesToDisk(bs);
    state(bs).release();
    expect(await write).to.equal(0);
    expect(flushesToDisk(bs)).to.equal(before + 1);
  });

  it('a fragmented FUA write is flushed once, after its last fragment', async () => {
    const { graph } = newGraph();
    const bs = await graph.openNode({ driver: 'test', 'node-name': 'n', size: 65536 });
    state(bs).limits = { maxTransfer: 1024 };
    graph.refreshLimitsUp(bs);
    expect(await settle(bdrvPwritev(bs, 0, 4096, buf(4096, 1), 0, RequestFlags.FUA))).to.equal(0);
    expect(state(bs).calls.map((c) => c.op)).to.deep.equal([
      'write',
      'write',
      'write',
      'write',
      'flushToOs',
      'flushToDisk',
    ]);
  });
});
