/**
 * BlockBackend (block/block-backend.c): the handle through which a device, a job or a user does
 * I/O on a graph of nodes. It owns the root edge, the attached device and its callbacks, the
 * in-flight counter, parking of requests while drained (B1–B5), error policies and iostatus,
 * throttling and accounting. Requests go through `co*` (promises), `aio*` (callbacks, for
 * devices) or the convenience methods `read`/`write`/... (exceptions).
 */
import { ConfigError, Errno, TypedEmitter, type AioContext, type Disposer, type IOVector } from '@vmkit/core';
import { BlockError } from '@vmkit/core';
import { BDRV_SECTOR_SIZE, ChildRole, Perm, RequestFlags, type PermMask, type RequestFlagsMask } from '../constants.js';
import type { BdrvChild } from '../child.js';
import type { BlockGraph } from '../graph.js';
import type { BlockDriverState } from '../node.js';
import { doDrainedBeginQuiesce, drainedBegin, drainedEnd } from '../drain.js';
import { ioPlug, ioUnplug } from '../plug.js';
import { bdrvGetLength } from '../io/driver-io.js';
import type { TruncateOptions } from '../io/truncate.js';
import { BlockAcctStats } from '../accounting/stats.js';
import type { BlockAcctCookie } from '../accounting/cookie.js';
import type { BlockAcctType } from '../accounting/acct-type.js';
import type { ThrottleConfig } from '../throttle/config.js';
import { ThrottleGroupMember } from '../throttle/member.js';
import type { BlockDevOps } from './dev-ops.js';
import { errorActionFor, ioErrorEvent } from './error-action.js';
import { blkDoFlush, blkDoRequest, blkDoTruncate } from './io.js';
import { AioRequestPool } from './request.js';
import { BlockBackendRegistry } from './registry.js';
import { BlockBackendRootParent } from './root-parent.js';
import * as convenience from './convenience.js';
import type {
  BlockAIOCB,
  BlockBackendEvents,
  BlockBackendOptions,
  BlockBackendRootState,
  BlockCompletionFunc,
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
} from './types.js';

const INT_MAX = 0x7fffffff;

async function settleCo(blk: BlockBackend, pending: Promise<number>): Promise<number> {
  try {
    return await pending;
  } finally {
    blk.decInFlight();
  }
}

interface AioContextNotifier {
  attached(ctx: AioContext): void;
  detach(): void;
}

export class BlockBackend {
  readonly graph: BlockGraph;
  readonly registry: BlockBackendRegistry;
  /** @internal The AioContext (blk->ctx); read it through `aioContext`. */
  ctx: AioContext;
  /** @internal Set by BlockBackendRegistry.monitorAdd/monitorRemove. */
  monitorName = '';
  /** The root edge (blk->root); null while no node is inserted. */
  root: BdrvChild | null = null;
  /** The callbacks of the attached device (null without device or before setDevOps). */
  devOps: BlockDevOps | null = null;
  /** Options of the last root node, kept while none is inserted (blk->root_state). */
  readonly rootState: BlockBackendRootState = { openFlags: null, readOnly: false, detectZeroes: 'off' };
  /** Guest-visible write cache; when off, every write is sent with FUA. */
  enableWriteCache = true;
  /** Skip the range check against the length (image creation, jobs that grow the target). */
  allowWriteBeyondEof = false;
  /** May follow an AioContext change of its node although a device is attached. */
  allowAioContextChange = false;
  /** Do not park new requests while drained (B4; block jobs and test D7 use it). */
  disableRequestQueuing = false;
  /** rerror: policy for read failures. */
  onReadError: BlockdevOnError = 'report';
  /** werror: policy for write, flush, discard and write-zeroes failures. */
  onWriteError: BlockdevOnError = 'enospc';
  /** I/O statistics (query-blockstats), on the BlockBackend's clock. */
  readonly stats: BlockAcctStats;
  readonly events = new TypedEmitter<BlockBackendEvents>();
  /** Drained sections the root edge holds this BlockBackend in (blk->quiesce_counter). */
  quiesceCounter = 0;
  /** Requests in flight (blk->in_flight), separate from the node's: AIO exists without a node. */
  inFlight = 0;
  /** @internal Resolvers of requests parked while drained (blk->queued_requests). */
  readonly queuedRequests: Array<() => void> = [];
  /** The throttling side of this BlockBackend (registered in a group while it has limits). */
  readonly throttle = new ThrottleGroupMember();
  /** @internal */
  readonly aioPool = new AioRequestPool();
  /** @internal */
  readonly rootParent: BlockBackendRootParent;

  #refcount = 1;
  #perm: PermMask;
  #sharedPerm: PermMask;
  #permAuto: boolean;
  #dev: object | null = null;
  #devId = '';
  #iostatusEnabled = false;
  #iostatus: BlockDeviceIoStatus = 'ok';
  #deleted = false;
  readonly #aioNotifiers: AioContextNotifier[] = [];

  /** blk_new: a BlockBackend with one reference, no node and no device. */
  constructor(graph: BlockGraph, options: BlockBackendOptions = {}) {
    this.graph = graph;
    this.registry = BlockBackendRegistry.of(graph);
    this.ctx = options.ctx ?? graph.mainContext;
    this.#permAuto = options.perm === undefined;
    this.#perm = options.perm ?? Perm.CONSISTENT_READ;
    this.#sharedPerm = options.sharedPerm ?? Perm.ALL;
    const fixedLatencyNs = options.statsFixedLatencyNs ?? this.registry.statsFixedLatencyNs;
    this.stats = new BlockAcctStats(this.ctx.clock, fixedLatencyNs === undefined ? {} : { fixedLatencyNs });
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

  // ---- identity, references -----------------------------------------------------------------

  /** The monitor name ('' for an anonymous BlockBackend). */
  get name(): string {
    return this.monitorName;
  }

  /** blk_get_aio_context. */
  get aioContext(): AioContext {
    return this.ctx;
  }

  /** blk_bs: the root node, or null. */
  get bs(): BlockDriverState | null {
    return this.root?.bs ?? null;
  }

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
    if (this.monitorName !== '') throw new Error(`BlockBackend '${this.monitorName}' deleted with a monitor name`);
    if (this.#dev !== null) throw new Error('BlockBackend deleted with a device attached');
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
        this.alignInsertedContext(bs);
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
  private alignInsertedContext(bs: BlockDriverState): void {
    try {
      this.graph.changeAioContext(bs, this.ctx);
    } catch (e) {
      if (!this.canChangeAioContext()) throw e;
      this.applyAioContext(bs.aioContext);
    }
  }

  /**
   * blk_remove_bs: notifies, moves the throttle timers to the main context, drains, and detaches
   * the root. The BlockBackend keeps its AioContext; the node goes back to the main context when
   * nothing else holds it elsewhere.
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
      if (!bs.deleted && bs.aioContext !== this.graph.mainContext) {
        try {
          this.graph.changeAioContext(bs, this.graph.mainContext);
        } catch {
          // Another user keeps the node in its context.
        }
      }
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

  /** The attached device model (blk_get_attached_dev), or null. */
  get attachedDev(): object | null {
    return this.#dev;
  }

  /** The attached device's id, '' without device (blk_get_attached_dev_id). */
  get attachedDevId(): string {
    return this.#devId;
  }

  /** blk_attach_dev: 0, or -EBUSY if a device is attached. Takes a reference, resets iostatus. */
  attachDev(dev: object, id = ''): number {
    if (this.#dev !== null) return -Errno.EBUSY;
    this.ref();
    this.#dev = dev;
    this.#devId = id;
    this.iostatusReset();
    return 0;
  }

  /**
   * blk_detach_dev: `dev` must be the attached device. Forgets its callbacks, drops the
   * permissions to (0, ALL) and the device's reference (which may delete the BlockBackend).
   */
  detachDev(dev: object): Promise<void> {
    if (this.#dev !== dev) throw new Error('blk_detach_dev: not the attached device');
    this.#dev = null;
    this.#devId = '';
    this.devOps = null;
    this.setPerm(0, Perm.ALL);
    return this.unref();
  }

  /** blk_set_dev_ops: when already quiesced, the device hears drainedBegin at once (B5). */
  setDevOps(ops: BlockDevOps | null): void {
    this.devOps = ops;
    if (this.quiesceCounter > 0) ops?.drainedBegin?.();
  }

  /** blk_dev_has_removable_media: true without device. */
  devHasRemovableMedia(): boolean {
    return this.#dev === null || this.devOps?.changeMedia !== undefined;
  }

  /** blk_dev_has_tray. */
  devHasTray(): boolean {
    return this.devOps?.isTrayOpen !== undefined;
  }

  /** blk_dev_is_tray_open. */
  devIsTrayOpen(): boolean {
    return this.devOps?.isTrayOpen?.() ?? false;
  }

  /** blk_dev_is_medium_locked. */
  devIsMediumLocked(): boolean {
    return this.devOps?.isMediumLocked?.() ?? false;
  }

  /** blk_dev_eject_request. */
  devEjectRequest(force: boolean): void {
    this.devOps?.ejectRequest?.(force);
  }

  /** blk_dev_change_media_cb: tells the device, then raises 'tray-moved' if the tray moved. */
  devChangeMedia(load: boolean): void {
    const ops = this.devOps;
    if (ops?.changeMedia === undefined) return;
    const wasOpen = this.devIsTrayOpen();
    ops.changeMedia(load);
    const isOpen = this.devIsTrayOpen();
    if (wasOpen !== isOpen) this.events.emit('tray-moved', { device: this.name, id: this.#devId, trayOpen: isOpen });
  }

  // ---- state ---------------------------------------------------------------------------------

  /** blk_is_inserted. */
  isInserted(): boolean {
    const bs = this.bs;
    return bs !== null && !bs.deleted;
  }

  /** blk_is_available: inserted and the tray is closed. */
  isAvailable(): boolean {
    return this.isInserted() && !this.devIsTrayOpen();
  }

  /** The root node when available, else null (the checks use it). */
  availableNode(): BlockDriverState | null {
    const bs = this.bs;
    if (bs === null || bs.deleted || this.devIsTrayOpen()) return null;
    return bs;
  }

  /** blk_is_read_only. */
  isReadOnly(): boolean {
    const bs = this.bs;
    return bs !== null ? bs.readOnly : this.rootState.readOnly;
  }

  /** blk_in_drain: a starting dataplane must not attach now; drainedEnd will. */
  get inDrain(): boolean {
    return this.quiesceCounter > 0;
  }

  setEnableWriteCache(wce: boolean): void {
    this.enableWriteCache = wce;
  }

  setAllowWriteBeyondEof(allow: boolean): void {
    this.allowWriteBeyondEof = allow;
  }

  setAllowAioContextChange(allow: boolean): void {
    this.allowAioContextChange = allow;
  }

  setDisableRequestQueuing(disable: boolean): void {
    this.disableRequestQueuing = disable;
  }

  /** blk_get_request_alignment: 512 without node. */
  get requestAlignment(): number {
    return this.bs?.limits.requestAlignment ?? BDRV_SECTOR_SIZE;
  }

  /** blk_get_max_transfer: never 0. */
  get maxTransfer(): number {
    const max = this.bs?.limits.maxTransfer ?? 0;
    return max === 0 ? INT_MAX : Math.min(max, INT_MAX);
  }

  /** blk_get_max_iov (0 without node: no limit known). */
  get maxIov(): number {
    return this.bs?.limits.maxIov ?? 0;
  }

  /** blk_nb_sectors: the cached length in sectors, or -ENOMEDIUM. */
  nbSectors(): number {
    const bs = this.availableNode();
    return bs === null ? -Errno.ENOMEDIUM : Math.floor(bs.totalBytes / BDRV_SECTOR_SIZE);
  }

  // ---- AioContext ----------------------------------------------------------------------------

  /** blk_root_can_set_aio_ctx's rule. */
  canChangeAioContext(): boolean {
    return this.allowAioContextChange || (this.monitorName !== '' && this.#dev === null);
  }

  /**
   * blk_set_aio_context: moves the whole graph connected to the root node (other users of it may
   * refuse: ConfigError, nothing moves), then this BlockBackend. Without node, just records it.
   */
  setAioContext(ctx: AioContext): void {
    const bs = this.bs;
    if (bs !== null && bs.aioContext !== ctx) {
      const old = this.ctx;
      // Our edge already agrees, so the graph does not ask us (the ignore_child of QEMU).
      this.ctx = ctx;
      try {
        this.graph.changeAioContext(bs, ctx);
      } finally {
        this.ctx = old;
      }
    }
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

  // ---- in-flight and drain -------------------------------------------------------------------

  /** blk_inc_in_flight. */
  incInFlight(): void {
    this.inFlight++;
  }

  /** blk_dec_in_flight: wakes drain waiters. */
  decInFlight(): void {
    this.inFlight--;
    this.ctx.kick();
  }

  /** @internal B2: wakes every parked request, taking back their in-flight references first. */
  resumeQueuedRequests(): void {
    const q = this.queuedRequests;
    if (q.length === 0) return;
    const wake = q.splice(0);
    this.inFlight += wake.length;
    for (const resolve of wake) resolve();
  }

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

  /** blk_io_plug: batches submissions to the root node until ioUnplug. */
  ioPlug(): void {
    const bs = this.bs;
    if (bs !== null) ioPlug(bs);
  }

  ioUnplug(): void {
    const bs = this.bs;
    if (bs !== null) ioUnplug(bs);
  }

  // ---- coroutine-style I/O -------------------------------------------------------------------

  private co(r: number | Promise<number>): Promise<number> {
    if (typeof r === 'number') {
      this.decInFlight();
      return Promise.resolve(r);
    }
    return settleCo(this, r);
  }

  /** blk_co_preadv: reads `bytes` at `offset` into `qiov`; 0 or a negative errno. */
  coPreadv(offset: number, bytes: number, qiov: IOVector, flags: RequestFlagsMask = 0): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'read', offset, bytes, qiov, 0, flags));
  }

  /** blk_co_pwritev. */
  coPwritev(offset: number, bytes: number, qiov: IOVector, flags: RequestFlagsMask = 0): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'write', offset, bytes, qiov, 0, flags));
  }

  /** blk_co_pwrite_zeroes (a write without data: throttled by its byte count). */
  coPwriteZeroes(offset: number, bytes: number, flags: RequestFlagsMask = 0): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'write', offset, bytes, null, 0, flags | RequestFlags.ZERO_WRITE));
  }

  /** blk_co_pdiscard. */
  coPdiscard(offset: number, bytes: number): Promise<number> {
    this.inFlight++;
    return this.co(blkDoRequest(this, 'discard', offset, bytes, null, 0, 0));
  }

  /** blk_co_flush. */
  coFlush(): Promise<number> {
    this.inFlight++;
    return this.co(blkDoFlush(this));
  }

  /** blk_co_truncate: 0 or a negative errno (-ENOMEDIUM, -EINVAL, -EACCES, -EPERM, -ENOTSUP). */
  async coTruncate(offset: number, opts: TruncateOptions = {}): Promise<number> {
    return blkDoTruncate(this, offset, opts);
  }

  /** blk_co_getlength: the length in bytes or a negative errno. */
  async coGetLength(): Promise<number> {
    const bs = this.availableNode();
    if (bs === null) return -Errno.ENOMEDIUM;
    return bdrvGetLength(bs);
  }

  // ---- AIO (devices) -------------------------------------------------------------------------

  /**
   * blk_aio_preadv: reads `qiov.size` bytes at `offset`. `cb(opaque, ret)` runs later, never
   * inside this call; the in-flight reference is dropped after it.
   */
  aioPreadv<T>(offset: number, qiov: IOVector, flags: RequestFlagsMask, cb: BlockCompletionFunc<T>, opaque: T): BlockAIOCB {
    const req = this.aioPool.get(this, 'read', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'read', offset, qiov.size, qiov, 0, flags));
    return req;
  }

  /** blk_aio_pwritev. */
  aioPwritev<T>(offset: number, qiov: IOVector, flags: RequestFlagsMask, cb: BlockCompletionFunc<T>, opaque: T): BlockAIOCB {
    const req = this.aioPool.get(this, 'write', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'write', offset, qiov.size, qiov, 0, flags));
    return req;
  }

  /** blk_aio_pwrite_zeroes. */
  aioPwriteZeroes<T>(
    offset: number,
    bytes: number,
    flags: RequestFlagsMask,
    cb: BlockCompletionFunc<T>,
    opaque: T,
  ): BlockAIOCB {
    const req = this.aioPool.get(this, 'write-zeroes', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'write', offset, bytes, null, 0, flags | RequestFlags.ZERO_WRITE));
    return req;
  }

  /** blk_aio_pdiscard. */
  aioPdiscard<T>(offset: number, bytes: number, cb: BlockCompletionFunc<T>, opaque: T): BlockAIOCB {
    const req = this.aioPool.get(this, 'discard', cb, opaque);
    this.inFlight++;
    req.submit(blkDoRequest(this, 'discard', offset, bytes, null, 0, 0));
    return req;
  }

  /** blk_aio_flush. */
  aioFlush<T>(cb: BlockCompletionFunc<T>, opaque: T): BlockAIOCB {
    const req = this.aioPool.get(this, 'flush', cb, opaque);
    this.inFlight++;
    req.submit(blkDoFlush(this));
    return req;
  }

  /** blk_abort_aio_request: completes with `ret` from a bottom half, like any other request. */
  abortAioRequest<T>(cb: BlockCompletionFunc<T>, opaque: T, ret: number): BlockAIOCB {
    const req = this.aioPool.get(this, 'abort', cb, opaque);
    this.inFlight++;
    req.submit(ret);
    return req;
  }

  // ---- convenience API (exceptions, accounted like qemu-io's aio_* commands) -----------------

  /** Reads `length` bytes at `offset`; throws BlockError (`read failed: Input/output error`). */
  read(offset: number, length: number): Promise<Uint8Array> {
    return convenience.read(this, offset, length);
  }

  /** Writes `data` at `offset`; throws BlockError (`write failed: ...`). */
  write(offset: number, data: Uint8Array, flags: RequestFlagsMask = 0): Promise<void> {
    return convenience.write(this, offset, data, flags);
  }

  writeZeroes(offset: number, bytes: number, flags: RequestFlagsMask = 0): Promise<void> {
    return convenience.writeZeroes(this, offset, bytes, flags);
  }

  discard(offset: number, bytes: number): Promise<void> {
    return convenience.discard(this, offset, bytes);
  }

  flush(): Promise<void> {
    return convenience.flush(this);
  }

  truncate(size: number, opts: TruncateOptions = {}): Promise<void> {
    return convenience.truncate(this, size, opts);
  }

  /** The length in bytes; throws BlockError (`getlength failed: No medium found`). */
  getLength(): Promise<number> {
    return convenience.getLength(this);
  }

  // ---- accounting helpers for devices --------------------------------------------------------

  /** block_acct_start on this BlockBackend's stats. */
  acctStart(cookie: BlockAcctCookie, bytes: number, type: BlockAcctType): void {
    this.stats.start(cookie, bytes, type);
  }

  acctDone(cookie: BlockAcctCookie): void {
    this.stats.done(cookie);
  }

  acctFailed(cookie: BlockAcctCookie): void {
    this.stats.failed(cookie);
  }

  acctInvalid(type: BlockAcctType): void {
    this.stats.invalid(type);
  }

  acctMergeDone(type: BlockAcctType, count: number): void {
    this.stats.mergeDone(type, count);
  }

  // ---- error policies and iostatus -----------------------------------------------------------

  /** blk_set_on_error. */
  setOnError(onReadError: BlockdevOnError, onWriteError: BlockdevOnError): void {
    this.onReadError = onReadError;
    this.onWriteError = onWriteError;
  }

  /** blk_get_on_error. */
  getOnError(isRead: boolean): BlockdevOnError {
    return isRead ? this.onReadError : this.onWriteError;
  }

  /** blk_get_error_action: what the policy says for a failure with `errno` (either sign). */
  getErrorAction(isRead: boolean, errno: number): BlockErrorAction {
    return errorActionFor(this.getOnError(isRead), errno);
  }

  /**
   * blk_error_action, called by devices once per failed request: `stop` first sets the iostatus,
   * then every action raises BLOCK_IO_ERROR, and `stop` then asks the machine to stop.
   */
  errorAction(action: BlockErrorAction, isRead: boolean, errno: number): void {
    const error = Math.abs(errno);
    if (action === 'stop') this.iostatusSetErr(error);
    const bs = this.bs;
    const event = ioErrorEvent(this.name !== '' ? this.name : this.#devId, bs?.nodeName ?? '', action, isRead, error);
    this.events.emit('io-error', event);
    this.registry.events.emit('block-io-error', event);
    if (action === 'stop') this.registry.requestStop?.('io-error');
  }

  /** blk_iostatus_enable (devices call it at realize). */
  iostatusEnable(): void {
    this.#iostatusEnabled = true;
    this.#iostatus = 'ok';
  }

  /** blk_iostatus_is_enabled: enabled by the device and some policy can stop. */
  iostatusIsEnabled(): boolean {
    return (
      this.#iostatusEnabled &&
      (this.onWriteError === 'enospc' || this.onWriteError === 'stop' || this.onReadError === 'stop')
    );
  }

  iostatusDisable(): void {
    this.#iostatusEnabled = false;
  }

  get iostatus(): BlockDeviceIoStatus {
    return this.#iostatus;
  }

  /** blk_iostatus_reset. */
  iostatusReset(): void {
    if (this.iostatusIsEnabled()) this.#iostatus = 'ok';
  }

  /** blk_iostatus_set_err: only an enabled status that is OK changes (ENOSPC → nospace). */
  iostatusSetErr(errno: number): void {
    if (!this.iostatusIsEnabled() || this.#iostatus !== 'ok') return;
    this.#iostatus = Math.abs(errno) === Errno.ENOSPC ? 'nospace' : 'failed';
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

  toString(): string {
    return this.name !== '' ? `BlockBackend '${this.name}'` : `anonymous BlockBackend${this.#devId ? ` of '${this.#devId}'` : ''}`;
  }
}
