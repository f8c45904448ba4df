import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, Errno, IOVector, errnoName } from '@vmkit/core';
import {
  BlockGraph,
  bdrvFlush,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  blkdebugDriver,
  fileDriver,
  memoryDriver,
  rawDriver,
  type BlockDriverState,
  type MaybePromise,
} from '../src/index.js';
import { attachTestParent } from './helpers/fixtures.js';

const SIZE = 1 << 20;

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}
const ORIGINAL = pattern(SIZE, 1);

interface Stage {
  name: string;
  rule: Record<string, unknown>;
  /** The failing request; `top` is the raw node. */
  run: (top: BlockDriverState) => MaybePromise<number>;
  /** Bytes the failed request may have touched (everything else must be intact). */
  range: [number, number];
}

const data = (n: number): IOVector => IOVector.fromBuffer(pattern(n, 99));

const STAGES: Stage[] = [
  {
    name: 'read',
    rule: { event: 'read_aio', iotype: 'read' },
    run: (top) => bdrvPreadv(top, 8192, 4096, IOVector.fromBuffer(new Uint8Array(4096))),
    range: [0, 0],
  },
  {
    name: 'write',
    rule: { event: 'write_aio', iotype: 'write' },
    run: (top) => bdrvPwritev(top, 8192, 4096, data(4096)),
    range: [8192, 12288],
  },
  {
    name: 'RMW head read',
    rule: { event: 'pwritev_rmw_head', iotype: 'read' },
    run: (top) => bdrvPwritev(top, 0x1200, 0x200, data(0x200)),
    range: [0x1000, 0x2000],
  },
  {
    name: 'RMW tail read',
    rule: { event: 'pwritev_rmw_tail', iotype: 'read' },
    run: (top) => bdrvPwritev(top, 0x3200, 0x1000, data(0x1000)),
    range: [0x3000, 0x5000],
  },
  {
    name: 'write-zeroes',
    rule: { event: 'pwritev_zero', iotype: 'write-zeroes' },
    run: (top) => bdrvPwriteZeroes(top, 0x8000, 0x4000),
    range: [0x8000, 0xc000],
  },
  {
    name: 'flush',
    rule: { event: 'flush_to_disk', iotype: 'flush' },
    run: async (top) => {
      // A write first, so that the flush reaches the disk level (flushed_gen != write_gen).
      expect(
        await bdrvPwritev(top, 0x10000, 4096, IOVector.fromBuffer(ORIGINAL.subarray(0x10000, 0x11000))),
      ).to.equal(0);
      return bdrvFlush(top);
    },
    range: [0, 0],
  },
  {
    name: 'discard',
    rule: { event: 'none', iotype: 'discard' },
    run: (top) => bdrvPdiscard(top, 0x20000, 0x10000),
    range: [0x20000, 0x30000],
  },
];

type Image = 'memory' | 'file';

describe('faults: blkdebug errors at each stage of the request path', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-faults-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function setup(
    image: Image,
    rule: Record<string, unknown>,
  ): Promise<{ graph: BlockGraph; top: BlockDriverState }> {
    const graph = new BlockGraph({
      mainContext: new AioContext(),
      drivers: [memoryDriver, rawDriver, blkdebugDriver, fileDriver],
    });
    let imageOpts: Record<string, unknown>;
    if (image === 'file') {
      const p = path.join(dir, `img-${Math.random().toString(36).slice(2)}.raw`);
      fs.writeFileSync(p, ORIGINAL);
      imageOpts = { driver: 'file', 'node-name': 'img', filename: p };
    } else {
      imageOpts = { driver: 'memory', 'node-name': 'img', size: SIZE };
    }
    const top = await graph.openNode({
      driver: 'raw',
      'node-name': 'top',
      discard: 'unmap',
      file: { driver: 'blkdebug', 'node-name': 'dbg', align: 4096, image: imageOpts, 'inject-error': [rule] },
    });
    attachTestParent(graph, top, 'blk');
    top.unref();
    if (image === 'memory') {
      // Fill through the node below blkdebug so that no rule fires.
      expect(
        await bdrvPwritev(graph.requireNode('img'), 0, SIZE, IOVector.fromBuffer(ORIGINAL.slice())),
      ).to.equal(0);
    }
    return { graph, top };
  }

  async function contents(graph: BlockGraph): Promise<Uint8Array> {
    const out = new Uint8Array(SIZE);
    expect(await bdrvPreadv(graph.requireNode('img'), 0, SIZE, IOVector.fromBuffer(out))).to.equal(0);
    return out;
  }

  function expectNoLeaks(graph: BlockGraph): void {
    for (const bs of graph.nodes()) {
      expect(bs.trackedRequests.size, `${bs.nodeName} tracked requests`).to.equal(0);
      expect(bs.inFlight, `${bs.nodeName} in flight`).to.equal(0);
      expect(bs.serialisingInFlight, `${bs.nodeName} serialising`).to.equal(0);
    }
  }

  for (const image of ['memory', 'file'] as const) {
    for (const stage of STAGES) {
      for (const errno of [Errno.EIO, Errno.ENOSPC]) {
        for (const immediately of [false, true]) {
          const label = `${stage.name} on ${image}: ${errnoName(errno)}${immediately ? ' (immediately)' : ''}`;
          it(label, async () => {
            const { graph, top } = await setup(image, { ...stage.rule, errno, immediately });
            expect(await stage.run(top)).to.equal(-errno);
            expectNoLeaks(graph);
            const after = await contents(graph);
            const [from, to] = stage.range;
            expect(
              Buffer.compare(after.subarray(0, from), ORIGINAL.subarray(0, from)),
              'bytes before',
            ).to.equal(0);
            expect(Buffer.compare(after.subarray(to), ORIGINAL.subarray(to)), 'bytes after').to.equal(0);
            // The failure happened before the image was modified.
            expect(
              Buffer.compare(after.subarray(from, to), ORIGINAL.subarray(from, to)),
              'request range',
            ).to.equal(0);
          });
        }
      }
    }
  }

  it('a failed RMW does not block a later overlapping write (serialisation released)', async () => {
    const { graph, top } = await setup('memory', { event: 'pwritev_rmw_head', iotype: 'read', once: true });
    expect(await bdrvPwritev(top, 0x1200, 0x200, data(0x200))).to.equal(-Errno.EIO);
    expect(await bdrvPwritev(top, 0x1200, 0x200, data(0x200))).to.equal(0);
    const after = await contents(graph);
    expect(after.subarray(0x1200, 0x1400)).to.deep.equal(pattern(0x200, 99));
    expect(after.subarray(0x1000, 0x1200)).to.deep.equal(ORIGINAL.subarray(0x1000, 0x1200));
    expect(after.subarray(0x1400, 0x2000)).to.deep.equal(ORIGINAL.subarray(0x1400, 0x2000));
    expectNoLeaks(graph);
  });
});
