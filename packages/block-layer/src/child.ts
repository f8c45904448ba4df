/**
 * Graph edges (QEMU's BdrvChild and BdrvChildClass).
 *
 * An edge links a parent (a node or a BlockBackend, seen through `BdrvChildParent`) to a child
 * node. It holds the permissions the parent uses on the child (`perm`) and the ones it lets
 * other users have (`sharedPerm`), and whether it currently quiesces its parent
 * (`quiescedParent`, R1).
 */
import type { AioContext } from '@vmkit/core';
import { Perm, type ChildRoleMask, type PermMask } from './constants.js';
import type { BlockDriverState } from './node.js';

/**
 * The parent side of an edge (BdrvChildClass callbacks + opaque). Implemented by nodes (for
 * their children) and by the BlockBackend (for its root).
 */
export interface BdrvChildParent {
  /** For node parents: the parent node. Undefined for BlockBackends and other users. */
  readonly node?: BlockDriverState;
  /** `node 'foo'`, `block device 'vda'`: used in permission error messages (get_parent_desc). */
  description(): string;
  /** The AioContext the parent runs in. */
  readonly aioContext: AioContext;
  /** A child edge starts quiescing this parent (must not poll; R1/R3). */
  drainedBegin(child: BdrvChild): void;
  /** The edge stops quiescing this parent (must not poll; R2/R6). */
  drainedEnd(child: BdrvChild): void;
  /** Whether the parent still has activity that the drain must wait for. */
  drainedPoll(child: BdrvChild): boolean;
  /** The child node changed length (blk_root_resize → device resize callback). */
  resize?(child: BdrvChild): void;
  /**
   * Phase 1 of an AioContext change of the child's graph (QEMU change_aio_ctx): may this parent
   * follow to `ctx`? Returns null to agree, or the refusal message. Must change nothing: another
   * user may still refuse. Without this hook the parent agrees.
   */
  prepareAioContextChange?(child: BdrvChild, ctx: AioContext): string | null;
  /** Phase 2: every user agreed and the nodes have moved; the parent follows. Cannot fail. */
  commitAioContextChange?(child: BdrvChild, ctx: AioContext): void;
  /** The edge was attached to / detached from a child node (bdrv_replace_child_noperm). */
  attach?(child: BdrvChild): void;
  detach?(child: BdrvChild): void;
}

/** A graph edge from `parent` to the node `bs`. */
export class BdrvChild {
  /** Edge name: `'file'`, `'backing'`, `'root'`, or a driver-specific name. */
  readonly name: string;
  /** ChildRole bits. */
  role: ChildRoleMask;
  /** The child node; null only while detached (during replacement or after unref). */
  bs: BlockDriverState | null;
  readonly parent: BdrvChildParent;
  /** Permissions the parent takes on the child. */
  perm: PermMask = 0;
  /** Permissions the parent lets others take. */
  sharedPerm: PermMask = Perm.ALL;
  /** Whether this edge currently quiesces its parent (bdrv_parent_drained_begin_single). */
  quiescedParent = false;

  constructor(name: string, role: ChildRoleMask, parent: BdrvChildParent) {
    this.name = name;
    this.role = role;
    this.parent = parent;
    this.bs = null;
  }

  /** The child node; throws if the edge is detached (programming error). */
  get node(): BlockDriverState {
    const bs = this.bs;
    if (bs === null) throw new Error(`child '${this.name}' is detached`);
    return bs;
  }

  /** `node 'x'` / `block device 'y'` of the parent. */
  parentDescription(): string {
    return this.parent.description();
  }
}

/** bdrv_parent_drained_begin_single: quiesce the parent through this edge. */
export function childDrainedBeginSingle(c: BdrvChild): void {
  if (c.quiescedParent) throw new Error(`child '${c.name}' already quiesces its parent`);
  c.quiescedParent = true;
  c.parent.drainedBegin(c);
}

/** bdrv_parent_drained_end_single: stop quiescing the parent through this edge. */
export function childDrainedEndSingle(c: BdrvChild): void {
  if (!c.quiescedParent) return;
  c.quiescedParent = false;
  c.parent.drainedEnd(c);
}
