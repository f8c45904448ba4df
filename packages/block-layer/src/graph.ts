/**
 * The block graph of one machine (or one test): node registry, driver registry, drain-all
 * state, and every structural change (attach/detach, bdrv_replace_child_bs, bdrv_replace_node,
 * bdrv_append, filters, reopen, AioContext moves). Each change checks permissions on the whole
 * graph and leaves it exactly as it was on refusal. The noperm edits live in graph-edges.ts,
 * AioContext moves in graph-context.ts, reopen in graph-reopen.ts.
 */
import { ConfigError, type AioContext } from '@vmkit/core';
import { ChildRole, type ChildRoleMask, type PermMask } from './constants.js';
import type { ChildRef } from './driver.js';
import type { BdrvChild, BdrvChildParent } from './child.js';
import type { BlockDriverState, OpenChildOptions } from './node.js';
import { refreshPerms, restorePerms, snapshotPerms } from './permissions.js';
import { doDrainedBeginQuiesce, drainedEnd } from './drain.js';
import { BlockGraphNodes } from './graph-nodes.js';
import {
  attachNoperm,
  cycleError,
  moveChildNoperm,
  reaches,
  replaceChildNoperm,
  runUndo,
  type UndoLog,
} from './graph-edges.js';
import {
  changeAioContext,
  commitAioContextChange,
  prepareAioContextChange,
  returnToMainContext,
  type AioContextChange,
} from './graph-context.js';
import { GraphReopen, type ReopenSpec } from './graph-reopen.js';

export type { AioContextChange } from './graph-context.js';
export type { ReopenSpec } from './graph-reopen.js';
export { BlockGraphNodes, type BlockGraphOptions } from './graph-nodes.js';

/** Where a change wants a node's graph to end up: the node and its target context. */
type ContextTarget = readonly [BlockDriverState, AioContext] | null;

export class BlockGraph extends BlockGraphNodes {
  protected get graph(): BlockGraph {
    return this;
  }

  // ---- edges ---------------------------------------------------------------------------------

  /** bdrv_open_child: a child from a reference or nested options. */
  async openChild(
    parent: BlockDriverState,
    ref: ChildRef | undefined,
    name: string,
    role: ChildRoleMask,
    opts: OpenChildOptions = {},
  ): Promise<BdrvChild | null> {
    if (ref === undefined || ref === null) {
      if (opts.allowNone) return null;
      throw new ConfigError(`A block device must be specified for "${name}"`);
    }
    if (typeof ref === 'string') return this.attachChild(parent, this.requireNode(ref), name, role);
    const f = parent.openFlags;
    const inherit =
      role & ChildRole.COW
        ? { readOnly: true, cache: f.cache }
        : { readOnly: f.readOnly, cache: f.cache, discard: f.discard };
    const bs = await this.openNode(ref, inherit);
    try {
      return this.attachChild(parent, bs, name, role);
    } finally {
      bs.unref();
    }
  }

  /**
   * Runs `change`, then (still fallible) prepares the AioContext move `align` asks for and
   * refreshes the permissions of the whole graph; undoes everything on failure. The context move
   * is committed last, once nothing can fail any more.
   */
  private transaction<T>(
    change: (log: UndoLog) => T,
    changed: (result: T) => Iterable<BdrvChild> = () => [],
    align: (result: T) => ContextTarget = () => null,
  ): T {
    const snap = snapshotPerms(this.all);
    const log: UndoLog = [];
    let result: T;
    let move: AioContextChange | null = null;
    try {
      result = change(log);
      const target = align(result);
      if (target !== null && target[0].aioContext !== target[1]) {
        move = prepareAioContextChange(target[0], target[1]);
      }
      refreshPerms(this.all, snap, new Set(changed(result)));
    } catch (e) {
      runUndo(log);
      restorePerms(snap);
      throw e;
    }
    if (move !== null) commitAioContextChange(move);
    return result;
  }

  /**
   * bdrv_attach_child: attaches `childBs` below node `parent` as `name`. Takes a new reference
   * on `childBs` (the caller keeps its own). Throws ConfigError (cycle, permission conflict).
   */
  attachChild(
    parent: BlockDriverState,
    childBs: BlockDriverState,
    name: string,
    role: ChildRoleMask,
  ): BdrvChild {
    // bdrv_attach_child_common: the child's graph follows the parent's AioContext.
    const c = this.transaction(
      (log) => attachNoperm(parent.asParent, childBs, name, role, log),
      (e) => [e],
      () => [childBs, parent.aioContext],
    );
    this.refreshLimitsUp(parent);
    return c;
  }

  /**
   * bdrv_root_attach_child: attaches `childBs` to a non-node parent (BlockBackend) with fixed
   * permissions. Takes a new reference on `childBs`.
   */
  attachRootChild(
    childBs: BlockDriverState,
    name: string,
    role: ChildRoleMask,
    parent: BdrvChildParent,
    perm: PermMask,
    shared: PermMask,
  ): BdrvChild {
    return this.transaction(
      (log) => {
        const c = attachNoperm(parent, childBs, name, role, log);
        c.perm = perm;
        c.sharedPerm = shared;
        return c;
      },
      (e) => [e],
    );
  }

  /** bdrv_child_try_set_perm: changes the fixed permissions of a non-node parent's edge. */
  setChildPerm(c: BdrvChild, perm: PermMask, shared: PermMask): void {
    this.transaction(
      () => {
        c.perm = perm;
        c.sharedPerm = shared;
      },
      () => [c],
    );
  }

  /**
   * bdrv_refresh_perms for the whole graph, e.g. after a driver changed what it needs from its
   * children (bdrv_child_refresh_perms). Throws and restores on conflict.
   */
  refreshPermissions(): void {
    this.transaction(() => undefined);
  }

  /**
   * bdrv_root_unref_child / bdrv_unref_child: detaches an edge and drops its reference. A child
   * left without parents returns to the main AioContext.
   */
  unrefChild(c: BdrvChild): void {
    const old = c.bs;
    const parentNode = c.parent.node;
    if (old === null) return;
    replaceChildNoperm(c, null);
    if (parentNode !== undefined) {
      const i = parentNode.children.indexOf(c);
      if (i >= 0) parentNode.children.splice(i, 1);
    }
    // Dropping a user only relaxes constraints; recompute what the remaining edges need.
    refreshPerms(this.all, snapshotPerms(this.all));
    if (parentNode !== undefined && !parentNode.deleted) this.refreshLimitsUp(parentNode);
    returnToMainContext(old);
    old.unref();
  }

  /**
   * bdrv_replace_child_bs: edge `edge` now points to `newBs` (same name, role and parent; the
   * BdrvChild object stays, so drivers holding it follow). Both children are quiesced (without
   * polling) while the edge moves, so the parent is quiesced through the edge (R7) and gets one
   * drainedEnd afterwards unless `newBs` stays drained. `newBs`'s graph follows the parent's
   * AioContext. Permissions are rechecked; on refusal (ConfigError: cycle, conflict, context)
   * nothing changes. The old child loses the edge's reference (and is closed if that was the
   * last one); it stays in its AioContext (as in QEMU, only unrefChild moves a node back).
   */
  replaceChild(edge: BdrvChild, newBs: BlockDriverState): void {
    const old = edge.node;
    if (old === newBs) return;
    const parentNode = edge.parent.node;
    if (parentNode !== undefined && reaches(newBs, parentNode))
      throw cycleError(newBs, edge.name, parentNode);
    old.ref();
    try {
      doDrainedBeginQuiesce(old);
      doDrainedBeginQuiesce(newBs);
      try {
        this.transaction(
          (log) => moveChildNoperm(edge, newBs, log),
          () => [edge],
          () => [newBs, edge.parent.aioContext],
        );
      } finally {
        drainedEnd(newBs);
        drainedEnd(old);
      }
      if (parentNode !== undefined) this.refreshLimitsUp(parentNode);
    } finally {
      old.unref();
    }
  }

  /** Edges of `from` that bdrv_replace_node moves to `to` (should_update_child). */
  private movableParents(from: BlockDriverState, to: BlockDriverState): BdrvChild[] {
    return from.parents.filter((c) => {
      const p = c.parent.node;
      return p === undefined || !reaches(to, p);
    });
  }

  private replaceNodeNoperm(from: BlockDriverState, to: BlockDriverState, log: UndoLog): BdrvChild[] {
    const moved = this.movableParents(from, to);
    // R7: each parent is quiesced through its edge (from is drained by the caller).
    for (const c of moved) moveChildNoperm(c, to, log);
    return moved;
  }

  /**
   * bdrv_replace_node: every parent of `from` (except those below `to`) now points to `to`,
   * whose graph follows their AioContext. Both nodes are quiesced (without polling) while the
   * edges move (R7).
   */
  replaceNode(from: BlockDriverState, to: BlockDriverState): void {
    const ctx = from.aioContext;
    from.ref();
    try {
      doDrainedBeginQuiesce(from);
      doDrainedBeginQuiesce(to);
      try {
        this.transaction(
          (log) => this.replaceNodeNoperm(from, to, log),
          (moved) => moved,
          () => [to, ctx],
        );
      } finally {
        drainedEnd(to);
        drainedEnd(from);
      }
      for (const c of to.parents) if (c.parent.node) this.refreshLimitsUp(c.parent.node);
    } finally {
      from.unref();
    }
  }

  /**
   * bdrv_append: `bsNew` goes on top of `bsTop`: bsTop becomes bsNew's `backing` child (FILTERED
   * for filter drivers, COW otherwise) and bsTop's parents move to bsNew. Permissions are
   * refreshed once, after both changes. bsNew joins bsTop's AioContext.
   */
  appendNode(bsNew: BlockDriverState, bsTop: BlockDriverState): void {
    if (bsNew.backing !== null) throw new ConfigError(`'${bsNew.nodeName}' already has a backing child`);
    const role = bsNew.driver.kind === 'filter' ? ChildRole.FILTERED | ChildRole.PRIMARY : ChildRole.COW;
    const ctx = bsTop.aioContext;
    bsTop.ref();
    doDrainedBeginQuiesce(bsTop);
    try {
      this.transaction(
        (log) => {
          const edge = attachNoperm(bsNew.asParent, bsTop, 'backing', role, log);
          return [edge, ...this.replaceNodeNoperm(bsTop, bsNew, log)];
        },
        (edges) => edges,
        () => [bsNew, ctx],
      );
    } finally {
      drainedEnd(bsTop);
      bsTop.unref();
    }
    this.refreshLimitsUp(bsNew);
  }

  /** Inserts `filter` (already opened with its filtered child on `below`) above `below`. */
  insertFilter(filter: BlockDriverState): void {
    const f = filter.filtered;
    if (f === null || f.bs === null) throw new ConfigError(`'${filter.nodeName}' is not a filter`);
    this.replaceNode(f.bs, filter);
  }

  /** bdrv_drop_filter: `filter`'s parents move to its filtered child. */
  removeFilter(filter: BlockDriverState): void {
    const f = filter.filtered;
    if (f === null || f.bs === null) throw new ConfigError(`'${filter.nodeName}' is not a filter`);
    this.replaceNode(filter, f.bs);
  }

  /**
   * Reopens a set of nodes in one transaction (bdrv_reopen_multiple): new flags, driver options
   * and `file` / `backing` children, all inside a drained section. Throws ConfigError (the
   * driver's, a permission conflict, a refused AioContext move...) with the graph untouched.
   */
  reopen(specs: readonly ReopenSpec[]): Promise<void> {
    return new GraphReopen(this).run(specs);
  }

  // ---- contexts & limits ---------------------------------------------------------------------

  /**
   * bdrv_try_change_aio_context: moves the connected graph of `bs` (children and parents) to
   * `ctx`, in two phases: every non-node parent is asked first, and on a refusal (ConfigError
   * with its message, e.g. "Cannot change iothread of active block backend") nothing has moved.
   * `ignore` is an edge not to follow (the caller's own, which moves by itself).
   */
  changeAioContext(bs: BlockDriverState, ctx: AioContext, ignore: BdrvChild | null = null): void {
    changeAioContext(bs, ctx, ignore);
  }
}
