/**
 * Permission system (block.c bdrv_default_perms, bdrv_refresh_perms, bdrv_check_update_perm).
 *
 * Every edge holds `perm` (used) and `sharedPerm` (allowed to others). Edges from node parents
 * are computed by the parent's driver from what the parent's own parents need; edges from other
 * users (BlockBackends) are set explicitly. After every graph change the whole graph is refreshed
 * in topological order (parents first) and checked; a conflict restores every edge.
 */
import { ConfigError } from '@vmkit/core';
import { ChildRole, Perm, permNames, type ChildRoleMask, type PermMask } from './constants.js';
import type { ChildPerms } from './driver.js';
import type { BdrvChild } from './child.js';
import type { BlockDriverState } from './node.js';

/** A refused permission change; the message follows QEMU's wording. */
export class PermissionConflictError extends ConfigError {
  constructor(
    message: string,
    /** The node on which permissions conflict. */
    readonly nodeName: string,
  ) {
    super(message);
  }
}

/** bdrv_filter_default_perms: pass everything through. */
export function filterDefaultPerms(perm: PermMask, shared: PermMask): ChildPerms {
  return { perm: perm & Perm.ALL, shared: shared & Perm.ALL };
}

/** bdrv_default_perms_for_cow: a backing file is only read. */
export function cowDefaultPerms(perm: PermMask, shared: PermMask): ChildPerms {
  const nperm = perm & Perm.CONSISTENT_READ;
  let nshared = shared & Perm.WRITE_UNCHANGED ? Perm.WRITE | Perm.RESIZE : 0;
  nshared |= Perm.CONSISTENT_READ | Perm.WRITE_UNCHANGED;
  return { perm: nperm, shared: nshared };
}

/** bdrv_default_perms_for_storage: the `file` (DATA and/or METADATA) child of a format. */
export function storageDefaultPerms(
  bs: BlockDriverState,
  role: ChildRoleMask,
  perm: PermMask,
  shared: PermMask,
): ChildPerms {
  let { perm: nperm, shared: nshared } = filterDefaultPerms(perm, shared);
  if (role & ChildRole.METADATA) {
    // Formats may update metadata even when the guest only reads.
    if (!bs.readOnly) nperm |= Perm.WRITE | Perm.RESIZE;
    nperm |= Perm.CONSISTENT_READ;
    nshared &= ~(Perm.WRITE | Perm.RESIZE);
  }
  if (role & ChildRole.DATA) {
    nshared &= ~Perm.RESIZE;
    if (nperm & Perm.WRITE_UNCHANGED) nperm |= Perm.WRITE;
    if (nperm & Perm.WRITE) nperm |= Perm.RESIZE;
  }
  return { perm: nperm, shared: nshared };
}

/** bdrv_default_perms: by role. */
export function defaultPerms(
  bs: BlockDriverState,
  role: ChildRoleMask,
  perm: PermMask,
  shared: PermMask,
): ChildPerms {
  if (role & ChildRole.FILTERED) return filterDefaultPerms(perm, shared);
  if (role & ChildRole.COW) return cowDefaultPerms(perm, shared);
  if (role & (ChildRole.DATA | ChildRole.METADATA)) return storageDefaultPerms(bs, role, perm, shared);
  return { perm: 0, shared: Perm.ALL };
}

/** What `bs` needs on `child` given its cumulative parent permissions (bdrv_child_perm). */
export function childPerms(
  bs: BlockDriverState,
  child: BdrvChild | null,
  role: ChildRoleMask,
  perm: PermMask,
  shared: PermMask,
): ChildPerms {
  const drv = bs.driver;
  if (drv.childPerm) return drv.childPerm(bs, child, role, perm, shared);
  if (drv.kind === 'filter') return filterDefaultPerms(perm, shared);
  return defaultPerms(bs, role, perm, shared);
}

/** bdrv_get_cumulative_perm: union of parents' perm, intersection of their shared perms. */
export function cumulativePerm(bs: BlockDriverState): ChildPerms {
  let perm = 0;
  let shared = Perm.ALL;
  for (const c of bs.parents) {
    perm |= c.perm;
    shared &= c.sharedPerm;
  }
  return { perm, shared };
}

/** Parents-first order of `nodes` (bdrv_topological_dfs over the whole set). */
export function topologicalOrder(nodes: Iterable<BlockDriverState>): BlockDriverState[] {
  const visited = new Set<BlockDriverState>();
  const post: BlockDriverState[] = [];
  const visit = (bs: BlockDriverState): void => {
    if (visited.has(bs)) return;
    visited.add(bs);
    for (const c of bs.children) if (c.bs !== null) visit(c.bs);
    post.push(bs);
  };
  for (const bs of nodes) visit(bs);
  return post.reverse();
}

/** Saved permissions of every edge, to restore after a refused change. */
export type PermSnapshot = Map<BdrvChild, readonly [PermMask, PermMask]>;

export function snapshotPerms(nodes: Iterable<BlockDriverState>): PermSnapshot {
  const snap: PermSnapshot = new Map();
  for (const bs of nodes) for (const c of bs.parents) snap.set(c, [c.perm, c.sharedPerm]);
  return snap;
}

export function restorePerms(snap: PermSnapshot): void {
  for (const [c, [perm, shared]] of snap) {
    c.perm = perm;
    c.sharedPerm = shared;
  }
}

/**
 * Checks the parents of one node against each other (bdrv_check_update_perm). Edges in
 * `changed` are the requesters; the error names the other user as QEMU does.
 */
function checkNode(bs: BlockDriverState, changed: ReadonlySet<BdrvChild>): void {
  const parents = bs.parents;
  for (const a of parents) {
    for (const b of parents) {
      if (a === b) continue;
      // a is the user being checked against b (the existing user named in the message).
      if (changed.has(b) && !changed.has(a)) continue;
      const notAllowed = a.perm & ~b.sharedPerm;
      if (notAllowed) {
        throw new PermissionConflictError(
          `Conflicts with use by ${b.parentDescription()} as '${b.name}', which does not allow ` +
            `'${permNames(notAllowed)}' on ${bs.nodeName}`,
          bs.nodeName,
        );
      }
      const used = b.perm & ~a.sharedPerm;
      if (used) {
        throw new PermissionConflictError(
          `Conflicts with use by ${b.parentDescription()} as '${b.name}', which uses ` +
            `'${permNames(used)}' on ${bs.nodeName}`,
          bs.nodeName,
        );
      }
    }
  }
  const { perm, shared } = cumulativePerm(bs);
  if (perm & (Perm.WRITE | Perm.WRITE_UNCHANGED) && bs.readOnly) {
    throw new PermissionConflictError('Block node is read-only', bs.nodeName);
  }
  bs.driver.checkPerm?.(bs, perm, shared);
}

/**
 * bdrv_refresh_perms over `nodes` (the whole graph): recompute node-parent edges in topological
 * order, then check every node. On a conflict every edge is restored to `snap` (taken before the
 * change by the caller) and the error is thrown. `changed` names the edges being added/updated
 * (they are the requesters in the message).
 */
export function refreshPerms(
  nodes: Iterable<BlockDriverState>,
  snap: PermSnapshot,
  changed: ReadonlySet<BdrvChild> = new Set(),
): void {
  const order = topologicalOrder(nodes);
  const before = new Map<BlockDriverState, ChildPerms>();
  for (const bs of order) before.set(bs, cumulativePerm(bs));
  const changedEdges = new Set(changed);
  try {
    for (const bs of order) {
      const { perm, shared } = cumulativePerm(bs);
      for (const c of bs.children) {
        if (c.bs === null) continue;
        const np = childPerms(bs, c, c.role, perm, shared);
        if (np.perm !== c.perm || np.shared !== c.sharedPerm) changedEdges.add(c);
        c.perm = np.perm;
        c.sharedPerm = np.shared;
      }
    }
    for (const bs of order) checkNode(bs, changedEdges);
  } catch (e) {
    restorePerms(snap);
    throw e;
  }
  for (const bs of order) {
    const old = before.get(bs);
    const now = cumulativePerm(bs);
    if (old === undefined || old.perm !== now.perm || old.shared !== now.shared) {
      bs.driver.setPerm?.(bs, now.perm, now.shared);
    }
  }
}
