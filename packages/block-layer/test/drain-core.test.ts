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
  drainPoll,
} from '../src/index.js';
import { buf, newGraph, settle, state, TestParent } from './helpers/test-driver.js';
import { setupF1 } from './helpers/fixtures.js';

type Mode = 'drain' | 'drain_all';

describe('drain: counters and callbacks (reference §1.1/§1.2)', () => {
  it('D1: drained_begin calls the driver hook on bs only, not on its child', async () => {
    const { graph } = newGraph();
    const { bs, backing } = await setupF1(graph);
    await drainedBegin(bs);
    expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal([1, 0]);
    drainedEnd(bs);
    expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal([0, 0]);
  });

  it('D2: drain_all calls the driver hook on every node', async () => {
    const { graph } = newGraph();
    const { bs, backing } = await setupF1(graph);
    await drainAllBegin(graph);
    expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal([1, 1]);
    drainAllEnd(graph);
    expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal([0, 0]);
  });

  for (const mode of ['drain', 'drain_all'] as Mode[]) {
    it(`D3: an in-flight request completes before ${mode} begin returns`, async () => {
      const { graph } = newGraph();
      const { bs, backing, blk } = await setupF1(graph);
      state(bs).async = true;
      let ret = -115;
      blk.busy++;
      void settle(bdrvPreadv(blk.child!, 0, 0, buf(0))).then((r) => {
        ret = r;
        blk.done();
      });
      expect(ret).to.equal(-115);
      expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal([0, 0]);
      if (mode === 'drain') await drainedBegin(bs);
      else await drainAllBegin(graph);
      expect(ret).to.equal(0);
      expect(bs.inFlight).to.equal(0);
      expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal(
        mode === 'drain' ? [1, 0] : [1, 1],
      );
      if (mode === 'drain') drainedEnd(bs);
      else drainAllEnd(graph);
      expect([state(bs).drainCount, state(backing).drainCount]).to.deep.equal([0, 0]);
    });
  }

  it('D4: quiesce counters for drain and drain_all', async () => {
    const { graph } = newGraph();
    const { bs, backing } = await setupF1(graph);
    await drainedBegin(bs);
    expect([bs.quiesceCounter, backing.quiesceCounter]).to.deep.equal([1, 0]);
    drainedEnd(bs);
    await drainAllBegin(graph);
    expect([bs.quiesceCounter, backing.quiesceCounter]).to.deep.equal([2, 1]);
    drainAllEnd(graph);
    expect([bs.quiesceCounter, backing.quiesceCounter]).to.deep.equal([0, 0]);
  });

  for (const outer of ['drain', 'drain_all'] as Mode[]) {
    for (const inner of ['drain', 'drain_all'] as Mode[]) {
      it(`D5: nested sections ${outer} + ${inner}`, async () => {
        const { graph } = newGraph();
        const { bs, backing } = await setupF1(graph);
        const begin = (m: Mode): Promise<void> => (m === 'drain' ? drainedBegin(bs) : drainAllBegin(graph));
        const end = (m: Mode): void => (m === 'drain' ? drainedEnd(bs) : drainAllEnd(graph));
        const k = [outer, inner].filter((m) => m === 'drain_all').length;
        await begin(outer);
        await begin(inner);
        expect(bs.quiesceCounter).to.equal(2 + (k > 0 ? 1 : 0));
        expect(backing.quiesceCounter).to.equal(k);
        expect(state(bs).drainCount).to.equal(1);
        expect(state(backing).drainCount).to.equal(k > 0 ? 1 : 0);
        end(inner);
        end(outer);
        expect([
          bs.quiesceCounter,
          backing.quiesceCounter,
          state(bs).drainCount,
          state(backing).drainCount,
        ]).to.deep.equal([0, 0, 0, 0]);
      });
    }
  }

  it('D6: a node created during drain_all is born drained; deleting a drained node is safe', async () => {
    const { graph, ctx } = newGraph();
    const bsA = await graph.openNode({ driver: 'test', 'node-name': 'a' });
    const blkA = new TestParent('blk_a', ctx);
    const rootA = graph.attachRootChild(
      bsA,
      'root',
      ChildRole.FILTERED | ChildRole.PRIMARY,
      blkA,
      Perm.ALL,
      Perm.ALL,
    );
    await drainAllBegin(graph);
    expect([bsA.quiesceCounter, state(bsA).drainCount]).to.deep.equal([1, 1]);
    const bsB = await graph.openNode({ driver: 'test', 'node-name': 'b' });
    const blkB = new TestParent('blk_b', ctx);
    graph.attachRootChild(bsB, 'root', ChildRole.FILTERED | ChildRole.PRIMARY, blkB, Perm.ALL, Perm.ALL);
    expect([bsB.quiesceCounter, state(bsB).drainCount]).to.deep.equal([1, 1]);
    expect([bsA.quiesceCounter, state(bsA).drainCount]).to.deep.equal([1, 1]);
    graph.unrefChild(rootA);
    expect([bsA.quiesceCounter, state(bsA).drainCount]).to.deep.equal([1, 1]);
    bsA.unref();
    expect(bsA.deleted).to.equal(true);
    expect([bsB.quiesceCounter, state(bsB).drainCount]).to.deep.equal([1, 1]);
    drainAllEnd(graph);
    expect([bsB.quiesceCounter, state(bsB).drainCount]).to.deep.equal([0, 0]);
  });

  for (const mode of ['drain', 'drain_all'] as Mode[]) {
    it(`D7: ${mode} waits for a request completed through a BH in another AioContext`, async () => {
      const { graph, clock } = newGraph();
      const ctxA = new AioContext({ name: 'iothread-a', clock });
      const ctxB = new AioContext({ name: 'iothread-b', clock });
      const { bs, blk } = await setupF1(graph);
      graph.changeAioContext(bs, ctxA);
      expect(bs.aioContext).to.equal(ctxA);
      state(bs).hold = true;
      let ret = -115;
      blk.busy++;
      void settle(bdrvPreadv(blk.child!, 0, 0, buf(0))).then((r) => {
        ret = r;
        blk.done();
      });
      ctxB.scheduleOneshot(() => state(bs).release());
      if (mode === 'drain') await drainedBegin(bs);
      else await drainAllBegin(graph);
      expect(bs.inFlight).to.equal(0);
      expect(ret).to.equal(0);
      if (mode === 'drain') drainedEnd(bs);
      else drainAllEnd(graph);
    });
  }
});

describe('drain: core rules R1–R7', () => {
  it('R1: begin quiesces parents once on 0→1; an edge quiesces its parent at most once', async () => {
    const { graph } = newGraph();
    const { bs, blk, root } = await setupF1(graph);
    state(bs).drainLog.length = 0;
    await drainedBegin(bs);
    await drainedBegin(bs);
    expect(blk.quiesce).to.equal(1);
    expect(root.quiescedParent).to.equal(true);
    expect(state(bs).drainLog).to.deep.equal(['begin']);
    drainedEnd(bs);
    expect(blk.quiesce).to.equal(1);
    drainedEnd(bs);
    expect(blk.quiesce).to.equal(0);
    expect(root.quiescedParent).to.equal(false);
  });

  it('R1: counters change synchronously, before the poll resolves', async () => {
    const { graph } = newGraph();
    const { bs, blk } = await setupF1(graph);
    blk.busy = 1;
    let resolved = false;
    const p = drainedBegin(bs).then(() => (resolved = true));
    expect(bs.quiesceCounter).to.equal(1);
    expect(blk.quiesce).to.equal(1);
    await Promise.resolve();
    expect(resolved).to.equal(false);
    blk.done();
    await p;
    expect(resolved).to.equal(true);
    drainedEnd(bs);
  });

  it('R2: end calls the driver hook, then the parent edges; throws without begin', async () => {
    const { graph } = newGraph();
    const { bs, blk } = await setupF1(graph);
    const order: string[] = [];
    const origEnd = blk.drainedEnd.bind(blk);
    blk.drainedEnd = () => {
      order.push(`parent:${state(bs).drainCount}`);
      origEnd();
    };
    await drainedBegin(bs);
    drainedEnd(bs);
    expect(order).to.deep.equal(['parent:0']);
    expect(() => drainedEnd(bs)).to.throw(/without drainedBegin/);
  });

  it('R3: a drain propagates upwards through every ancestor (never down)', async () => {
    const { graph } = newGraph();
    const { bs, backing, blk } = await setupF1(graph);
    await drainedBegin(backing);
    expect([backing.quiesceCounter, bs.quiesceCounter, blk.quiesce]).to.deep.equal([1, 1, 1]);
    expect(state(bs).drainCount).to.equal(1);
    drainedEnd(backing);
    expect([backing.quiesceCounter, bs.quiesceCounter, blk.quiesce]).to.deep.equal([0, 0, 0]);
  });

  it('R4: drain_all polls until no node is busy and leaves in_flight 0 everywhere', async () => {
    const { graph } = newGraph();
    const { bs, backing } = await setupF1(graph);
    state(backing).hold = true;
    const r = settle(bdrvPreadv(backing, 0, 512, buf(512)));
    expect(backing.inFlight).to.equal(1);
    const p = drainAllBegin(graph);
    expect(graph.drainAllCount).to.equal(1);
    state(backing).release();
    await p;
    expect(await r).to.equal(0);
    expect([bs.inFlight, backing.inFlight]).to.deep.equal([0, 0]);
    drainAllEnd(graph);
    expect(graph.drainAllCount).to.equal(0);
  });

  it('R5: drains begun from async code running in a BH have identical effects', async () => {
    const { graph, ctx } = newGraph();
    const { bs, backing } = await setupF1(graph);
    await new Promise<void>((resolve) => {
      ctx.scheduleOneshot(() => {
        void drainedBegin(bs).then(resolve);
      });
    });
    expect([bs.quiesceCounter, backing.quiesceCounter, state(bs).drainCount]).to.deep.equal([1, 0, 1]);
    drainedEnd(bs);
  });

  it('R6: drained_end never polls (a pending BH stays pending)', async () => {
    const { graph, ctx } = newGraph();
    const { bs, blk } = await setupF1(graph);
    await drainedBegin(bs);
    let ran = false;
    ctx.scheduleOneshot(() => (ran = true));
    blk.busy = 1;
    const r = drainedEnd(bs) as unknown;
    expect(r).to.equal(undefined);
    expect(ran).to.equal(false);
    expect(drainPoll(bs)).to.equal(true);
    blk.busy = 0;
    expect(ctx.poll()).to.equal(1);
    expect(ran).to.equal(true);
  });

  it('R7: attaching to an undrained node gives the parent one begin and one end', async () => {
    const { graph } = newGraph();
    const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'p' });
    const child = await graph.openNode({ driver: 'test', 'node-name': 'c' });
    graph.attachChild(parent, child, 'file', ChildRole.IMAGE);
    expect(state(parent).drainLog).to.deep.equal(['begin', 'end']);
    expect(parent.quiesceCounter).to.equal(0);
  });

  it('R7: attaching to a drained node leaves the parent quiesced until the child ends', async () => {
    const { graph } = newGraph();
    const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'p' });
    const child = await graph.openNode({ driver: 'test', 'node-name': 'c' });
    await drainedBegin(child);
    const edge = graph.attachChild(parent, child, 'file', ChildRole.IMAGE);
    expect(edge.quiescedParent).to.equal(true);
    expect(parent.quiesceCounter).to.equal(1);
    drainedEnd(child);
    expect(parent.quiesceCounter).to.equal(0);
    expect(edge.quiescedParent).to.equal(false);
  });

  it('R7: detaching an edge from a drained child releases the parent', async () => {
    const { graph } = newGraph();
    const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'p' });
    const child = await graph.openNode({ driver: 'test', 'node-name': 'c' });
    const edge = graph.attachChild(parent, child, 'file', ChildRole.IMAGE);
    await drainedBegin(child);
    expect(parent.quiesceCounter).to.equal(1);
    graph.unrefChild(edge);
    expect(parent.quiesceCounter).to.equal(0);
    drainedEnd(child);
  });

  it('drain() waits for in-flight requests and leaves counters at 0', async () => {
    const { graph } = newGraph();
    const { bs } = await setupF1(graph);
    state(bs).async = true;
    const r = settle(bdrvPreadv(bs, 0, 512, buf(512)));
    await drain(bs);
    expect(bs.inFlight).to.equal(0);
    expect(bs.quiesceCounter).to.equal(0);
    expect(await r).to.equal(0);
  });
});
