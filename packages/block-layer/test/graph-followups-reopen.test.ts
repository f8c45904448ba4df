import { expect } from 'chai';
import { AioContext, ConfigError, Machine, VirtualClock, definePlugin } from '@vmkit/core';
import {
  BlockBackend,
  ChildRole,
  Perm,
  blockLayerOf,
  blockLayerPlugin,
  type BlockDriverState,
  type BlockGraph,
} from '../src/index.js';
import { makeTestDriver, newGraph, state } from './helpers/test-driver.js';
import { reopenableDriver } from './helpers/reopenable-driver.js';

function snapshot(graph: BlockGraph): string[] {
  const out: string[] = [];
  for (const bs of graph.nodes()) {
    out.push(
      `${bs.nodeName} ro=${bs.readOnly} refs=${bs.refcount} q=${bs.quiesceCounter} ctx=${bs.aioContext.name} ` +
        `children=${bs.children.map((c) => `${c.name}:${c.bs?.nodeName}`).join(',')}`,
    );
    for (const c of bs.parents)
      out.push(
        `  ${c.parentDescription()} -${c.name}-> ${bs.nodeName} ${c.perm}/${c.sharedPerm} qp=${c.quiescedParent}`,
      );
  }
  return out;
}

/** overlay (test-fmt) → backing `base` (test), with a BlockBackend reading the overlay. */
async function overlayOnBase(graph: BlockGraph): Promise<{
  overlay: BlockDriverState;
  base: BlockDriverState;
  blk: BlockBackend;
}> {
  const base = await graph.openNode({ driver: 'test', 'node-name': 'base', size: 4096, 'read-only': true });
  const overlay = await graph.openNode({
    driver: 'test-fmt',
    'node-name': 'overlay',
    size: 4096,
    backing: 'base',
  });
  const blk = BlockBackend.withNode(overlay);
  overlay.unref();
  return { overlay, base, blk };
}

describe('graph follow-ups: BlockGraph.reopen', () => {
  it('backing: null detaches the backing child of a driver that supports backing files', async () => {
    const { graph } = newGraph();
    const { overlay, base } = await overlayOnBase(graph);
    await graph.reopen([{ bs: overlay, backing: null }]);
    expect(overlay.backing).to.equal(null);
    expect(overlay.children).to.deep.equal([]);
    expect(base.parents).to.deep.equal([]);
    expect(base.refcount).to.equal(1);
    expect(overlay.driverOptions.backing).to.equal(undefined);
    expect([overlay.quiesceCounter, base.quiesceCounter]).to.deep.equal([0, 0]);
    // A second detach is no change; and the backing can be attached again (COW role).
    await graph.reopen([{ bs: overlay, backing: null }]);
    await graph.reopen([{ bs: overlay, backing: base }]);
    expect(overlay.backing!.bs).to.equal(base);
    expect(overlay.backing!.role).to.equal(ChildRole.COW);
    expect(overlay.driverOptions.backing).to.equal('base');
  });

  it('a detached backing child nobody else references is closed', async () => {
    const { graph } = newGraph();
    const { overlay, base } = await overlayOnBase(graph);
    base.unref();
    await graph.reopen([{ bs: overlay, backing: null }]);
    expect(base.deleted).to.equal(true);
    expect(state(base).closed).to.equal(true);
  });

  it('backing is refused by a driver without backing support', async () => {
    const { graph } = newGraph();
    const file = await graph.openNode({ driver: 'test', 'node-name': 'file', size: 4096 });
    const other = await graph.openNode({ driver: 'test', 'node-name': 'other', size: 4096 });
    const raw = await graph.openNode({ driver: 'raw', 'node-name': 'disk', file: 'file' });
    const before = snapshot(graph);
    let error: unknown;
    try {
      await graph.reopen([{ bs: raw, backing: other }]);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as Error).message).to.equal("Driver 'raw' of node 'disk' does not support backing files");
    expect(snapshot(graph)).to.deep.equal(before);
    // No backing child and none wanted: nothing to do.
    await graph.reopen([{ bs: raw, backing: null }]);
    expect(snapshot(graph)).to.deep.equal(before);
    expect(file.parents.length).to.equal(1);
  });

  it('a failure after a detach and a swap restores the old graph untouched (same edges, same order)', async () => {
    const { graph } = newGraph();
    graph.registerDriver(reopenableDriver);
    const { overlay, base } = await overlayOnBase(graph);
    await graph.openNode({ driver: 'test', 'node-name': 'file', size: 4096 });
    const file2 = await graph.openNode({ driver: 'test', 'node-name': 'file2', size: 4096 });
    const fmt = await graph.openNode({ driver: 'test-fmt', 'node-name': 'fmt', size: 4096, file: 'file' });
    const r = await graph.openNode({ driver: 'reopenable', 'node-name': 'r', size: 4096 });
    const backingEdge = overlay.backing!;
    const fileEdge = fmt.file!;
    const before = snapshot(graph);
    let error: unknown;
    try {
      await graph.reopen([
        { bs: overlay, backing: null },
        { bs: fmt, file: file2 },
        { bs: r, driverOptions: { size: 13 } },
      ]);
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal('size 13 is unlucky');
    expect(snapshot(graph)).to.deep.equal(before);
    expect(overlay.backing).to.equal(backingEdge);
    expect(fmt.file).to.equal(fileEdge);
    expect(backingEdge.bs).to.equal(base);
    expect((r.opaque as { log: string[] }).log).to.deep.equal(['prepare 13']);
  });

  it('children, flags and driver options change together; the drivers prepare then commit', async () => {
    const { graph } = newGraph();
    graph.registerDriver(reopenableDriver);
    const r = await graph.openNode({ driver: 'reopenable', 'node-name': 'r', size: 4096 });
    const { overlay, base } = await overlayOnBase(graph);
    const base2 = await graph.openNode({ driver: 'test', 'node-name': 'base2', size: 4096 });
    const edge = overlay.backing!;
    await graph.reopen([
      { bs: r, driverOptions: { size: 8192 }, flags: { ...r.openFlags, readOnly: true } },
      { bs: overlay, backing: base2 },
    ]);
    expect((r.opaque as { log: string[] }).log).to.deep.equal(['prepare 8192', 'commit']);
    expect([r.totalBytes, r.readOnly, r.driverOptions.size]).to.deep.equal([8192, true, 8192]);
    // The edge object moved (drivers holding it follow).
    expect(overlay.backing).to.equal(edge);
    expect(edge.bs).to.equal(base2);
    expect(base.parents).to.deep.equal([]);
  });

  it('a new child in another AioContext follows its parent; a refusal changes nothing', async () => {
    const { graph, clock } = newGraph();
    const io = new AioContext({ name: 'io', clock });
    const { overlay, blk } = await overlayOnBase(graph);
    blk.setAllowAioContextChange(true);
    blk.setAioContext(io);
    const base2 = await graph.openNode({ driver: 'test', 'node-name': 'base2', size: 4096 });
    const pinned = BlockBackend.withNode(base2, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.ALL });
    pinned.attachDev({}, 'vdb');
    const before = snapshot(graph);
    let error: unknown;
    try {
      await graph.reopen([{ bs: overlay, backing: base2 }]);
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal('Cannot change iothread of active block backend');
    expect(snapshot(graph)).to.deep.equal(before);
    pinned.setAllowAioContextChange(true);
    await graph.reopen([{ bs: overlay, backing: base2 }]);
    expect([base2.aioContext, pinned.aioContext]).to.deep.equal([io, io]);
    expect(graph.node('base')!.parents).to.deep.equal([]);
  });
});

describe('graph follow-ups: blockdev-reopen with backing: null', () => {
  it('detaches the backing child; the node reads its own data only', async () => {
    const plugin = definePlugin('followup-drivers', (ctx) => {
      ctx.blockDriver(makeTestDriver('tfmt', 'format'));
      ctx.blockDriver(makeTestDriver('tproto', 'protocol'));
    });
    const m = await Machine.create({ plugins: [blockLayerPlugin, plugin], clock: new VirtualClock() });
    await m.blockdevAdd({ driver: 'tproto', nodeName: 'base', size: 4096, readOnly: true });
    const top = await m.blockdevAdd({ driver: 'tfmt', nodeName: 'top', size: 4096, backing: 'base' });
    const base = blockLayerOf(m).node('base');
    state(base).data.fill(7);
    const blk = m.blockBackend('top');
    expect([...(await blk.read(0, 2))]).to.deep.equal([7, 7]);
    await m.blockdevReopen({ driver: 'tfmt', nodeName: 'top', size: 4096, backing: null });
    expect(top.backing).to.equal(null);
    expect([...(await blk.read(0, 2))]).to.deep.equal([0, 0]);
    await m.blockdevDel('base');
    expect(base.deleted).to.equal(true);
  });
});
