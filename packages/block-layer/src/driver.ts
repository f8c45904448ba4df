/**
 * The BlockDriver plugin API (QEMU's `struct BlockDriver`).
 *
 * A driver implements one kind of node: a *protocol* (data lives somewhere: a host file, RAM,
 * nowhere for null-co), a *format* (interprets the bytes of its `file` child: raw, qcow2) or a
 * *filter* (passes requests through to one child, possibly changing them: blkdebug, throttle).
 *
 * Conventions for every method:
 * - `bs` is the node being served; per-node state lives in `bs.opaque` (typed by `S`), which
 *   `open()` sets.
 * - I/O methods return 0 (or a positive count where documented) or a **negative errno**, either
 *   synchronously (`number`) or as a `Promise<number>`. A synchronous return lets the generic
 *   layer take its fast path (no tracked-request registration, no extra await); drivers whose
 *   data is in memory should therefore return plain numbers. I/O methods never throw.
 * - Requests reaching the driver are already checked and aligned to `bs.limits.requestAlignment`
 *   and fragmented to `bs.limits.maxTransfer` (except block status). Offsets beyond the node's
 *   length are only sent for writes by parents that are allowed to grow the node.
 * - Configuration errors (bad options, failed open) are thrown as `ConfigError` with a QEMU-style
 *   message; they are not I/O results.
 */
import type { IOVector } from '@vmkit/core';
import type {
  BlockStatusMask,
  ChildRoleMask,
  MaybePromise,
  OpenFlags,
  PermMask,
  RequestFlagsMask,
} from './constants.js';
import type { BlockDriverState } from './node.js';
import type { BdrvChild } from './child.js';

/** What a driver is (QEMU: protocol_name set / is_format / is_filter). */
export type DriverKind = 'protocol' | 'format' | 'filter';

/** Options as given to blockdev-add, after the generic keys were consumed. */
export type DriverOptions = Readonly<Record<string, unknown>>;

/**
 * A child given in options: a node-name reference (`"file": "disk0"`) or a nested blockdev
 * definition (`"file": { "driver": "file", "filename": "a.img" }`), or `null` for "no child".
 */
export type ChildRef = string | BlockdevOptions | null;

/** Options of a node as accepted by `BlockGraph.openNode` (blockdev-add). */
export interface BlockdevOptions {
  driver: string;
  'node-name'?: string;
  'read-only'?: boolean;
  'auto-read-only'?: boolean;
  discard?: 'unmap' | 'ignore';
  cache?: { direct?: boolean; 'no-flush'?: boolean };
  'detect-zeroes'?: 'off' | 'on' | 'unmap';
  /** Driver-specific keys (including children such as `file` and `backing`). */
  [key: string]: unknown;
}

/** Events raised on the I/O path for fault injection (QEMU BlkdebugEvent, lower case). */
export type BlkdebugEvent =
  | 'l1_update'
  | 'l1_grow_alloc_table'
  | 'l1_grow_write_table'
  | 'l1_grow_activate_table'
  | 'l1_shrink_write_table'
  | 'l1_shrink_free_l2_clusters'
  | 'l2_load'
  | 'l2_update'
  | 'l2_update_compressed'
  | 'l2_alloc_cow_read'
  | 'l2_alloc_write'
  | 'read_aio'
  | 'read_backing_aio'
  | 'read_compressed'
  | 'write_aio'
  | 'write_compressed'
  | 'vmstate_load'
  | 'vmstate_save'
  | 'cow_read'
  | 'cow_write'
  | 'reftable_load'
  | 'reftable_grow'
  | 'reftable_update'
  | 'refblock_load'
  | 'refblock_update'
  | 'refblock_update_part'
  | 'refblock_alloc'
  | 'refblock_alloc_hookup'
  | 'refblock_alloc_write'
  | 'refblock_alloc_write_blocks'
  | 'refblock_alloc_write_table'
  | 'refblock_alloc_switch_table'
  | 'cluster_alloc'
  | 'cluster_alloc_bytes'
  | 'cluster_alloc_space'
  | 'cluster_free'
  | 'flush_to_os'
  | 'flush_to_disk'
  | 'pwritev_rmw_head'
  | 'pwritev_rmw_after_head'
  | 'pwritev_rmw_tail'
  | 'pwritev_rmw_after_tail'
  | 'pwritev'
  | 'pwritev_zero'
  | 'pwritev_done'
  | 'empty_image_prepare'
  | 'cor_write'
  | 'none';

/** Every BlkdebugEvent name (for option validation in blkdebug). */
export const BLKDEBUG_EVENTS: readonly BlkdebugEvent[] = [
  'l1_update',
  'l1_grow_alloc_table',
  'l1_grow_write_table',
  'l1_grow_activate_table',
  'l1_shrink_write_table',
  'l1_shrink_free_l2_clusters',
  'l2_load',
  'l2_update',
  'l2_update_compressed',
  'l2_alloc_cow_read',
  'l2_alloc_write',
  'read_aio',
  'read_backing_aio',
  'read_compressed',
  'write_aio',
  'write_compressed',
  'vmstate_load',
  'vmstate_save',
  'cow_read',
  'cow_write',
  'reftable_load',
  'reftable_grow',
  'reftable_update',
  'refblock_load',
  'refblock_update',
  'refblock_update_part',
  'refblock_alloc',
  'refblock_alloc_hookup',
  'refblock_alloc_write',
  'refblock_alloc_write_blocks',
  'refblock_alloc_write_table',
  'refblock_alloc_switch_table',
  'cluster_alloc',
  'cluster_alloc_bytes',
  'cluster_alloc_space',
  'cluster_free',
  'flush_to_os',
  'flush_to_disk',
  'pwritev_rmw_head',
  'pwritev_rmw_after_head',
  'pwritev_rmw_tail',
  'pwritev_rmw_after_tail',
  'pwritev',
  'pwritev_zero',
  'pwritev_done',
  'empty_image_prepare',
  'cor_write',
  'none',
];

/**
 * Result of a driver's block-status query for [offset, offset + pnum) (bdrv_co_block_status).
 * `status` is a set of `BlockStatus` bits or a negative errno; `pnum` > 0 unless an error.
 */
export interface BlockStatusResult {
  status: BlockStatusMask;
  /** Bytes from `offset` that share this status (may be less than asked; never more). */
  pnum: number;
  /** With OFFSET_VALID: the offset of the data in `file`. */
  map?: number;
  /** With OFFSET_VALID or RECURSE: the node where the data is (`map` is an offset in it). */
  file?: BlockDriverState | null;
}

/** Permissions a parent node asks of one child edge (bdrv_child_perm output). */
export interface ChildPerms {
  perm: PermMask;
  shared: PermMask;
}

/** Static information for query-block / `img info` (bdrv_get_info + format specific). */
export interface DriverInfo {
  /** Cluster size (copy-on-read serialises at this granularity); 0 if none. */
  clusterSize?: number;
  /** Size of the VM state area, for savevm-capable formats. */
  vmStateOffset?: number;
  /** Whether unallocated blocks read as zeroes. */
  unallocatedBlocksAreZero?: boolean;
  /** Format-specific data shown by `img info` (JSON-serialisable). */
  formatSpecific?: Readonly<Record<string, unknown>>;
}

/** Preallocation mode for truncate (PreallocMode). */
export type PreallocMode = 'off' | 'metadata' | 'falloc' | 'full';

/**
 * One node in a blockdev-reopen transaction (BDRVReopenState). `prepare` validates the new
 * options and stages changes in `driverState`; `commit` applies them; `abort` drops them.
 * Children (`file`, `backing`) named in the new options are switched by the generic layer.
 */
export interface ReopenState<S = unknown> {
  readonly bs: BlockDriverState<S>;
  /** New driver options (generic keys and children already removed). */
  readonly options: DriverOptions;
  /** New open flags. */
  readonly flags: OpenFlags;
  /** Free slot for the driver between prepare and commit/abort. */
  driverState?: unknown;
}

/**
 * A block driver (structurally a core `BlockDriverContribution`). `S` is the type of the per-node state in `bs.opaque`; `O` the type of the
 * validated driver options passed to `open()`.
 *
 * Only `name`, `kind` and `open` are required. Missing I/O methods mean "not supported":
 * reads and writes fail with -ENOTSUP, write-zeroes falls back to writing zeroes, discard is a
 * no-op, flush succeeds, block status reports "data, allocated" for the whole request.
 */
export interface BlockDriver<S = unknown, O = DriverOptions> {
  /** Driver name as used in `"driver": "..."` (`'file'`, `'raw'`, `'null-co'`). */
  readonly name: string;
  readonly kind: DriverKind;
  /**
   * For filters: the role of the filtered child (`'file'` or `'backing'`); data reads and
   * block status are forwarded to it. Defaults to `'file'`.
   */
  readonly filteredChild?: 'file' | 'backing';
  /** Whether the node may have a `backing` child (formats with backing files). */
  readonly supportsBacking?: boolean;
  /** Request flags the driver honours in `pwritev` (only FUA is meaningful). */
  readonly supportedWriteFlags?: RequestFlagsMask;
  /** Request flags the driver honours in `pwriteZeroes` (FUA, MAY_UNMAP, NO_FALLBACK). */
  readonly supportedZeroFlags?: RequestFlagsMask;
  /** Whether the node length may change behind our back (host devices): getLength is re-asked. */
  readonly hasVariableLength?: boolean;
  /**
   * Validates driver-specific options and converts them to `O`. Throws ConfigError with the
   * QEMU text (`Parameter 'size' expects a non-negative number below 2^64`) on bad input.
   * Unknown keys should be refused (`Invalid parameter 'foo'`). Children keys (`file`,
   * `backing`) are included so that the driver can look at them; it opens them in `open()`.
   */
  parseOptions?(options: DriverOptions): O;

  /**
   * Opens the node: sets `bs.opaque`, opens children through `bs.openChild()` (format and
   * filter drivers), may set `bs.supportedWriteFlags`. Throws ConfigError on failure; the
   * generic layer then detaches any children opened so far.
   */
  open(bs: BlockDriverState<S>, options: O): MaybePromise<void>;
  /** Releases resources (the node is drained; children are detached afterwards). */
  close?(bs: BlockDriverState<S>): MaybePromise<void>;
  /** Creates an image (`img create` / blockdev-create). */
  create?(options: DriverOptions): Promise<void>;

  /** Current length in bytes or a negative errno (bdrv_co_getlength). */
  getLength?(bs: BlockDriverState<S>): MaybePromise<number>;
  /** Bytes allocated on the host (for `img info`), or negative errno. */
  getAllocatedFileSize?(bs: BlockDriverState<S>): MaybePromise<number>;

  /** Reads `bytes` at `offset` into `qiov` starting at `qiovOffset`. */
  preadv?(
    bs: BlockDriverState<S>,
    offset: number,
    bytes: number,
    qiov: IOVector,
    qiovOffset: number,
    flags: RequestFlagsMask,
  ): MaybePromise<number>;
  /** Writes; `flags` only contains bits from `supportedWriteFlags`. */
  pwritev?(
    bs: BlockDriverState<S>,
    offset: number,
    bytes: number,
    qiov: IOVector,
    qiovOffset: number,
    flags: RequestFlagsMask,
  ): MaybePromise<number>;
  /** Writes zeroes efficiently; -ENOTSUP makes the generic layer write a zero buffer instead. */
  pwriteZeroes?(
    bs: BlockDriverState<S>,
    offset: number,
    bytes: number,
    flags: RequestFlagsMask,
  ): MaybePromise<number>;
  /** Deallocates; -ENOTSUP is ignored by the generic layer. */
  pdiscard?(bs: BlockDriverState<S>, offset: number, bytes: number): MaybePromise<number>;
  /**
   * Flushes the whole stack below this node itself (bdrv_co_flush). When present,
   * flushToOs/flushToDisk are not called and the generic layer does not flush the children.
   */
  flush?(bs: BlockDriverState<S>): MaybePromise<number>;
  /** Writes cached data to the OS (qcow2 metadata caches). */
  flushToOs?(bs: BlockDriverState<S>): MaybePromise<number>;
  /** Makes data stable on disk (fdatasync); skipped for cache=unsafe. */
  flushToDisk?(bs: BlockDriverState<S>): MaybePromise<number>;
  /** Resizes the node (`exact`: the size must be exactly `offset`). */
  truncate?(
    bs: BlockDriverState<S>,
    offset: number,
    exact: boolean,
    prealloc: PreallocMode,
    flags: RequestFlagsMask,
  ): MaybePromise<number>;
  /**
   * Allocation status of [offset, offset + bytes). `wantZero` false allows a cheaper answer
   * (only allocation matters). Filters and raw typically answer RAW|OFFSET_VALID with
   * `file` = the child node.
   */
  blockStatus?(
    bs: BlockDriverState<S>,
    wantZero: boolean,
    offset: number,
    bytes: number,
  ): MaybePromise<BlockStatusResult>;

  /**
   * Adjusts `bs.limits` after the generic layer merged the children's limits
   * (bdrv_refresh_limits). Throw ConfigError to refuse.
   */
  refreshLimits?(bs: BlockDriverState<S>): void;
  /**
   * Permissions this node needs on `child` (null while the child is being attached and has no
   * edge yet) given what its own parents need (`parentPerm`) and allow (`parentShared`).
   * Defaults: filters use `filterDefaultPerms`, formats `defaultPerms` by role
   * (see permissions.ts).
   */
  childPerm?(
    bs: BlockDriverState<S>,
    child: BdrvChild | null,
    role: ChildRoleMask,
    parentPerm: PermMask,
    parentShared: PermMask,
  ): ChildPerms;
  /** Called with the new cumulative permissions before they are applied; throw to refuse. */
  checkPerm?(bs: BlockDriverState<S>, perm: PermMask, shared: PermMask): void;
  /** Called after a permission change was committed (file locking). */
  setPerm?(bs: BlockDriverState<S>, perm: PermMask, shared: PermMask): void;

  /** Drained-section hooks (on the node's 0→1 / 1→0 quiesce transitions). */
  drainBegin?(bs: BlockDriverState<S>): void;
  drainEnd?(bs: BlockDriverState<S>): void;
  /** Plug hooks (batching), called on the node's 0→1 / 1→0 plug transitions. */
  ioPlug?(bs: BlockDriverState<S>): void;
  ioUnplug?(bs: BlockDriverState<S>): void;

  /**
   * Fault-injection hook: called when the I/O path raises `event` on this node. Returning a
   * promise suspends the request at that point until it settles (QEMU's blkdebug breakpoints
   * yield inside BLKDBG_EVENT). Nodes whose driver has this hook never take the fast path.
   */
  debugEvent?(bs: BlockDriverState<S>, event: BlkdebugEvent): void | Promise<void>;

  /** Live reopen (blockdev-reopen). Prepare throws ConfigError to refuse. */
  reopenPrepare?(state: ReopenState<S>): MaybePromise<void>;
  reopenCommit?(state: ReopenState<S>): void;
  reopenAbort?(state: ReopenState<S>): void;

  /** Static information (cluster size, format-specific data). */
  info?(bs: BlockDriverState<S>): DriverInfo;
  /** Called when the node moves to another AioContext (timers must be re-created). */
  attachAioContext?(bs: BlockDriverState<S>): void;
  detachAioContext?(bs: BlockDriverState<S>): void;
  /** A child's length changed (for formats caching it). */
  childResized?(bs: BlockDriverState<S>, child: BdrvChild): void;
}

/** A driver whose state type is erased (for registries). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any S must be storable
export type AnyBlockDriver = BlockDriver<any, any>;
