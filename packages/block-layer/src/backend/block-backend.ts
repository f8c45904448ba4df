/**
 * BlockBackend (block/block-backend.c): the handle through which a device, a job or a user does
 * I/O on a graph of nodes. This file holds its life cycle: references, the root node and its
 * permissions, the attached device, the AioContext, drain and throttling. The state it keeps is
 * in BlockBackendBase (base.ts), the I/O methods in BlockBackendIoApi (io-api.ts).
 */
import { BlockError, ConfigError, Errno, type AioContext, type Disposer } from '@vmkit/core';
import { ChildRole, Perm, type PermMask } from '../constants.js';
import type { BdrvChild } from '../child.js';
import type { BlockGraph } from '../graph.js';
import type { BlockDriverState } from '../node.js';
import { doDrainedBeginQuiesce, drainedBegin, drainedEnd } from '../drain.js';
import type { ThrottleConfig } from '../throttle/config.js';
import type { BlockDevOps } from './dev-ops.js';
import { BlockBackendIoApi } from './io-api.js';
import { BlockBackendRootParent } from './root-parent.js';
import { blockInfo, blockStats, type BlockInfo, type BlockStats } from './query.js';
import type { BlockBackendOptions } from './types.js';

interface AioContextNotifier {
  attached(ctx: AioContext): void;
  detach(): void;
}

export class BlockBackend extends BlockBackendIoApi {
  /** @internal The parent side of the root edge. */
  readonly rootParent: BlockBackendRootParent;

  #refcount = 1;
  #perm: PermMask;
  #sharedPerm: PermMask;
  #permAuto: boolean;
  #deleted = false;
  readonly #aioNotifiers: AioContextNotifier[] = [];

  /** blk_new: a BlockBackend with one reference, no node and no device. */
  constructor(graph: BlockGraph, options: BlockBackendOptions = {}) {
    super(graph, options);
    this.#permAuto = options.perm === undefined;
    this.#perm = options.perm ?? Perm.CONSISTENT_READ;
    this.#sharedPerm = options.sharedPerm ?? Perm.ALL;
    this.rootParent = new BlockBackendRootParent(this);
    this.registry.add(this);
  }

  /** blk_new_with_bs: a new BlockBackend with `bs` inserted; throws like insertBs. */
  static withNode(bs: BlockDriverState, options: BlockBackendOptions = {}): BlockBackend {
    const blk = new BlockBackend(bs.graph, { ctx: bs.aioContext, ...options });
    try {
      blk.insertBs(bs);
    } catch (e) {
      blk.#refcount = 0;
      blk.#deleted = true;
      blk.registry.remove(blk);
      throw e;
    }
    return blk;
  }

  // ---- references ----------------------------------------------------------------------------

  get refcount(): number {
    return this.#refcount;
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  /** blk_ref. */
  ref(): void {
    if (this.#refcount <= 0) throw new Error('blk_ref on a deleted BlockBackend');
    this.#refcount++;
  }

  /**
   * blk_unref: the last reference drains the BlockBackend, then deletes it (throttling off, node
   * removed). The BlockBackend must have no device and no monitor name by then.
   */
  async unref(): Promise<void> {
    if (this.#refcount <= 0) throw new Error('blk_unref on a deleted BlockBackend');
    if (this.#refcount > 1) {
      this.#refcount--;
      return;
    }
    await this.drain();
    if (this.#refcount !== 1) throw new Error('BlockBackend referenced while its last reference was dropped');
    this.#refcount = 0;
    await this.delete();
  }

  /** blk_delete. */
  private async delete(): Promise<void> {
    if (this.monitorName !== '')
      throw new Error(`BlockBackend '${this.monitorName}' deleted with a monitor name`);
    if (this.dev !== null) throw new Error('BlockBackend deleted with a device attached');
    if (this.throttle.group !== null) await this.ioLimitsDisable();
    if (this.root !== null) await this.removeBs();
    this.#deleted = true;
    this.registry.remove(this);
  }

  // ---- root node -----------------------------------------------------------------------------

  /** Permissions taken on the root node (blk_get_perm). */
  get perm(): PermMask {
    return this.#perm;
  }

  get sharedPerm(): PermMask {
    return this.#sharedPerm;
  }

  /**
   * blk_insert_bs: attaches `bs` as the root (role FILTERED|PRIMARY) with the BlockBackend's
   * permissions; `bs` moves to the BlockBackend's AioContext, or the BlockBackend to the node's
   * if it may change. Throws BlockError with errno EPERM and the permission (or context) message.
   */
  insertBs(bs: BlockDriverState): void {
    if (this.root !== null) throw new Error('blk_insert_bs: the BlockBackend already has a node');
    if (this.#permAuto) this.#perm = Perm.CONSISTENT_READ | (bs.readOnly ? 0 : Perm.WRITE | Perm.RESIZE);
    let root: BdrvChild;
    try {
      root = this.graph.attachRootChild(
        bs,
        'root',
        ChildRole.FILTERED | ChildRole.PRIMARY,
        this.rootParent,
        this.#perm,
        this.#sharedPerm,
      );
    } catch (e) {
      if (e instanceof ConfigError) throw new BlockError(Errno.EPERM, e.message, { cause: e });
      throw e;
    }
    if (bs.aioContext !== this.ctx) {
      try {
        this.alignInsertedContext(bs, root);
      } catch (e) {
        this.graph.unrefChild(root);
        if (e instanceof ConfigError) throw new BlockError(Errno.EPERM, e.message, { cause: e });
        throw e;
      }
    }
    this.root = root;
    this.events.emit('insert-bs');
    if (this.throttle.group !== null) {
      this.throttle.detachAioContext();
      this.throttle.attachAioContext(bs.aioContext);
    }
  }

  /**
   * bdrv_attach_child_common: the node follows the BlockBackend's context (asking its other
   * users); if it cannot, the BlockBackend follows the node when it may change.
   */
  private alignInsertedContext(bs: BlockDriverState, root: BdrvChild): void {
    try {
      this.graph.changeAioContext(bs, this.ctx, root);
    } catch (e) {
      if (!this.canChangeAioContext()) throw e;
      this.applyAioContext(bs.aioContext);
    }
  }

  /**
   * blk_remove_bs: notifies, moves the throttle timers to the main context, drains, and detaches
   * the root. The BlockBackend keeps its AioContext; the node goes back to the main context if
   * it has no other parent (BlockGraph.unrefChild, as bdrv_root_unref_child).
   */
  async removeBs(): Promise<void> {
    const root = this.root;
    if (root === null) return;
    this.events.emit('remove-bs');
    const bs = root.bs!;
    bs.ref();
    try {
      if (this.throttle.group !== null) {
        await drainedBegin(bs);
        try {
          this.throttle.detachAioContext();
          this.throttle.attachAioContext(this.graph.mainContext);
        } finally {
          drainedEnd(bs);
        }
      }
      this.updateRootState(bs);
      await this.drain();
      if (this.root !== root) return;
      this.root = null;
      this.graph.unrefChild(root);
    } finally {
      bs.unref();
    }
  }

  /** blk_update_root_state. */
  private updateRootState(bs: BlockDriverState): void {
    this.rootState.openFlags = structuredClone(bs.openFlags);
    this.rootState.readOnly = bs.readOnly;
    this.rootState.detectZeroes = bs.openFlags.detectZeroes;
  }

  /** blk_set_perm: throws the graph's PermissionConflictError (nothing changes then). */
  setPerm(perm: PermMask, sharedPerm: PermMask): void {
    if (this.root !== null) this.graph.setChildPerm(this.root, perm, sharedPerm);
    this.#perm = perm;
    this.#sharedPerm = sharedPerm;
    this.#permAuto = false;
  }

  // ---- device --------------------------------------------------------------------------------

  /** blk_attach_dev: 0, or -EBUSY if a device is attached. Takes a reference, resets iostatus. */
  attachDev(dev: object, id = ''): number {
    if (this.dev !== null) return -Errno.EBUSY;
    this.ref();
    this.dev = dev;
    this.devId = id;
    this.iostatusReset();
    return 0;
  }

  /**
   * blk_detach_dev: `dev` must be the attached device. Forgets its callbacks, drops the
   * permissions to (0, ALL) and the device's reference (which may delete the BlockBackend).
   */
  detachDev(dev: object): Promise<void> {
    if (this.dev !== dev) throw new Error('blk_detach_dev: not the attached device');
    this.dev = null;
    this.devId = '';
    this.devOps = null;
    this.setPerm(0, Perm.ALL);
    return this.unref();
  }

  /** blk_set_dev_ops: when already quiesced, the device hears drainedBegin at once (B5). */
  setDevOps(ops: BlockDevOps | null): void {
    this.devOps = ops;
    if (this.quiesceCounter > 0) ops?.drainedBegin?.();
  }

  // ---- AioContext ----------------------------------------------------------------------------

  /** blk_root_can_set_aio_ctx's rule. */
  canChangeAioContext(): boolean {
    return this.allowAioContextChange || (this.monitorName !== '' && this.dev === null);
  }

  /**
   * blk_set_aio_context: moves the whole graph connected to the root node (other users of it may
   * refuse: ConfigError, and then nothing has moved), then this BlockBackend. Without node, just
   * records it.
   */
  setAioContext(ctx: AioContext): void {
    const root = this.root;
    // Our own edge is not followed (QEMU's ignore_child): we move ourselves below.
    if (root?.bs && root.bs.aioContext !== ctx) this.graph.changeAioContext(root.bs, ctx, root);
    this.applyAioContext(ctx);
  }

  /**
   * @internal blk_do_set_aio_context without moving the node: records the context, moves the
   * throttle timers inside a quiesced section (which releases throttled requests) and tells the
   * AioContext notifiers.
   */
  applyAioContext(ctx: AioContext): void {
    if (ctx === this.ctx) return;
    for (const n of this.#aioNotifiers) n.detach();
    this.ctx = ctx;
    if (this.throttle.group !== null) {
      const bs = this.bs;
      if (bs !== null) doDrainedBeginQuiesce(bs);
      try {
        this.throttle.detachAioContext();
        this.throttle.attachAioContext(ctx);
      } finally {
        if (bs !== null) drainedEnd(bs);
      }
    }
    for (const n of this.#aioNotifiers) n.attached(ctx);
  }

  /** blk_add_aio_context_notifier: called around every context change; returns a disposer. */
  addAioContextNotifier(attached: (ctx: AioContext) => void, detach: () => void): Disposer {
    const n: AioContextNotifier = { attached, detach };
    this.#aioNotifiers.unshift(n);
    return () => {
      const i = this.#aioNotifiers.indexOf(n);
      if (i >= 0) this.#aioNotifiers.splice(i, 1);
    };
  }

  // ---- drain ---------------------------------------------------------------------------------

  /**
   * blk_drain: drains the root node if any, and in every case waits until this BlockBackend has
   * nothing in flight (a BlockBackend without node may have -ENOMEDIUM completions pending).
   */
  async drain(): Promise<void> {
    const bs = this.bs;
    if (bs !== null) {
      bs.ref();
      await drainedBegin(bs);
    }
    try {
      await this.ctx.waitWhile(() => this.inFlight > 0);
    } finally {
      if (bs !== null) {
        drainedEnd(bs);
        bs.unref();
      }
    }
  }

  // ---- throttling ----------------------------------------------------------------------------

  /** The throttle group's name, or undefined when not throttled. */
  get ioLimitsGroup(): string | undefined {
    return this.throttle.groupName;
  }

  /** blk_io_limits_enable: joins (or creates) throttle group `group`. */
  ioLimitsEnable(group: string): void {
    if (this.throttle.group !== null) throw new Error('blk_io_limits_enable: already throttled');
    this.throttle.register(this.registry.throttleGroups, group, this.ctx);
  }

  /** blk_io_limits_disable: leaves the group inside a drained section (throttled requests flush). */
  async ioLimitsDisable(): Promise<void> {
    if (this.throttle.group === null) return;
    const bs = this.bs;
    if (bs !== null) {
      bs.ref();
      await drainedBegin(bs);
    }
    try {
      this.throttle.unregister();
    } finally {
      if (bs !== null) {
        drainedEnd(bs);
        bs.unref();
      }
    }
  }

  /** blk_io_limits_update_group: moves to `group` if throttled and in another group. */
  async ioLimitsUpdateGroup(group: string): Promise<void> {
    if (this.throttle.group === null || this.throttle.groupName === group) return;
    await this.ioLimitsDisable();
    this.ioLimitsEnable(group);
  }

  /** blk_set_io_limits (throttle_group_config): throws ConfigError with throttle_is_valid's text. */
  setIoLimits(cfg: ThrottleConfig): void {
    this.throttle.setConfig(cfg);
  }

  // ---- queries -------------------------------------------------------------------------------

  /** This BlockBackend's query-block entry. */
  queryBlock(): BlockInfo {
    return blockInfo(this);
  }

  /** This BlockBackend's query-blockstats entry. */
  queryBlockstats(): BlockStats {
    return blockStats(this);
  }

  override toString(): string {
    return this.name !== ''
      ? `BlockBackend '${this.name}'`
      : `anonymous BlockBackend${this.devId ? ` of '${this.devId}'` : ''}`;
  }
}
