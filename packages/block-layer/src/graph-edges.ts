/**
 * Structural edits of the graph without permission checks (block.c's *_noperm helpers). Each
 * edit logs its undo, so that a change refused later (permissions, AioContext) can restore the
 * graph exactly: same edges, same order, same reference counts, same quiesce state.
 *
 * Reference counts: an edge holds one reference on its child. Moving or detaching an edge
 * drops the old child's reference with a plain decrement, so the caller must hold its own
 * reference on the old child for the duration of the change (and drop it afterwards, which
 * deletes a node nobody uses any more).
 */
import { ConfigError } from '@vmkit/core';
import type { ChildRoleMask } from './constants.js';
import { BdrvChild, childDrainedBeginSingle, childDrainedEndSingle, type BdrvChildParent } from './child.js';
import type { BlockDriverState } from './node.js';

/** An undo log for one graph change (run backwards). */
export type UndoLog = Array<() => void>;

export function runUndo(log: UndoLog): void {
  for (let i = log.length - 1; i >= 0; i--) log[i]();
  log.length = 0;
}

/** Whether `target` is `bs` or below it (bdrv_recurse_has_child). */
export function reaches(bs: BlockDriverState, target: BlockDriverState): boolean {
  if (bs === target) return true;
  for (const c of bs.children) if (c.bs !== null && reaches(c.bs, target)) return true;
  return false;
}

/** QEMU's refusal of an edge that would make the graph cyclic. */
export function cycleError(child: BlockDriverState, name: string, parent: BlockDriverState): ConfigError {
  return new ConfigError(
    `Making '${child.nodeName}' a ${name} child of '${parent.nodeName}' would create a cycle`,
  );
}

/**
 * bdrv_replace_child_noperm (R7): points edge `c` at `newBs` (null: unlinks it). The parent
 * must already be quiesced through the edge when `newBs` is set. After the switch, when the new
 * child is not drained, the edge stops quiescing the parent: exactly one drainedEnd.
 * `index` is the position in `newBs.parents` (0: newest first; undo restores the old one).
 */
export function replaceChildNoperm(c: BdrvChild, newBs: BlockDriverState | null, index = 0): void {
  if (newBs !== null && !c.quiescedParent) {
    throw new Error(`replacing child '${c.name}' whose parent is not quiesced through it`);
  }
  const old = c.bs;
  if (old !== null) {
    c.parent.detach?.(c);
    const i = old.parents.indexOf(c);
    if (i >= 0) old.parents.splice(i, 1);
  }
  c.bs = newBs;
  if (newBs !== null) {
    newBs.parents.splice(index, 0, c);
    c.parent.attach?.(c);
  }
  if ((newBs?.quiesceCounter ?? 0) === 0 && c.quiescedParent) childDrainedEndSingle(c);
}

/**
 * bdrv_attach_child_noperm: links a new edge from `parent` to `childBs` (taking a reference on
 * it). The edge starts quiescing its parent, as in bdrv_attach_child_common, and keeps doing so
 * only while the child is drained. Refuses cycles.
 */
export function attachNoperm(
  parent: BdrvChildParent,
  childBs: BlockDriverState,
  name: string,
  role: ChildRoleMask,
  log: UndoLog,
): BdrvChild {
  const parentNode = parent.node;
  if (parentNode !== undefined && reaches(childBs, parentNode)) throw cycleError(childBs, name, parentNode);
  if (childBs.deleted) throw new Error(`${childBs.toString()} is deleted`);
  const c = new BdrvChild(name, role, parent);
  childBs.refcount++;
  if (parentNode !== undefined) parentNode.children.unshift(c);
  childDrainedBeginSingle(c);
  replaceChildNoperm(c, childBs);
  log.push(() => {
    // Unlinking ends the quiesce the edge may still hold (attached to a drained node).
    replaceChildNoperm(c, null);
    if (parentNode !== undefined) {
      const i = parentNode.children.indexOf(c);
      if (i >= 0) parentNode.children.splice(i, 1);
    }
    childBs.refcount--;
  });
  return c;
}

/** Decrements a reference the caller is known to back with its own (see the file comment). */
function dropEdgeReference(bs: BlockDriverState): void {
  if (bs.refcount <= 1)
    throw new Error(`${bs.toString()} would lose its last reference inside a graph change`);
  bs.refcount--;
}

/**
 * bdrv_replace_child_tran: moves edge `c` (attached) to `newBs`. The parent is quiesced through
 * the edge first if it is not already (R7); the new child gains the edge's reference.
 */
export function moveChildNoperm(c: BdrvChild, newBs: BlockDriverState, log: UndoLog): void {
  const old = c.node;
  if (newBs.deleted) throw new Error(`${newBs.toString()} is deleted`);
  if (!c.quiescedParent) childDrainedBeginSingle(c);
  const index = old.parents.indexOf(c);
  replaceChildNoperm(c, newBs);
  newBs.refcount++;
  dropEdgeReference(old);
  log.push(() => {
    if (!c.quiescedParent) childDrainedBeginSingle(c);
    replaceChildNoperm(c, old, index);
    old.refcount++;
    newBs.refcount--;
  });
}

/**
 * bdrv_remove_child: unlinks edge `c` from its child and from its parent node's children. The
 * BdrvChild object is kept by the undo, so a restored graph holds the very same edge.
 */
export function detachNoperm(c: BdrvChild, log: UndoLog): void {
  const old = c.node;
  const parentNode = c.parent.node;
  const index = old.parents.indexOf(c);
  const childIndex = parentNode?.children.indexOf(c) ?? -1;
  replaceChildNoperm(c, null);
  if (parentNode !== undefined && childIndex >= 0) parentNode.children.splice(childIndex, 1);
  dropEdgeReference(old);
  log.push(() => {
    old.refcount++;
    if (parentNode !== undefined && childIndex >= 0) parentNode.children.splice(childIndex, 0, c);
    if (!c.quiescedParent) childDrainedBeginSingle(c);
    replaceChildNoperm(c, old, index);
  });
}
