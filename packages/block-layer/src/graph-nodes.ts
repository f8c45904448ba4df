/**
 * Node registry of a block graph (bdrv_new, bdrv_open, bdrv_delete, refresh_total_sectors,
 * bdrv_refresh_limits): the base class of BlockGraph.
 */
import { AioContext, ConfigError } from '@vmkit/core';
import { BDRV_SECTOR_SIZE, type OpenFlags } from './constants.js';
import type { AnyBlockDriver, BlockdevOptions } from './driver.js';
import type { BdrvChild } from './child.js';
import type { BlockGraph } from './graph.js';
import { BlockDriverState } from './node.js';
import { refreshLimits } from './limits.js';
import { doDrainedBeginQuiesce } from './drain.js';
import { parseGenericOptions } from './open-options.js';

export interface BlockGraphOptions {
  /** The main AioContext (drain-all polls here; new nodes start here). */
  mainContext?: AioContext;
  /** Drivers to register right away. */
  drivers?: readonly AnyBlockDriver[];
}

/** Node names: a letter, then letters, digits, '-', '.', '_' (QEMU id_wellformed). */
const NODE_NAME_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/**
 * The node side of a BlockGraph: driver and node registries, drain-all state, opening and
 * deleting nodes, limits. Edge changes are in BlockGraph (graph.ts).
 */
export abstract class BlockGraphNodes {
  readonly mainContext: AioContext;
  /** bdrv_drain_all_count: nodes created while > 0 are born drained this many times. */
  drainAllCount = 0;
  /** @internal Every live node (bdrv_all_states). */
  protected readonly all = new Set<BlockDriverState>();
  private readonly byName = new Map<string, BlockDriverState>();
  private readonly drivers = new Map<string, AnyBlockDriver>();
  private autoNameCounter = 0;

  /** bdrv_root_unref_child / bdrv_unref_child (graph.ts). */
  abstract unrefChild(c: BdrvChild): void;
  /** This graph as the BlockGraph its nodes belong to. */
  protected abstract get graph(): BlockGraph;

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
      this.graph,
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

  // ---- limits --------------------------------------------------------------------------------

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
