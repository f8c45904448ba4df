import { expect } from 'chai';
import { AioContext, ConfigError } from '@vmkit/core';
import {
  BlockBackend,
  ChildRole,
  Perm,
  PermissionConflictError,
  bdrvPreadv,
  drainedBegin,
  drainedEnd,
  type BdrvChild,
  type BlockDriverState,
  type BlockGraph,
  type PermMask,
} from '../src/index.js';
import { buf, newGraph, settle, state } from './helpers/test-driver.js';

/** A non-node parent that counts every drained callback (a BlockBackend stand-in). */
class CountingParent {
  quiesce = 0;
  begins = 0;
  ends = 0;
  constructor(
    readonly name: string,
    readonly aioContext: AioContext,
  ) {}
  description(): string {
    return `block device '${this.name}'`;
  }
  drainedBegin(): void {
    this.quiesce++;
    this.begins++;
  }
  drainedEnd(): void {
    if (this.quiesce <= 0) throw new Error('drainedEnd without drainedBegin');
    this.quiesce--;
    this.ends++;
  }
  drainedPoll(): boolean {
    return false;
  }
}

async function node(graph: BlockGraph, name: string): Promise<BlockDriverState> {
  return graph.openNode({ driver: 'test', 'node-name': name, size: 4096 });
}

function attachUser(
  graph: BlockGraph,
  bs: BlockDriverState,
  user: CountingParent,
  perm: PermMask = Perm.CONSISTENT_READ,
  shared: PermMask = Perm.ALL,
): BdrvChild {
  return graph.attachRootChild(bs, 'root', ChildRole.FILTERED | ChildRole.PRIMARY, user, perm, shared);
}

/** Edges, reference counts and quiesce state, for "nothing changed" checks. */
function snapshot(graph: BlockGraph): string[] {
  const out: string[] = [];
  for (const bs of graph.nodes()) {
    out.push(`${bs.nodeName} refs=${bs.refcount} q=${bs.quiesceCounter} ctx=${bs.aioContext.name}`);
    for (const c of bs.parents)
      out.push(
        `  ${c.parentDescription()} -${c.name}-> ${bs.nodeName} ${c.perm}/${c.sharedPerm} qp=${c.quiescedParent}`,
      );
  }
  return out;
}

describe('graph follow-ups: BlockGraph.replaceChild (bdrv_replace_child_bs)', () => {
  it('R7: the parent is quiesced through the edge while it moves, then gets exactly one drainedEnd', async () => {
    const { graph } = newGraph();
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const user = new CountingParent('blk', graph.mainContext);
    const edge = attachUser(graph, oldBs, user);
    user.begins = user.ends = 0;
    graph.replaceChild(edge, newBs);
    expect(edge.bs).to.equal(newBs);
    expect([user.begins, user.ends, user.quiesce]).to.deep.equal([1, 1, 0]);
    expect(edge.quiescedParent).to.equal(false);
    expect([oldBs.parents, newBs.parents]).to.deep.equal([[], [edge]]);
    expect([oldBs.quiesceCounter, newBs.quiesceCounter]).to.deep.equal([0, 0]);
    // The old child lost the edge's reference; the new one gained it.
    expect([oldBs.refcount, newBs.refcount]).to.deep.equal([1, 2]);
  });

  it('R7: a node parent hears one drain begin and one end (its driver hooks too)', async () => {
    const { graph } = newGraph();
    const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'parent', size: 4096 });
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const edge = graph.attachChild(parent, oldBs, 'child', ChildRole.COW);
    state(parent).drainLog.length = 0;
    graph.replaceChild(edge, newBs);
    expect(state(parent).drainLog).to.deep.equal(['begin', 'end']);
    expect(parent.quiesceCounter).to.equal(0);
    expect(parent.child('child')).to.equal(edge);
  });

  it('R7: a drained new child keeps the parent quiesced until its own drainedEnd', async () => {
    const { graph } = newGraph();
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const user = new CountingParent('blk', graph.mainContext);
    const edge = attachUser(graph, oldBs, user);
    user.begins = user.ends = 0;
    await drainedBegin(newBs);
    graph.replaceChild(edge, newBs);
    expect([user.quiesce, edge.quiescedParent]).to.deep.equal([1, true]);
    drainedEnd(newBs);
    expect([user.quiesce, user.ends, edge.quiescedParent]).to.deep.equal([0, 1, false]);
  });

  it('R7: a drained old child: after the switch to an undrained child the parent gets one drainedEnd, and ending the old drain leaves it alone', async () => {
    const { graph } = newGraph();
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const user = new CountingParent('blk', graph.mainContext);
    const edge = attachUser(graph, oldBs, user);
    user.begins = user.ends = 0;
    await drainedBegin(oldBs);
    expect(user.quiesce).to.equal(1);
    graph.replaceChild(edge, newBs);
    expect([user.quiesce, user.ends]).to.deep.equal([0, 1]);
    drainedEnd(oldBs);
    expect([user.quiesce, user.ends]).to.deep.equal([0, 1]);
  });

  it('a driver holding the edge follows it: reads through the filter reach the new child', async () => {
    const { graph } = newGraph();
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const filter = await graph.openNode({
      driver: 'limits',
      'node-name': 'f',
      file: 'old',
      maxTransfer: 512,
    });
    state(newBs).data.fill(9);
    graph.replaceChild(filter.file!, newBs);
    const out = buf(1024);
    expect(await settle(bdrvPreadv(filter, 0, 1024, out))).to.equal(0);
    expect(state(oldBs).ops('read')).to.have.length(0);
    expect(
      state(newBs)
        .ops('read')
        .map((c) => c.bytes),
    ).to.deep.equal([512, 512]);
  });

  it('a permission conflict is refused with the QEMU wording and changes nothing', async () => {
    const { graph } = newGraph();
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const writer = new CountingParent('writer', graph.mainContext);
    const reader = new CountingParent('reader', graph.mainContext);
    const edge = attachUser(graph, oldBs, writer, Perm.CONSISTENT_READ | Perm.WRITE);
    attachUser(graph, newBs, reader, Perm.CONSISTENT_READ, Perm.CONSISTENT_READ);
    const before = snapshot(graph);
    expect(() => graph.replaceChild(edge, newBs)).to.throw(
      PermissionConflictError,
      "Conflicts with use by block device 'reader' as 'root', which does not allow 'write' on new",
    );
    expect(snapshot(graph)).to.deep.equal(before);
    expect(edge.bs).to.equal(oldBs);
    expect([writer.quiesce, writer.begins, writer.ends]).to.deep.equal([0, 2, 2]);
  });

  it('a cycle is refused', async () => {
    const { graph } = newGraph();
    const top = await graph.openNode({ driver: 'test-fmt', 'node-name': 'top', size: 4096 });
    const below = await node(graph, 'below');
    const edge = graph.attachChild(top, below, 'child', ChildRole.COW);
    expect(() => graph.replaceChild(edge, top)).to.throw(
      ConfigError,
      "Making 'top' a child child of 'top' would create a cycle",
    );
    expect(edge.bs).to.equal(below);
  });

  it('the new child follows the parent context; the old one stays where it was (only unrefChild moves nodes back)', async () => {
    const { graph, clock } = newGraph();
    const io = new AioContext({ name: 'io', clock });
    const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'parent', size: 4096 });
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const edge = graph.attachChild(parent, oldBs, 'child', ChildRole.COW);
    graph.changeAioContext(parent, io);
    expect([parent, oldBs, newBs].map((n) => n.aioContext.name)).to.deep.equal(['io', 'io', 'main']);
    graph.replaceChild(edge, newBs);
    expect([parent, oldBs, newBs].map((n) => n.aioContext.name)).to.deep.equal(['io', 'io', 'io']);
  });

  it('a refused context move of the new child changes nothing', async () => {
    const { graph, clock } = newGraph();
    const io = new AioContext({ name: 'io', clock });
    const parent = await graph.openNode({ driver: 'test-fmt', 'node-name': 'parent', size: 4096 });
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const edge = graph.attachChild(parent, oldBs, 'child', ChildRole.COW);
    graph.changeAioContext(parent, io);
    const blk = BlockBackend.withNode(newBs, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.ALL });
    blk.attachDev({}, 'vdb');
    const before = snapshot(graph);
    expect(() => graph.replaceChild(edge, newBs)).to.throw(
      ConfigError,
      'Cannot change iothread of active block backend',
    );
    expect(snapshot(graph)).to.deep.equal(before);
    expect(blk.aioContext).to.equal(graph.mainContext);
  });

  it('the old child is closed when the edge held its last reference', async () => {
    const { graph } = newGraph();
    const [oldBs, newBs] = [await node(graph, 'old'), await node(graph, 'new')];
    const user = new CountingParent('blk', graph.mainContext);
    const edge = attachUser(graph, oldBs, user);
    oldBs.unref();
    graph.replaceChild(edge, newBs);
    expect(oldBs.deleted).to.equal(true);
    expect(state(oldBs).closed).to.equal(true);
    expect(graph.node('old')).to.equal(undefined);
  });
});

describe('graph follow-ups: unrefChild returns a parentless node to the main context (bdrv_root_unref_child)', () => {
  it('a node stays in its context while another parent holds it, and returns when the last one leaves', async () => {
    const { graph, clock } = newGraph();
    const io = new AioContext({ name: 'io', clock });
    const bs = await node(graph, 'n');
    const a = new CountingParent('a', io);
    const b = new CountingParent('b', io);
    const ea = attachUser(graph, bs, a);
    const eb = attachUser(graph, bs, b);
    graph.changeAioContext(bs, io);
    graph.unrefChild(ea);
    expect(bs.aioContext).to.equal(io);
    graph.unrefChild(eb);
    expect(bs.aioContext).to.equal(graph.mainContext);
  });

  it('a child detached from a node parent returns with its own children', async () => {
    const { graph, clock } = newGraph();
    const io = new AioContext({ name: 'io', clock });
    const top = await graph.openNode({ driver: 'test-fmt', 'node-name': 'top', size: 4096 });
    const mid = await graph.openNode({ driver: 'test-fmt', 'node-name': 'mid', size: 4096 });
    const leaf = await node(graph, 'leaf');
    graph.attachChild(mid, leaf, 'child', ChildRole.COW);
    const edge = graph.attachChild(top, mid, 'child', ChildRole.COW);
    graph.changeAioContext(top, io);
    expect([top, mid, leaf].map((n) => n.aioContext.name)).to.deep.equal(['io', 'io', 'io']);
    graph.unrefChild(edge);
    expect([top, mid, leaf].map((n) => n.aioContext.name)).to.deep.equal(['io', 'main', 'main']);
  });

  it('BlockBackend.removeBs: the BlockBackend keeps its context; the node returns unless another BlockBackend uses it', async () => {
    const { graph, clock } = newGraph();
    const io = new AioContext({ name: 'io', clock });
    const bs = await node(graph, 'n');
    const first = new BlockBackend(graph, { ctx: io, perm: Perm.CONSISTENT_READ });
    const second = new BlockBackend(graph, { ctx: io, perm: Perm.CONSISTENT_READ });
    first.insertBs(bs);
    second.insertBs(bs);
    await first.removeBs();
    expect([first.aioContext, bs.aioContext]).to.deep.equal([io, io]);
    await second.removeBs();
    expect([second.aioContext, bs.aioContext]).to.deep.equal([io, graph.mainContext]);
  });
});
