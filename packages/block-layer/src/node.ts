/**
 * A node of the block graph (QEMU's BlockDriverState).
 *
 * Nodes are created by `BlockGraph.openNode()` / `BlockGraph.createNode()`, never directly.
 * The state here is what the generic layer keeps per node; driver state lives in `opaque`.
 */
import type { AioContext } from '@vmkit/core';
import { ChildRole, type ChildRoleMask, type OpenFlags, type RequestFlagsMask } from './constants.js';
import type { AnyBlockDriver, BlkdebugEvent, BlockdevOptions, ChildRef, DriverOptions } from './driver.js';
import type { BdrvChild, BdrvChildParent } from './child.js';
import { emptyLimits, type BlockLimits } from './limits.js';
import type { BlockGraph } from './graph.js';
import { doDrainedBeginQuiesce, drainedEnd, drainPoll } from './drain.js';
import { TrackedRequestList } from './io/tracked.js';

/** Options for `openChild`. */
export interface OpenChildOptions {
  /** A missing child (undefined/null option) is allowed and yields null. */
  allowNone?: boolean;
}

/** The parent callbacks of a node towards its children (QEMU child_of_bds). */
class NodeParent implements BdrvChildParent {
  constructor(readonly node: BlockDriverState) {}
  description(): string {
    return `node '${this.node.nodeName}'`;
  }
  get aioContext(): AioContext {
    return this.node.aioContext;
  }
  drainedBegin(): void {
    doDrainedBeginQuiesce(this.node);
  }
  drainedEnd(): void {
    drainedEnd(this.node);
  }
  drainedPoll(): boolean {
    return drainPoll(this.node);
  }
  resize(child: BdrvChild): void {
    this.node.driver.childResized?.(this.node, child);
  }
}

export class BlockDriverState<S = unknown> {
  readonly graph: BlockGraph;
  readonly driver: AnyBlockDriver;
  /** Node name (auto-generated `#block<N>` when not given). */
  nodeName: string;
  readonly autoNamed: boolean;
  /** The options the node was opened with (as given, children included). */
  options: BlockdevOptions;
  /** Driver options (generic keys removed) as passed to parseOptions. */
  driverOptions: DriverOptions;
  openFlags: OpenFlags;
  /** Driver state, set by the driver's open(). */
  opaque!: S;
  refcount = 1;
  limits: BlockLimits = emptyLimits();
  /** Drained sections this node is in (R1). */
  quiesceCounter = 0;
  /** Requests in progress on this node (bdrv_inc/dec_in_flight). */
  inFlight = 0;
  /** io_plug nesting counter. */
  ioPlugged = 0;
  /** Incremented by every write, discard and truncate (success or not). */
  writeGen = 0;
  /** writeGen at the last successful flush. */
  flushedGen = 0;
  /** A flush is active on this node (one at a time; others queue). */
  activeFlush = false;
  readonly flushQueue: Array<() => void> = [];
  /** Highest end offset of a write (for query-blockstats). */
  wrHighestOffset = 0;
  /** Cached length in bytes, rounded up to 512 like QEMU's total_sectors. */
  totalBytes = 0;
  /** Requests registered for overlap checks (tracked_requests). */
  readonly trackedRequests = new TrackedRequestList();
  /** Number of tracked requests that are serialising. */
  serialisingInFlight = 0;
  /** Copy-on-read users (reference count). */
  copyOnRead = 0;
  aioContext: AioContext;
  /** Child edges (newest first, as QEMU inserts at the head). */
  readonly children: BdrvChild[] = [];
  /** Parent edges (newest first). */
  readonly parents: BdrvChild[] = [];
  /** Write flags the driver honours (FUA) and write-zeroes flags. */
  supportedWriteFlags: RequestFlagsMask;
  supportedZeroFlags: RequestFlagsMask;
  /** Set once the node is closed and removed from the graph. */
  deleted = false;
  /** Pending driver close (when the node was deleted with requests in flight). */
  closing: Promise<void> | null = null;
  /** The callbacks this node offers as a parent to its children. */
  readonly asParent: BdrvChildParent;

  /** @internal use BlockGraph.createNode / openNode. */
  constructor(
    graph: BlockGraph,
    driver: AnyBlockDriver,
    nodeName: string,
    autoNamed: boolean,
    options: BlockdevOptions,
    driverOptions: DriverOptions,
    flags: OpenFlags,
    ctx: AioContext,
  ) {
    this.graph = graph;
    this.driver = driver;
    this.nodeName = nodeName;
    this.autoNamed = autoNamed;
    this.options = options;
    this.driverOptions = driverOptions;
    this.openFlags = flags;
    this.aioContext = ctx;
    this.supportedWriteFlags = driver.supportedWriteFlags ?? 0;
    this.supportedZeroFlags = driver.supportedZeroFlags ?? 0;
    this.asParent = new NodeParent(this);
  }

  get readOnly(): boolean {
    return this.openFlags.readOnly;
  }

  /** The child called `name`, or null. */
  child(name: string): BdrvChild | null {
    for (const c of this.children) if (c.name === name) return c;
    return null;
  }

  /** The `file` child (protocol below a format or filter). */
  get file(): BdrvChild | null {
    return this.child('file');
  }

  /** The `backing` child. */
  get backing(): BdrvChild | null {
    return this.child('backing');
  }

  /** The child whose data this node passes through (FILTERED role), if any. */
  get filtered(): BdrvChild | null {
    for (const c of this.children) if (c.role & ChildRole.FILTERED) return c;
    return null;
  }

  /** The child holding the data (PRIMARY role), if any (bdrv_primary_child). */
  get primary(): BdrvChild | null {
    for (const c of this.children) if (c.role & ChildRole.PRIMARY) return c;
    return null;
  }

  /** The COW child (backing file), if any (bdrv_cow_child). */
  get cow(): BdrvChild | null {
    for (const c of this.children) if (c.role & ChildRole.COW) return c;
    return null;
  }

  /** bdrv_inc_in_flight. */
  incInFlight(): void {
    this.inFlight++;
  }

  /** bdrv_dec_in_flight: wakes drain waiters. */
  decInFlight(): void {
    this.inFlight--;
    this.aioContext.kick();
  }

  /** bdrv_ref. */
  ref(): void {
    if (this.refcount <= 0) throw new Error(`node '${this.nodeName}' is deleted`);
    this.refcount++;
  }

  /** bdrv_unref: the node is closed and removed from the graph when the count drops to 0. */
  unref(): void {
    if (this.refcount <= 0) throw new Error(`node '${this.nodeName}' is deleted`);
    if (--this.refcount === 0) this.graph.deleteNode(this);
  }

  /**
   * Raises a fault-injection event on this node (bdrv_debug_event). A returned promise means
   * the request is suspended until it settles; callers on the I/O path await it.
   */
  debugEvent(event: BlkdebugEvent): void | Promise<void> {
    return this.driver.debugEvent?.(this, event);
  }

  /**
   * Opens (or references) a child from options and attaches it (bdrv_open_child). For use by
   * drivers in open(). Throws ConfigError.
   */
  openChild(
    ref: ChildRef | undefined,
    name: string,
    role: ChildRoleMask,
    opts: OpenChildOptions = {},
  ): Promise<BdrvChild | null> {
    return this.graph.openChild(this, ref, name, role, opts);
  }

  /** Attaches an existing node as child `name` (bdrv_attach_child); checks permissions. */
  attachChild(childBs: BlockDriverState, name: string, role: ChildRoleMask): BdrvChild {
    return this.graph.attachChild(this, childBs, name, role);
  }

  /** Detaches a child edge and drops its reference (bdrv_unref_child). */
  unrefChild(child: BdrvChild): void {
    this.graph.unrefChild(child);
  }

  toString(): string {
    return `node '${this.nodeName}' (${this.driver.name})`;
  }
}
