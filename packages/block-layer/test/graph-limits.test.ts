import { expect } from 'chai';
import {
  BDRV_SECTOR_SIZE,
  IOV_MAX,
  ioPlug,
  ioUnplug,
  mergeLimits,
  emptyLimits,
  ChildRole,
} from '../src/index.js';
import { newGraph, state } from './helpers/test-driver.js';

describe('graph: limits (bdrv_refresh_limits)', () => {
  it('protocol defaults: alignment 1, max_iov IOV_MAX, mem alignment 512', async () => {
    const { graph } = newGraph();
    const n = await graph.openNode({ driver: 'memory', size: 4096 });
    expect(n.limits.requestAlignment).to.equal(1);
    expect(n.limits.maxIov).to.equal(IOV_MAX);
    expect(n.limits.minMemAlignment).to.equal(BDRV_SECTOR_SIZE);
  });

  it('merges from DATA/FILTERED/COW children: max of alignments, min-non-zero of transfers; request alignment not inherited', async () => {
    const { graph } = newGraph();
    await graph.openNode({ driver: 'memory', 'node-name': 'm', size: 1 << 20 });
    await graph.openNode({
      driver: 'limits',
      'node-name': 'l',
      file: 'm',
      requestAlignment: 4096,
      maxTransfer: 65536,
      pdiscardAlignment: 8192,
    });
    const raw = await graph.openNode({ driver: 'raw', 'node-name': 'r', file: 'l' });
    expect(raw.limits.maxTransfer).to.equal(65536);
    expect(raw.limits.pdiscardAlignment).to.equal(8192);
    expect(raw.limits.requestAlignment).to.equal(1);
    const a = emptyLimits();
    a.maxTransfer = 0;
    const b = emptyLimits();
    b.maxTransfer = 4096;
    b.maxIov = 7;
    mergeLimits(a, b);
    expect([a.maxTransfer, a.maxIov]).to.deep.equal([4096, 7]);
  });

  it('METADATA-only children do not contribute', async () => {
    const { graph } = newGraph();
    await graph.openNode({
      driver: 'limits',
      'node-name': 'l',
      file: await graph.openNode({ driver: 'memory', 'node-name': 'm', size: 512 }).then(() => 'm'),
      maxTransfer: 512,
    });
    const p = await graph.openNode({ driver: 'test-fmt', 'node-name': 'p' });
    graph.attachChild(p, graph.requireNode('l'), 'meta', ChildRole.METADATA);
    expect(p.limits.maxTransfer).to.equal(0);
  });

  it('request_alignment > 2^30 is refused', async () => {
    const { graph } = newGraph();
    await graph.openNode({ driver: 'memory', 'node-name': 'm', size: 512 });
    let err: unknown;
    try {
      await graph.openNode({ driver: 'limits', file: 'm', requestAlignment: 2 ** 31 });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain('Driver requires too large request alignment');
    expect(graph.requireNode('m').parents).to.have.length(0);
  });
});

describe('plug: io_plug counters (reference §1.4)', () => {
  it('plug recurses into children first and calls the hook on 0→1; unplug on 1→0 then recurses', async () => {
    const { graph } = newGraph();
    const child = await graph.openNode({ driver: 'test', 'node-name': 'c' });
    const top = await graph.openNode({ driver: 'test-fmt', 'node-name': 't', file: 'c' });
    const order: string[] = [];
    state(child).plugCalls = order;
    state(top).plugCalls = order;
    ioPlug(top);
    ioPlug(top);
    expect([top.ioPlugged, child.ioPlugged]).to.deep.equal([2, 2]);
    ioUnplug(top);
    expect(order).to.deep.equal(['c:plug', 't:plug']);
    ioUnplug(top);
    expect(order).to.deep.equal(['c:plug', 't:plug', 't:unplug', 'c:unplug']);
    expect([top.ioPlugged, child.ioPlugged]).to.deep.equal([0, 0]);
    expect(() => ioUnplug(top)).to.throw(/without ioPlug/);
  });
});
