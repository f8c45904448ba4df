import { expect } from 'chai';
import {
  ChildRole,
  Perm,
  PermissionConflictError,
  permNames,
  type BlockDriver,
  type BlockDriverState,
  type BlockGraph,
  type BdrvChild,
  type BlockdevOptions,
} from '../src/index.js';
import { newGraph, TestParent } from './helpers/test-driver.js';

/** Takes WRITE on every child and shares everything but WRITE (test-bdrv-graph-mod exclusive_writer). */
const exclusiveWriter: BlockDriver<null> = {
  name: 'exclusive-writer',
  kind: 'filter',
  open(bs) {
    bs.opaque = null;
  },
  childPerm: () => ({ perm: Perm.WRITE, shared: Perm.ALL & ~Perm.WRITE }),
};

/** Writes only to the selected child (test-bdrv-graph-mod write_to_selected). */
interface SelState {
  selected: BdrvChild | null;
}
const writeToSelected: BlockDriver<SelState> = {
  name: 'write-to-selected',
  kind: 'format',
  open(bs) {
    bs.opaque = { selected: null };
  },
  childPerm: (bs, child) =>
    child !== null && bs.opaque.selected === child
      ? { perm: Perm.WRITE, shared: Perm.ALL & ~Perm.WRITE }
      : { perm: 0, shared: Perm.ALL },
};

function graphWith(): {
  graph: BlockGraph;
  blk: (name: string, bs: BlockDriverState, perm: number, shared: number) => BdrvChild;
} {
  const { graph, ctx } = newGraph();
  graph.registerDriver(exclusiveWriter);
  graph.registerDriver(writeToSelected);
  const blk = (name: string, bs: BlockDriverState, perm: number, shared: number): BdrvChild =>
    graph.attachRootChild(
      bs,
      'root',
      ChildRole.FILTERED | ChildRole.PRIMARY,
      new TestParent(name, ctx),
      perm,
      shared,
    );
  return { graph, blk };
}

/** Everything a refused change must leave untouched. */
function snapshot(graph: BlockGraph): string {
  return JSON.stringify(
    graph.nodes().map((n) => ({
      n: n.nodeName,
      ref: n.refcount,
      q: n.quiesceCounter,
      ch: n.children.map((c) => [c.name, c.bs?.nodeName, c.perm, c.sharedPerm, c.role, c.quiescedParent]),
      pa: n.parents.map((c) => [c.name, c.parentDescription(), c.perm, c.sharedPerm]),
    })),
  );
}

describe('graph: permissions', () => {
  it('permNames lists QEMU names', () => {
    expect(permNames(Perm.WRITE | Perm.RESIZE)).to.equal('write, resize');
    expect(permNames(Perm.ALL)).to.equal('consistent read, write, write unchanged, resize');
  });

  it('a second writer is refused with QEMU wording and the graph is unchanged', async () => {
    const { graph, blk } = graphWith();
    const n = await graph.openNode({ driver: 'memory', 'node-name': 'n', size: 4096 });
    blk('blk1', n, Perm.WRITE | Perm.CONSISTENT_READ, Perm.ALL & ~Perm.WRITE);
    const before = snapshot(graph);
    expect(() => blk('blk2', n, Perm.WRITE, Perm.ALL)).to.throw(
      PermissionConflictError,
      "Conflicts with use by block device 'blk1' as 'root', which does not allow 'write' on n",
    );
    expect(snapshot(graph)).to.equal(before);
    expect(() => blk('blk3', n, Perm.CONSISTENT_READ, Perm.CONSISTENT_READ)).to.throw(
      "Conflicts with use by block device 'blk1' as 'root', which uses 'write' on n",
    );
    expect(snapshot(graph)).to.equal(before);
  });

  it('a writer on a read-only node is refused', async () => {
    const { graph, blk } = graphWith();
    const n = await graph.openNode({ driver: 'memory', 'node-name': 'ro', size: 4096, 'read-only': true });
    expect(() => blk('b', n, Perm.WRITE, Perm.ALL)).to.throw('Block node is read-only');
    expect(n.parents).to.have.length(0);
  });

  it('setChildPerm refuses a conflicting update and restores the edge', async () => {
    const { graph, blk } = graphWith();
    const n = await graph.openNode({ driver: 'memory', 'node-name': 'n', size: 4096 });
    blk('a', n, Perm.CONSISTENT_READ, Perm.CONSISTENT_READ);
    const b = blk('b', n, Perm.CONSISTENT_READ, Perm.ALL);
    expect(() => graph.setChildPerm(b, Perm.WRITE, Perm.ALL)).to.throw(/does not allow 'write' on n/);
    expect([b.perm, b.sharedPerm]).to.deep.equal([Perm.CONSISTENT_READ, Perm.ALL]);
  });

  it('§5: appending a pass-through filter that creates a second unshared writer fails', async () => {
    const { graph, blk } = graphWith();
    const bs = await graph.openNode({ driver: 'memory', 'node-name': 'node', size: 4096 });
    blk('root', bs, Perm.WRITE | Perm.CONSISTENT_READ, Perm.ALL & ~Perm.WRITE);
    const filter = await graph.openNode({ driver: 'limits', 'node-name': 'filter', file: 'node' });
    const before = snapshot(graph);
    expect(() => graph.appendNode(filter, bs)).to.throw(
      PermissionConflictError,
      /which does not allow 'write' on node/,
    );
    expect(snapshot(graph)).to.equal(before);
  });

  it('§5: bdrv_append/replace must not create loops (the new top keeps its backing)', async () => {
    const { graph, blk } = graphWith();
    const node = await graph.openNode({ driver: 'memory', 'node-name': 'node', size: 4096 });
    const root = blk('root', node, Perm.CONSISTENT_READ, Perm.ALL);
    const target = await graph.openNode({ driver: 'test-fmt', 'node-name': 'target' });
    graph.appendNode(target, node);
    expect(target.backing?.bs).to.equal(node);
    expect(root.bs).to.equal(target);
  });

  it('§5: replacing fl1 by fl2 under an exclusive writer succeeds', async () => {
    const { graph } = graphWith();
    await graph.openNode({ driver: 'memory', 'node-name': 'base', size: 4096 });
    const fl1 = await graph.openNode({ driver: 'limits', 'node-name': 'fl1', file: 'base' });
    const fl2 = await graph.openNode({ driver: 'limits', 'node-name': 'fl2', file: 'base' });
    const top = await graph.openNode({ driver: 'exclusive-writer', 'node-name': 'top' });
    graph.attachChild(top, fl1, 'file', ChildRole.FILTERED | ChildRole.PRIMARY);
    graph.replaceNode(fl1, fl2);
    expect(top.children[0].bs).to.equal(fl2);
    expect(fl2.file!.perm & Perm.WRITE).to.equal(Perm.WRITE);
    expect(fl1.file!.perm).to.equal(0);
  });

  it('§5: permission updates run parents first; switching the selected writer 3 times works', async () => {
    const { graph } = graphWith();
    const base = await graph.openNode({ driver: 'memory', 'node-name': 'base', size: 4096 });
    const fl1 = await graph.openNode({ driver: 'limits', 'node-name': 'fl1', file: 'base' });
    const fl2 = await graph.openNode({ driver: 'limits', 'node-name': 'fl2', file: 'base' });
    const ws = await graph.openNode({ driver: 'write-to-selected', 'node-name': 'ws' });
    const c1 = graph.attachChild(ws, fl1, 'child1', ChildRole.DATA);
    const c2 = graph.attachChild(ws, fl2, 'child2', ChildRole.DATA);
    const top = await graph.openNode({ driver: 'exclusive-writer', 'node-name': 'top' });
    graph.attachChild(top, ws, 'file', ChildRole.DATA);
    const state = ws.opaque as SelState;
    for (const sel of [c1, c2, c1, c2]) {
      state.selected = sel;
      graph.refreshPermissions();
      const writers = [fl1.file!, fl2.file!].filter((e) => e.perm & Perm.WRITE);
      expect(writers).to.have.length(1);
      expect(writers[0].parent.node).to.equal(sel.bs);
    }
    expect(base.parents).to.have.length(2);
  });

  it('§5: a greedy exclusive-writer filter can be appended (perms refreshed after all changes)', async () => {
    const { graph } = graphWith();
    const base = await graph.openNode({ driver: 'memory', 'node-name': 'base', size: 4096 });
    const top = await graph.openNode({ driver: 'exclusive-writer', 'node-name': 'top' });
    graph.attachChild(top, base, 'backing', ChildRole.FILTERED | ChildRole.PRIMARY);
    const fl = await graph.openNode({ driver: 'exclusive-writer', 'node-name': 'fl1' });
    graph.appendNode(fl, base);
    expect(top.children[0].bs).to.equal(fl);
    expect(fl.backing?.bs).to.equal(base);
  });

  it('attaching a child that would create a cycle is refused', async () => {
    const { graph } = graphWith();
    const a = await graph.openNode({ driver: 'test-fmt', 'node-name': 'a' });
    const b = await graph.openNode({ driver: 'test-fmt', 'node-name': 'b' });
    graph.attachChild(a, b, 'file', ChildRole.IMAGE);
    expect(() => graph.attachChild(b, a, 'file', ChildRole.IMAGE)).to.throw(
      "Making 'a' a file child of 'b' would create a cycle",
    );
  });

  it('node names: duplicates and bad names are refused; unknown drivers too', async () => {
    const { graph } = graphWith();
    await graph.openNode({ driver: 'memory', 'node-name': 'x', size: 512 });
    let err: unknown;
    try {
      await graph.openNode({ driver: 'memory', 'node-name': 'x', size: 512 });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.contain("Duplicate nodes with node-name='x'");
    for (const [opts, msg] of [
      [{ driver: 'memory', 'node-name': '1bad' }, "Invalid node-name: '1bad'"],
      [{ driver: 'nope' }, "Unknown driver 'nope'"],
      [{ driver: 'memory', discard: 'maybe' }, 'Invalid discard option'],
      [{ driver: 'memory', 'detect-zeroes': 'unmap' }, 'setting detect-zeroes to unmap is not allowed'],
      [{ driver: 'memory', bogus: 1 }, "Invalid parameter 'bogus'"],
      [{ driver: 'raw', file: 'missing' }, "Cannot find device='missing' nor node-name='missing'"],
    ] as Array<[BlockdevOptions, string]>) {
      let e2: unknown;
      try {
        await graph.openNode(opts);
      } catch (e) {
        e2 = e;
      }
      expect(String(e2)).to.contain(msg);
    }
    expect(graph.nodes().map((n) => n.nodeName)).to.deep.equal(['x']);
  });
});
