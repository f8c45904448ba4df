import { ChildRole, Perm, type BlockGraph, type BlockDriverState, type BdrvChild } from '../../src/index.js';
import { TestParent } from './test-driver.js';

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
  const blk = new TestParent('blk', graph.mainContext);
  const root = graph.attachRootChild(
    bs,
    'root',
    ChildRole.FILTERED | ChildRole.PRIMARY,
    blk,
    Perm.ALL,
    Perm.ALL,
  );
  blk.child = root;
  bs.unref();
  return { blk, root, bs, backing };
}
