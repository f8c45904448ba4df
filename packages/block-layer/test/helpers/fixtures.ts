import { ChildRole, Perm, type BlockGraph, type BlockDriverState, type BdrvChild } from '../../src/index.js';
import { TestParent } from './test-driver.js';

/**
 * Attaches `bs` as the root child of a new TestParent `name` that takes and shares every
 * permission, as a BlockBackend does (bdrv_root_attach_child); `parent.child` is the new edge.
 */
export function attachTestParent(graph: BlockGraph, bs: BlockDriverState, name: string): TestParent {
  const parent = new TestParent(name, graph.mainContext);
  parent.child = graph.attachRootChild(
    bs,
    'root',
    ChildRole.FILTERED | ChildRole.PRIMARY,
    parent,
    Perm.ALL,
    Perm.ALL,
  );
  return parent;
}

/** Fixture F1: blk (perm ALL) → test-node (RDWR) → backing (read-only). */
export async function setupF1(graph: BlockGraph): Promise<{
  blk: TestParent;
  root: BdrvChild;
  bs: BlockDriverState;
  backing: BlockDriverState;
}> {
  const backing = await graph.openNode({ driver: 'test', 'node-name': 'backing', 'read-only': true });
  const bs = await graph.openNode({ driver: 'test', 'node-name': 'test-node', backing: 'backing' });
  backing.unref();
  const blk = attachTestParent(graph, bs, 'blk');
  const root = blk.child!;
  bs.unref();
  return { blk, root, bs, backing };
}
