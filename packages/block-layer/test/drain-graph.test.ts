import { expect } from 'chai';
import { AioContext } from '@vmkit/core';
import {
  ChildRole,
  Perm,
  bdrvPreadv,
  drainAllBegin,
  drainAllEnd,
  drain,
  drainedBegin,
  drainedEnd,
  type BlockDriverState,
  type BlockGraph,
} from '../src/index.js';
import { attachTestParent } from './helpers/fixtures.js';
import { buf, newGraph, settle, state, TestParent } from './helpers/test-driver.js';

async function setupD9(
  graph: BlockGraph,
): Promise<{ top: BlockDriverState; child: BlockDriverState; blk: TestParent }> {
  const top = await graph.openNode({ driver: 'test-fmt', 'node-name': 'top' });
  const null1 = await graph.openNode({ driver: 'null-co', 'node-name': 'null1' });
  const child = await graph.openNode({ driver: 'test', 'node-name': 'wait-child', size: 65536 });
  const null2 = await graph.openNode({ driver: 'null-co', 'node-name': 'null2' });
  graph.attachChild(top, null1, 'null-child', ChildRole.DATA);
  graph.attachChild(top, child, 'wait-child', ChildRole.DATA | ChildRole.PRIMARY);
  graph.attachChild(top, null2, 'null-child', ChildRole.DATA);
  for (const n of [null1, child, null2]) n.unref();
  const blk = attachTestParent(graph, top, 'blk');
  top.unref();
  return { top, child, blk };
}

describe('drain: graph changes (reference §1.2)', () => {
  it('D9: a drain whose poll deletes the parent node', async () => {
    const { graph } = newGraph();
    const { top, child, blk } = await setupD9(graph);
    expect([top.refcount, child.refcount]).to.deep.equal([1, 1]);
    state(child).hold = true;
    let sawRefcnt = -1;
    const co = settle(bdrvPreadv(child, 0, 65536, buf(65536))).then((r) => {
      expect(r).to.equal(0);
      sawRefcnt = top.refcount;
      graph.unrefChild(blk.child!);
    });
    const d = drain(child);
    state(child).release();
    await d;
    await co;
    expect(sawRefcnt).to.equal(1);
    expect(top.deleted).to.equal(true);
    expect(child.deleted).to.equal(true);
  });

  for (const mode of ['drain', 'drain_all'] as const) {
    it(`D10: a ${mode} whose poll detaches the children`, async () => {
      const { graph } = newGraph();
      const { top, child, blk } = await setupD9(graph);
      state(child).hold = true;
      const co = settle(bdrvPreadv(child, 0, 65536, buf(65536))).then(async () => {
        for (const c of top.children.slice()) {
          await drainAllBegin(graph);
          top.unrefChild(c);
          drainAllEnd(graph);
        }
      });
      let d: Promise<void>;
      if (mode === 'drain') d = drain(child);
      else d = drainAllBegin(graph).then(() => drainAllEnd(graph));
      state(child).release();
      await d;
      await co;
      expect(top.children).to.have.length(0);
      graph.unrefChild(blk.child!);
      expect(top.deleted).to.equal(true);
    });
  }

  it('D11: graph change from a completion BH during a sequence of drains', async () => {
    const { graph, ctx } = newGraph();
    const pa = await graph.openNode({ driver: 'test-fmt', 'node-name': 'PA' });
    const pb = await graph.openNode({ driver: 'test-fmt', 'node-name': 'PB' });
    const a = await graph.openNode({ driver: 'test', 'node-name': 'A' });
    const b = await graph.openNode({ driver: 'test', 'node-name': 'B' });
    const c = await graph.openNode({ driver: 'test', 'node-name': 'C' });
    graph.attachChild(pa, a, 'PA-A', ChildRole.DATA);
    const pbB = graph.attachChild(pb, b, 'PB-B', ChildRole.DATA);
    graph.attachChild(pb, a, 'PB-A', ChildRole.COW);
    const blk = attachTestParent(graph, pa, 'blk');
    pa.unref();
    expect([pa.refcount, pb.refcount, a.refcount, b.refcount, c.refcount]).to.deep.equal([1, 1, 3, 2, 1]);
    expect(pb.children.map((e) => e.name)).to.deep.equal(['PB-A', 'PB-B']);
    state(a).async = true;
    blk.busy++;
    void settle(bdrvPreadv(blk.child!, 0, 512, buf(512))).then(() => {
      ctx.scheduleOneshot(() => {
        pb.unrefChild(pbB);
        graph.attachChild(pb, c, 'PB-C', ChildRole.DATA);
        blk.done();
      });
    });
    for (const n of [pb, a, b, c]) await drainedBegin(n);
    expect(pb.children.map((e) => e.name)).to.deep.equal(['PB-C', 'PB-A']);
    expect([pa.refcount, pb.refcount, a.refcount, b.refcount, c.refcount]).to.deep.equal([1, 1, 3, 1, 2]);
    expect([pa, pb, a, b, c].map((n) => n.quiesceCounter)).to.deep.equal([1, 3, 1, 1, 1]);
    for (const n of [pb, a, b, c]) drainedEnd(n);
    expect([pa, pb, a, b, c].map((n) => n.quiesceCounter)).to.deep.equal([0, 0, 0, 0, 0]);
  });

  it('D12: a node appended over a drained node inherits the drain', async () => {
    const { graph } = newGraph();
    const base = await graph.openNode({ driver: 'test', 'node-name': 'base' });
    const blk = attachTestParent(graph, base, 'blk');
    const overlay = await graph.openNode({ driver: 'test-fmt', 'node-name': 'overlay' });
    await drainedBegin(base);
    expect([
      base.quiesceCounter,
      state(base).drainCount,
      base.inFlight,
      overlay.quiesceCounter,
    ]).to.deep.equal([1, 1, 0, 0]);
    graph.appendNode(overlay, base);
    expect(blk.child!.bs).to.equal(overlay);
    expect([base.inFlight, overlay.inFlight]).to.deep.equal([0, 0]);
    expect([base.quiesceCounter, state(base).drainCount]).to.deep.equal([1, 1]);
    expect([overlay.quiesceCounter, state(overlay).drainCount]).to.deep.equal([1, 1]);
    drainedEnd(base);
    expect([
      base.quiesceCounter,
      state(base).drainCount,
      overlay.quiesceCounter,
      state(overlay).drainCount,
    ]).to.deep.equal([0, 0, 0, 0]);
  });

  it('D13: AioContext changes: to A, to B, back to main', async () => {
    const { graph, clock, ctx } = newGraph();
    const bs = await graph.openNode({ driver: 'test', 'node-name': 'n', backing: undefined });
    const child = await graph.openNode({ driver: 'test', 'node-name': 'c' });
    graph.attachChild(bs, child, 'backing', ChildRole.COW);
    const a = new AioContext({ name: 'a', clock });
    const b = new AioContext({ name: 'b', clock });
    for (const target of [a, b, ctx]) {
      await drainedBegin(bs);
      graph.changeAioContext(bs, target);
      drainedEnd(bs);
      expect([bs.aioContext, child.aioContext]).to.deep.equal([target, target]);
    }
  });

  for (const [oldCount, newCount, drained, undrained, readDone] of [
    [0, 0, true, true, true],
    [0, 1, true, false, true],
    [1, 0, false, true, true],
    [1, 1, false, false, false],
  ] as const) {
    it(`D16: replacing a child mid-drain (old ${oldCount}, new ${newCount})`, async () => {
      const { graph, ctx } = newGraph();
      const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'parent', size: 512 });
      const oldChild = await graph.openNode({ driver: 'test', 'node-name': 'old', size: 512 });
      const newChild = await graph.openNode({ driver: 'test', 'node-name': 'new', size: 512 });
      graph.attachChild(parent, oldChild, 'child', ChildRole.COW);
      const blk = new TestParent('parent_blk', ctx);
      blk.child = graph.attachRootChild(
        parent,
        'root',
        ChildRole.FILTERED | ChildRole.PRIMARY,
        blk,
        Perm.CONSISTENT_READ,
        Perm.ALL,
      );
      for (let i = 0; i < oldCount; i++) await drainedBegin(oldChild);
      for (let i = 0; i < newCount; i++) await drainedBegin(newChild);
      state(parent).drainLog.length = 0;
      // The parent yields inside its driver before forwarding to its child (held request).
      state(parent).hold = true;
      let readResult: number | null = null;
      let issued = false;
      const issueRead = (): void => {
        issued = true;
        void settle(bdrvPreadv(blk.child!, 0, 1, buf(1))).then((r) => (readResult = r));
      };
      if (parent.quiesceCounter === 0) issueRead();
      graph.replaceNode(oldChild, newChild);
      expect(parent.quiesceCounter).to.equal(newCount);
      expect(state(parent).drainLog.includes('begin')).to.equal(drained);
      expect(state(parent).drainLog.includes('end')).to.equal(undrained);
      // A BlockBackend issues its parked read when the parent is undrained.
      if (!issued && parent.quiesceCounter === 0) issueRead();
      state(parent).release();
      await new Promise((r) => setImmediate(r));
      expect(readResult !== null).to.equal(readDone);
      expect(state(oldChild).ops('read')).to.have.length(0);
      for (let i = 0; i < oldCount; i++) drainedEnd(oldChild);
      for (let i = 0; i < newCount; i++) drainedEnd(newChild);
      if (!issued) issueRead();
      state(parent).release();
      await new Promise((r) => setImmediate(r));
      expect(readResult).to.equal(0);
      expect(state(newChild).ops('read')).to.have.length.greaterThan(0);
      expect(state(parent).ops('read')).to.have.length.greaterThan(0);
    });
  }
});
