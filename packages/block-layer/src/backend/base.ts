/**
 * The state half of a BlockBackend (block/block-backend.c): identity, flags, limits, the device
 * callbacks, the in-flight counter, error policies and iostatus, accounting. The I/O methods are
 * in BlockBackendIoApi, the life cycle (references, root node, device, AioContext, drain,
 * throttling) in BlockBackend.
 */
import { Errno, TypedEmitter, type AioContext } from '@vmkit/core';
import { BDRV_SECTOR_SIZE } from '../constants.js';
import type { BdrvChild } from '../child.js';
import type { BlockGraph } from '../graph.js';
import type { BlockDriverState } from '../node.js';
import { BlockAcctStats } from '../accounting/stats.js';
import type { BlockAcctCookie } from '../accounting/cookie.js';
import type { BlockAcctType } from '../accounting/acct-type.js';
import { ThrottleGroupMember } from '../throttle/member.js';
import type { BlockDevOps } from './dev-ops.js';
import { errorActionFor, ioErrorEvent } from './error-action.js';
import { AioRequestPool } from './request.js';
import { BlockBackendRegistry } from './registry.js';
import type {
  BlockBackendEvents,
  BlockBackendOptions,
  BlockBackendRootState,
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
} from './types.js';

const INT_MAX = 0x7fffffff;

export abstract class BlockBackendBase {
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

  /** The attached device and its id (set by BlockBackend.attachDev). */
  protected dev: object | null = null;
  protected devId = '';
  #iostatusEnabled = false;
  #iostatus: BlockDeviceIoStatus = 'ok';

  protected constructor(graph: BlockGraph, options: BlockBackendOptions) {
    this.graph = graph;
    this.registry = BlockBackendRegistry.of(graph);
    this.ctx = options.ctx ?? graph.mainContext;
    const fixedLatencyNs = options.statsFixedLatencyNs ?? this.registry.statsFixedLatencyNs;
    this.stats = new BlockAcctStats(this.ctx.clock, fixedLatencyNs === undefined ? {} : { fixedLatencyNs });
  }

  // ---- identity --------------------------------------------------------------------------------

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

  // ---- device callbacks ------------------------------------------------------------------------

  /** The attached device model (blk_get_attached_dev), or null. */
  get attachedDev(): object | null {
    return this.dev;
  }

  /** The attached device's id, '' without device (blk_get_attached_dev_id). */
  get attachedDevId(): string {
    return this.devId;
  }

  /** blk_dev_has_removable_media: true without device. */
  devHasRemovableMedia(): boolean {
    return this.dev === null || this.devOps?.changeMedia !== undefined;
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
    if (wasOpen !== isOpen)
      this.events.emit('tray-moved', { device: this.name, id: this.devId, trayOpen: isOpen });
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

  // ---- in-flight -------------------------------------------------------------------------------

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
    const event = ioErrorEvent(
      this.name !== '' ? this.name : this.devId,
      bs?.nodeName ?? '',
      action,
      isRead,
      error,
    );
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
}
