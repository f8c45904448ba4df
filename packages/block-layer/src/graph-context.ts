/**
 * AioContext changes (block.c bdrv_try_change_aio_context), in two phases so that a refusal
 * leaves every node and every user where it was:
 *
 * 1. prepare walks the connected graph from a node (parents, then children; a node already in
 *    the target context ends the walk there, as does the `ignore` edge) and asks every non-node
 *    parent whether it may follow (`BdrvChildParent.prepareAioContextChange`). Nothing changes;
 *    the first refusal throws.
 * 2. commit moves every collected node (driver detach/attach hooks), then tells every collected
 *    user (`commitAioContextChange`). It cannot fail.
 *
 * Unlike QEMU, the nodes are not drained around the switch: it is synchronous, so no request can
 * start or complete between the two phases (the caller drains first if requests must settle in
 * the old context).
 */
import { ConfigError, type AioContext } from '@vmkit/core';
import type { BdrvChild } from './child.js';
import type { BlockDriverState } from './node.js';

/** A prepared AioContext change: what moves. */
export interface AioContextChange {
  readonly ctx: AioContext;
  /** Nodes that move (none of them is in `ctx` yet). */
  readonly nodes: readonly BlockDriverState[];
  /** Edges of non-node parents (BlockBackends, jobs) that agreed to follow. */
  readonly users: readonly BdrvChild[];
}

/**
 * Phase 1 (bdrv_change_aio_context's recursion): throws ConfigError with the refusing parent's
 * message; changes nothing. A parent already in `ctx`, or one without the prepare hook, agrees.
 */
export function prepareAioContextChange(
  bs: BlockDriverState,
  ctx: AioContext,
  ignore: BdrvChild | null = null,
): AioContextChange {
  const visited = new Set<BdrvChild>();
  if (ignore !== null) visited.add(ignore);
  const nodes: BlockDriverState[] = [];
  const seen = new Set<BlockDriverState>();
  const users: BdrvChild[] = [];
  const visit = (n: BlockDriverState): void => {
    if (n.aioContext === ctx || seen.has(n)) return;
    seen.add(n);
    for (const c of n.parents) {
      if (visited.has(c)) continue;
      visited.add(c);
      const parentNode = c.parent.node;
      if (parentNode !== undefined) {
        visit(parentNode);
      } else if (c.parent.aioContext !== ctx) {
        const refusal = c.parent.prepareAioContextChange?.(c, ctx) ?? null;
        if (refusal !== null) throw new ConfigError(refusal);
        users.push(c);
      }
    }
    for (const c of n.children) {
      if (visited.has(c)) continue;
      visited.add(c);
      if (c.bs !== null) visit(c.bs);
    }
    nodes.push(n);
  };
  visit(bs);
  return { ctx, nodes, users };
}

/** Phase 2: nodes first (their users may look at them), then the users. */
export function commitAioContextChange(change: AioContextChange): void {
  const ctx = change.ctx;
  for (const n of change.nodes) {
    if (n.aioContext === ctx || n.deleted) continue;
    n.driver.detachAioContext?.(n);
    n.aioContext = ctx;
    n.driver.attachAioContext?.(n);
  }
  for (const c of change.users) c.parent.commitAioContextChange?.(c, ctx);
}

/** bdrv_try_change_aio_context: both phases; throws ConfigError (nothing moved) on refusal. */
export function changeAioContext(
  bs: BlockDriverState,
  ctx: AioContext,
  ignore: BdrvChild | null = null,
): void {
  commitAioContextChange(prepareAioContextChange(bs, ctx, ignore));
}

/**
 * bdrv_root_unref_child's last step: a node whose last parent left goes back to the main
 * context (its own children may still refuse, through their other users: then it stays).
 * QEMU tries this whenever an edge is removed; we only do it once the node has no parent left,
 * so that removing one user never drags the remaining users' graph to the main context.
 */
export function returnToMainContext(bs: BlockDriverState): void {
  const main = bs.graph.mainContext;
  if (bs.deleted || bs.parents.length > 0 || bs.aioContext === main) return;
  let change: AioContextChange;
  try {
    change = prepareAioContextChange(bs, main);
  } catch (e) {
    if (e instanceof ConfigError) return;
    throw e;
  }
  commitAioContextChange(change);
}
