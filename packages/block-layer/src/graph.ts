/**
 * The block graph of one machine (or one test): node registry, driver registry, drain-all
 * state, and every structural change (attach/detach, bdrv_replace_node, bdrv_append, filters).
 * Each change checks permissions on the whole graph and leaves it exactly as it was on refusal.
 */
import { AioContext, ConfigError } from '@vmkit/core';
import {
  BDRV_SECTOR_SIZE,
  ChildRole,
  type ChildRoleMask,
  type OpenFlags,
  type PermMask,
} from './constants.js';
import type { AnyBlockDriver, BlockdevOptions, ChildRef } from './driver.js';
import { BdrvChild, childDrainedBeginSingle, childDrainedEndSingle, type BdrvChildParent } from './child.js';
import { BlockDriverState, type OpenChildOptions } from './node.js';
import { refreshPerms, restorePerms, snapshotPerms } from './permissions.js';
import { refreshLimits } from './limits.js';
import { doDrainedBeginQuiesce, drainedEnd } from './drain.js';
import { parseGenericOptions } from './open-options.js';

export interface BlockGraphOptions {
  /** The main AioContext (drain-all polls here; new nodes start here). */
  mainContext?: AioContext;
  /** Drivers to register right away. */
  drivers?: readonly AnyBlockDriver[];
}

/** Node names: a letter, then letters, digits, '-', '.', '_' (QEMU id_wellformed). */
const NODE_NAME_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** An undo log for one graph change. */
type UndoLog = Array<() => void>;

function runUndo(log: UndoLog): void {
  for (let i = log.length - 1; i >= 0; i--) log[i]();
}

export class BlockGraph {
  readonly mainContext: AioContext;
  /** bdrv_drain_all_count: nodes created while > 0 are born drained this many times. */
  drainAllCount = 0;
  private readonly all = new Set<BlockDriverState>();
  private readonly byName = new Map<string, BlockDriverState>();
  private readonly drivers = new Map<string, AnyBlockDriver>();
  private autoNameCounter = 0;

  constructor(options: BlockGraphOptions = {}) {
    this.mainContext = options.mainContext ?? new AioContext();
    for (const d of options.drivers ?? []) this.registerDriver(d);
  }

  // ---- drivers -------------------------------------------------------------------------------

  registerDriver(driver: AnyBlockDriver): void {
    if (this.drivers.has(driver.name)) throw new ConfigError(`Driver '${driver.name}' is already registered`);
    this.drivers.set(driver.name, driver);
  }

  driver(name: string): AnyBlockDriver | undefined {
    return this.drivers.get(name);
  }

  driverNames(): string[] {
    return [...this.drivers.keys()].sort();
  }

  // ---- nodes ---------------------------------------------------------------------------------

  /** All live nodes, in creation order (bdrv_next_all_states). */
  nodes(): BlockDriverState[] {
    return [...this.all];
  }

  /** The node called `name` (bdrv_find_node). */
  node(name: string): BlockDriverState | undefined {
    return this.byName.get(name);
  }

  /** Like node() but throws QEMU's lookup error. */
  requireNode(name: string): BlockDriverState {
    const bs = this.byName.get(name);
    if (bs === undefined) throw new ConfigError(`Cannot find device='${name}' nor node-name='${name}'`);
    return bs;
  }

  /**
   * Opens a node (blockdev-add / bdrv_open): validates generic and driver options, opens the
   * driver (which opens its children), reads the length and computes limits.
   * `inherit` carries the flags a nested child inherits from its parent.
   */
  async openNode(options: BlockdevOptions, inherit?: Partial<OpenFlags>): Promise<BlockDriverState> {
    const driver = this.drivers.get(options.driver);
    if (driver === undefined) throw new ConfigError(`Unknown driver '${options.driver}'`);
    const { flags, driverOptions, nodeName } = parseGenericOptions(options, inherit);
    let name: string;
    let auto = false;
    if (nodeName !== undefined) {
      if (!NODE_NAME_RE.test(nodeName) || nodeName.length > 127) {
        throw new ConfigError(`Invalid node-name: '${nodeName}'`);
      }
      if (this.byName.has(nodeName)) throw new ConfigError(`Duplicate nodes with node-name='${nodeName}'`);
      name = nodeName;
    } else {
      do name = `#block${++this.autoNameCounter}`;
      while (this.byName.has(name));
      auto = true;
    }
    const parsed: unknown = driver.parseOptions ? driver.parseOptions(driverOptions) : driverOptions;
    const bs = new BlockDriverState(
      this,
      driver,
      name,
      auto,
      options,
      driverOptions,
      flags,
      this.mainContext,
    );
    this.register(bs);
    try {
      await driver.open(bs, parsed);
      await this.refreshTotalBytes(bs);
      refreshLimits(bs);
    } catch (e) {
      this.abortOpen(bs);
      throw e;
    }
    // bdrv_open_driver: a driver opened inside drained sections gets its begin hooks.
    for (let i = 0; i < bs.quiesceCounter; i++) driver.drainBegin?.(bs);
    return bs;
  }

  /** Re-reads the driver length into `totalBytes` (refresh_total_sectors). */
  async refreshTotalBytes(bs: BlockDriverState): Promise<number> {
    let len: number;
    if (bs.driver.getLength) {
      len = await bs.driver.getLength(bs);
    } else {
      // Filters without getLength take their child's length.
      const child = (bs.filtered ?? bs.primary)?.bs;
      if (!child) return bs.totalBytes;
      len = child.limits.hasVariableLength ? await this.refreshTotalBytes(child) : child.totalBytes;
    }
    if (len < 0) return len;
    bs.totalBytes = Math.ceil(len / BDRV_SECTOR_SIZE) * BDRV_SECTOR_SIZE;
    return bs.totalBytes;
  }

  private register(bs: BlockDriverState): void {
    this.all.add(bs);
    this.byName.set(bs.nodeName, bs);
    // bdrv_new: born drained once per active drain-all (no parents yet; the driver hooks
    // run when open() has finished, as in bdrv_open_driver).
    bs.quiesceCounter += this.drainAllCount;
  }

  private unregister(bs: BlockDriverState): void {
    this.all.delete(bs);
    if (this.byName.get(bs.nodeName) === bs) this.byName.delete(bs.nodeName);
  }

  private abortOpen(bs: BlockDriverState): void {
    for (const c of bs.children.slice()) this.unrefChild(c);
    bs.refcount = 0;
    bs.deleted = true;
    this.unregister(bs);
  }

  /** Called by `unref()` at refcount 0: closes the node (bdrv_delete / bdrv_close). */
  deleteNode(bs: BlockDriverState): void {
    if (bs.parents.length > 0) throw new Error(`${bs.toString()} deleted while it has parents`);
    // bdrv_close runs inside a drained section that never ends: the node is going away.
    doDrainedBeginQuiesce(bs);
    bs.deleted = true;
    this.unregister(bs);
    const finish = (): void => {
      for (const c of bs.children.slice()) this.unrefChild(c);
    };
    const close = (): void | Promise<void> => bs.driver.close?.(bs);
    if (bs.inFlight === 0) {
      const r = close();
      finish();
      if (r instanceof Promise) bs.closing = r;
    } else {
      bs.closing = bs.aioContext
        .waitWhile(() => bs.inFlight > 0)
        .then(close)
        .finally(finish);
    }
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

  /** Whether `target` is `bs` or below it. */
  private reaches(bs: BlockDriverState, target: BlockDriverState): boolean {
    if (bs === target) return true;
    for (const c of bs.children) if (c.bs !== null && this.reaches(c.bs, target)) return true;
    return false;
  }

  /**
   * bdrv_replace_child_noperm (R7): moves an edge to `newBs`. The parent must be quiesced through
   * the edge when `newBs` is set; it is released when the new child is not drained.
   */
  private replaceChildNoperm(c: BdrvChild, newBs: BlockDriverState | null, index = 0): void {
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

  /** Links a new edge (starting quiesced, like bdrv_attach_child_common) and logs its undo. */
  private attachNoperm(
    parent: BdrvChildParent,
    childBs: BlockDriverState,
    name: string,
    role: ChildRoleMask,
    log: UndoLog,
  ): BdrvChild {
    const parentNode = parent.node;
    if (parentNode !== undefined && this.reaches(childBs, parentNode)) {
      throw new ConfigError(
        `Making '${childBs.nodeName}' a ${name} child of '${parentNode.nodeName}' would create a cycle`,
      );
    }
    if (childBs.deleted) throw new Error(`${childBs.toString()} is deleted`);
    const c = new BdrvChild(name, role, parent);
    childBs.refcount++;
    if (parentNode !== undefined) parentNode.children.unshift(c);
    childDrainedBeginSingle(c);
    this.replaceChildNoperm(c, childBs);
    log.push(() => {
      // Detaching ends the quiesce the edge may still hold (attached to a drained node).
      this.replaceChildNoperm(c, null);
      if (parentNode !== undefined) {
        const i = parentNode.children.indexOf(c);
        if (i >= 0) parentNode.children.splice(i, 1);
      }
      childBs.refcount--;
    });
    return c;
  }

  /** Runs `change` then refreshes permissions; undoes everything on failure. */
  private transaction<T>(
    change: (log: UndoLog) => T,
    changed: (result: T) => Iterable<BdrvChild> = () => [],
  ): T {
    const snap = snapshotPerms(this.all);
    const log: UndoLog = [];
    let result: T;
    try {
      result = change(log);
      refreshPerms(this.all, snap, new Set(changed(result)));
    } catch (e) {
      runUndo(log);
      restorePerms(snap);
      throw e;
    }
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
    this.ensureSameContext(parent, childBs);
    const c = this.transaction(
      (log) => this.attachNoperm(parent.asParent, childBs, name, role, log),
      (e) => [e],
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
        const c = this.attachNoperm(parent, childBs, name, role, log);
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

  /** bdrv_root_unref_child / bdrv_unref_child: detaches an edge and drops its reference. */
  unrefChild(c: BdrvChild): void {
    const old = c.bs;
    const parentNode = c.parent.node;
    if (old === null) return;
    this.replaceChildNoperm(c, null);
    if (parentNode !== undefined) {
      const i = parentNode.children.indexOf(c);
      if (i >= 0) parentNode.children.splice(i, 1);
    }
    // Dropping a user only relaxes constraints; recompute what the remaining edges need.
    refreshPerms(this.all, snapshotPerms(this.all));
    if (parentNode !== undefined && !parentNode.deleted) this.refreshLimitsUp(parentNode);
    old.unref();
  }

  /** Edges of `from` that bdrv_replace_node moves to `to` (should_update_child). */
  private movableParents(from: BlockDriverState, to: BlockDriverState): BdrvChild[] {
    return from.parents.filter((c) => {
      const p = c.parent.node;
      return p === undefined || !this.reaches(to, p);
    });
  }

  private replaceNodeNoperm(from: BlockDriverState, to: BlockDriverState, log: UndoLog): BdrvChild[] {
    const moved = this.movableParents(from, to);
    for (const c of moved) {
      // R7: the parent is quiesced through the edge (from is drained by the caller).
      if (!c.quiescedParent) childDrainedBeginSingle(c);
      const index = from.parents.indexOf(c);
      this.replaceChildNoperm(c, to);
      to.refcount++;
      from.refcount--;
      log.push(() => {
        if (!c.quiescedParent) childDrainedBeginSingle(c);
        this.replaceChildNoperm(c, from, index);
        from.refcount++;
        to.refcount--;
      });
    }
    return moved;
  }

  /**
   * bdrv_replace_node: every parent of `from` (except those below `to`) now points to `to`.
   * Both nodes are quiesced (without polling) while the edges move (R7).
   */
  replaceNode(from: BlockDriverState, to: BlockDriverState): void {
    this.ensureSameContext(from, to);
    from.ref();
    doDrainedBeginQuiesce(from);
    doDrainedBeginQuiesce(to);
    try {
      this.transaction(
        (log) => this.replaceNodeNoperm(from, to, log),
        (moved) => moved,
      );
    } finally {
      drainedEnd(to);
      drainedEnd(from);
      from.unref();
    }
    for (const c of to.parents) if (c.parent.node) this.refreshLimitsUp(c.parent.node);
  }

  /**
   * bdrv_append: `bsNew` goes on top of `bsTop`: bsTop becomes bsNew's `backing` child (FILTERED
   * for filter drivers, COW otherwise) and bsTop's parents move to bsNew. Permissions are
   * refreshed once, after both changes.
   */
  appendNode(bsNew: BlockDriverState, bsTop: BlockDriverState): void {
    if (bsNew.backing !== null) throw new ConfigError(`'${bsNew.nodeName}' already has a backing child`);
    this.ensureSameContext(bsNew, bsTop);
    const role = bsNew.driver.kind === 'filter' ? ChildRole.FILTERED | ChildRole.PRIMARY : ChildRole.COW;
    bsTop.ref();
    doDrainedBeginQuiesce(bsTop);
    try {
      this.transaction(
        (log) => {
          const edge = this.attachNoperm(bsNew.asParent, bsTop, 'backing', role, log);
          return [edge, ...this.replaceNodeNoperm(bsTop, bsNew, log)];
        },
        (edges) => edges,
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

  // ---- contexts & limits ---------------------------------------------------------------------

  private ensureSameContext(a: BlockDriverState, b: BlockDriverState): void {
    if (a.aioContext !== b.aioContext) this.changeAioContext(b, a.aioContext);
  }

  /**
   * bdrv_try_change_aio_context: moves the connected component of `bs` (children and parents)
   * to `ctx`. Non-node parents may refuse by throwing from changeAioContext; nothing changes then.
   */
  changeAioContext(bs: BlockDriverState, ctx: AioContext): void {
    const nodes = new Set<BlockDriverState>();
    const users: BdrvChild[] = [];
    const visit = (n: BlockDriverState): void => {
      if (nodes.has(n)) return;
      nodes.add(n);
      for (const c of n.children) if (c.bs !== null) visit(c.bs);
      for (const c of n.parents) {
        if (c.parent.node !== undefined) visit(c.parent.node);
        else users.push(c);
      }
    };
    visit(bs);
    for (const c of users) if (c.parent.aioContext !== ctx) c.parent.changeAioContext?.(c, ctx);
    for (const n of nodes) {
      if (n.aioContext === ctx) continue;
      n.driver.detachAioContext?.(n);
      n.aioContext = ctx;
      n.driver.attachAioContext?.(n);
    }
  }

  /** Recomputes limits of `bs` and its node ancestors (after a child change). */
  refreshLimitsUp(bs: BlockDriverState): void {
    try {
      refreshLimits(bs);
    } catch {
      // Limits were valid when the driver opened; keep the old ones.
    }
    for (const c of bs.parents) if (c.parent.node !== undefined) this.refreshLimitsUp(c.parent.node);
  }
}
