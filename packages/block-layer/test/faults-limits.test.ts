/**
 * iotest 177 (request fragmentation under unusual limits): blkdebug with limit overrides over a
 * recording RAM image filled with 22s that discards whole 1M clusters like the test's qcow2
 * image; the same requests and the same final image contents, plus checks of what reached the
 * image.
 */
import { expect } from 'chai';
import { AioContext, IOVector } from '@vmkit/core';
import {
  BlockGraph,
  ChildRole,
  Perm,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  blkdebugDriver,
  memoryDriver,
  type BdrvChild,
  type BlockDriver,
  type BlockDriverState,
  type MemoryOptions,
  type MemoryState,
} from '../src/index.js';
import { TestParent } from './helpers/test-driver.js';

const M = 1 << 20;
const K = 1024;
const SIZE = 128 * M;

interface Call {
  op: 'read' | 'write' | 'zero' | 'discard';
  offset: number;
  bytes: number;
}

/** The memory driver, recording what reaches it. */
function recordingMemory(calls: Call[]): BlockDriver<MemoryState, MemoryOptions> {
  const m = memoryDriver;
  return {
    ...m,
    name: 'rec-memory',
    preadv(bs, offset, bytes, qiov, qo, flags) {
      calls.push({ op: 'read', offset, bytes });
      return m.preadv!(bs, offset, bytes, qiov, qo, flags);
    },
    pwritev(bs, offset, bytes, qiov, qo, flags) {
      calls.push({ op: 'write', offset, bytes });
      return m.pwritev!(bs, offset, bytes, qiov, qo, flags);
    },
    pwriteZeroes(bs, offset, bytes, flags) {
      calls.push({ op: 'zero', offset, bytes });
      return m.pwriteZeroes!(bs, offset, bytes, flags);
    },
    pdiscard(bs, offset, bytes) {
      calls.push({ op: 'discard', offset, bytes });
      // Like qcow2 with 1M clusters (the image of iotest 177): only whole clusters are freed.
      const start = Math.ceil(offset / M) * M;
      const end = Math.floor((offset + bytes) / M) * M;
      return end > start ? m.pdiscard!(bs, start, end - start) : 0;
    },
  };
}

describe('faults: iotest 177 limits (blkdebug align/max-transfer/write-zero/discard overrides)', function () {
  this.timeout(60000);
  let graph: BlockGraph;
  let calls: Call[];
  let img: BlockDriverState;

  before(async () => {
    calls = [];
    graph = new BlockGraph({
      mainContext: new AioContext(),
      drivers: [recordingMemory(calls), blkdebugDriver],
    });
    img = await graph.openNode({ driver: 'rec-memory', 'node-name': 'img', size: SIZE, discard: 'unmap' });
    // write -P 22 0 128M
    const fill = new Uint8Array(SIZE).fill(22);
    expect(await bdrvPwritev(img, 0, SIZE, IOVector.fromBuffer(fill))).to.equal(0);
  });
  beforeEach(() => {
    calls.length = 0;
  });

  /** Opens blkdebug over `img` with `limits`, runs `fn` on it through a parent edge, closes it. */
  async function withLimits(
    limits: Record<string, unknown>,
    fn: (c: BdrvChild) => Promise<void>,
  ): Promise<void> {
    const dbg = await graph.openNode({ driver: 'blkdebug', image: 'img', discard: 'unmap', ...limits });
    const user = new TestParent('qemu-io', graph.mainContext);
    const edge = graph.attachRootChild(
      dbg,
      'root',
      ChildRole.FILTERED | ChildRole.PRIMARY,
      user,
      Perm.ALL,
      Perm.ALL,
    );
    dbg.unref();
    try {
      await fn(edge);
    } finally {
      graph.unrefChild(edge);
    }
  }

  async function expectPattern(offset: number, bytes: number, byte: number): Promise<void> {
    const out = new Uint8Array(bytes);
    expect(await bdrvPreadv(img, offset, bytes, IOVector.fromBuffer(out))).to.equal(0);
    const same = Buffer.compare(out, new Uint8Array(bytes).fill(byte)) === 0;
    expect(
      same,
      `read -P ${byte} ${offset} ${bytes}: first mismatch at +${same ? -1 : out.findIndex((b) => b !== byte)}`,
    ).to.equal(true);
  }

  it('constrained alignment and max-transfer: write/read -P 33 1000 128k with align=4k,max-transfer=64k', async () => {
    await withLimits({ align: '4k', 'max-transfer': '64k' }, async (c) => {
      const data = new Uint8Array(128 * K).fill(33);
      expect(await bdrvPwritev(c, 1000, data.length, IOVector.fromBuffer(data))).to.equal(0);
      const out = new Uint8Array(128 * K);
      expect(await bdrvPreadv(c, 1000, out.length, IOVector.fromBuffer(out))).to.equal(0);
      expect(out.every((b) => b === 33)).to.equal(true);
    });
    expect(calls.length).to.be.greaterThan(2);
    for (const call of calls) {
      expect(call.offset % 4096, JSON.stringify(call)).to.equal(0);
      expect(call.bytes % 4096, JSON.stringify(call)).to.equal(0);
      expect(call.bytes, JSON.stringify(call)).to.be.at.most(64 * K);
    }
    // The widened write covers [0, 132K): three fragments of at most 64k.
    expect(calls.filter((c) => c.op === 'write').map((c) => [c.offset, c.bytes])).to.deep.equal([
      [0, 64 * K],
      [64 * K, 64 * K],
      [128 * K, 4 * K],
    ]);
  });

  it('write zero with constrained max-transfer: write -z 8003584 2093056 (align=512,max-transfer=64k,opt-write-zero=1M)', async () => {
    await withLimits({ align: 512, 'max-transfer': '64k', 'opt-write-zero': '1M' }, async (c) => {
      expect(await bdrvPwriteZeroes(c, 8003584, 2093056)).to.equal(0);
    });
    // Only the aligned megabyte reaches the image as write-zeroes; the rest is written as zero
    // buffers of at most max-transfer.
    expect(calls.filter((c) => c.op === 'zero')).to.deep.equal([{ op: 'zero', offset: 8 * M, bytes: M }]);
    const writes = calls.filter((c) => c.op === 'write');
    expect(writes.every((w) => w.bytes <= 64 * K)).to.equal(true);
    expect(writes.reduce((n, w) => n + w.bytes, 0)).to.equal(2093056 - M);
  });

  it('non-power-of-2 write zeroes limits: write -z 32M 32M (15M)', async () => {
    const limits = {
      align: 512,
      'opt-write-zero': '15M',
      'max-write-zero': '15M',
      'opt-discard': '15M',
      'max-discard': '15M',
    };
    await withLimits(limits, async (c) => {
      expect(await bdrvPwriteZeroes(c, 32 * M, 32 * M)).to.equal(0);
    });
    expect(calls.filter((c) => c.op === 'zero')).to.deep.equal([
      { op: 'zero', offset: 45 * M, bytes: 15 * M },
    ]);
  });

  it('non-power-of-2 discard limits: discard 80000001 30M (15M)', async () => {
    const limits = {
      align: 512,
      'opt-write-zero': '15M',
      'max-write-zero': '15M',
      'opt-discard': '15M',
      'max-discard': '15M',
    };
    await withLimits(limits, async (c) => {
      expect(await bdrvPdiscard(c, 80000001, 30 * M)).to.equal(0);
    });
    // The unaligned 511-byte head and 1-byte tail are refused by blkdebug (and ignored).
    expect(calls.filter((c) => c.op === 'discard').map((c) => [c.offset, c.bytes])).to.deep.equal([
      [80000512, 14371328],
      [94371840, 15 * M],
      [110100480, 1356800],
    ]);
  });

  it('verify image content', async () => {
    await expectPattern(0, 1000, 22);
    await expectPattern(1000, 128 * K, 33);
    await expectPattern(132072, 7871512, 22);
    await expectPattern(8003584, 2093056, 0);
    await expectPattern(10096640, 23457792, 22);
    await expectPattern(32 * M, 32 * M, 0);
    await expectPattern(64 * M, 13 * M, 22);
    await expectPattern(77 * M, 29 * M, 0);
    await expectPattern(106 * M, 22 * M, 22);
  });
});
