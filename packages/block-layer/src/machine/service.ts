/**
 * The machine's block layer (bound under BLOCK_LAYER): one BlockGraph with every registered
 * driver, the BlockBackends and throttle groups, and the QMP-like commands (blockdev.c,
 * block/qapi.c, block/throttle-groups.c): blockdev-add/del/reopen, the `drive` lookup of
 * devices, block_set_io_throttle, block_resize and the queries.
 */
import {
  ConfigError,
  Errno,
  strerror,
  type BlockdevOptions as CoreBlockdevOptions,
  type BlockLayerService,
  type Disposer,
  type Machine,
} from '@vmkit/core';
import { Perm } from '../constants.js';
import type { BlockdevOptions } from '../driver.js';
import { drainedBegin, drainedEnd } from '../drain.js';
import { BlockGraph } from '../graph.js';
import type { BlockDriverState } from '../node.js';
import { bdrvFlush } from '../io/flush.js';
import { BlockBackend } from '../backend/block-backend.js';
import { BlockBackendRegistry, blkDrainAll } from '../backend/registry.js';
import {
  blockDeviceInfo,
  blockInfo,
  blockStats,
  type BlockDeviceInfo,
  type BlockInfo,
  type BlockStats,
} from '../backend/query.js';
import type { ThrottleGroupRegistry } from '../throttle/group.js';
import { blockIoThrottleToConfig, type BlockIoThrottle } from '../throttle/limits.js';
import { throttleEnabled } from '../throttle/config.js';
import { validateThrottleConfig } from '../throttle/validate.js';
import { requireBlockDriver } from './drivers.js';
import { nodeNameOf, toQemuBlockdevOptions } from './options.js';
import { reopenNodes } from './reopen.js';

/** Options of the block-layer plugin. */
export interface BlockLayerOptions {
  /**
   * Every completed operation counts this latency in BlockBackend stats (QEMU's qtest rule;
   * `QTEST_LATENCY_NS` gives iotest 136's numbers). Default: latencies measured on the clock.
   */
  readonly statsFixedLatencyNs?: number;
}

/** block_set_io_throttle's arguments besides the device; omitted averages are 0. */
export type SetIoThrottleArgs = Partial<Omit<BlockIoThrottle, 'device' | 'id'>>;

/** Options of `addBlockBackend` (a BlockBackend with a monitor name, like `-drive id=...`). */
export interface AddBlockBackendOptions {
  /** Node to insert; none for an empty drive (removable media). */
  readonly node?: string;
  readonly readOnly?: boolean;
}

export class BlockLayer implements BlockLayerService {
  readonly machine: Machine;
  readonly graph: BlockGraph;
  readonly backends: BlockBackendRegistry;
  /** Nodes added by blockdevAdd and owned by the monitor (monitor_bdrv_states). */
  private readonly monitorNodes = new Set<BlockDriverState>();
  private readonly disposers: Disposer[] = [];
  private readonly requestStop = (): void => {
    void this.machine.stop('io-error').catch(() => undefined);
  };

  constructor(machine: Machine, options: BlockLayerOptions = {}) {
    this.machine = machine;
    const registry = machine.registries.blockDrivers;
    const drivers = registry
      .names()
      .map((name) => requireBlockDriver(registry.get(name), registry.pluginOf(name)));
    this.graph = new BlockGraph({ mainContext: machine.mainContext, drivers });
    this.backends = BlockBackendRegistry.of(this.graph);
    this.backends.statsFixedLatencyNs = options.statsFixedLatencyNs;
    // qemu_system_vmstop_request: the main loop stops the machine after the event was sent.
    this.backends.requestStop = () => machine.mainContext.scheduleOneshot(this.requestStop);
    this.disposers.push(
      this.backends.events.on('block-io-error', (e) => machine.events.emit('block-io-error', e)),
    );
  }

  get throttleGroups(): ThrottleGroupRegistry {
    return this.backends.throttleGroups;
  }

  // ---- nodes ---------------------------------------------------------------------------------

  /** blockdev-add: opens a node (and nested children); the root needs a node name. */
  async blockdevAdd(options: CoreBlockdevOptions): Promise<BlockDriverState> {
    const opts = toQemuBlockdevOptions(options, 'blockdev-add');
    const name = nodeNameOf(opts);
    if (name === undefined) throw new ConfigError("'node-name' must be specified for the root node");
    if (this.graph.driver(opts.driver) === undefined) {
      throw new ConfigError(`Parameter 'driver' does not accept value '${opts.driver}'`);
    }
    if (this.backends.byName(name) !== undefined) {
      throw new ConfigError(`node-name=${name} is conflicting with a device id`);
    }
    const bs = await this.graph.openNode(opts);
    this.monitorNodes.add(bs);
    return bs;
  }

  /** blockdev-del: only a monitor-owned node that nothing uses. */
  async blockdevDel(nodeName: string): Promise<void> {
    const bs = this.graph.node(nodeName);
    if (bs === undefined) throw new ConfigError(`Failed to find node with node-name='${nodeName}'`);
    if (bs.parents.length > 0) {
      const users = bs.parents.map((c) => `${c.parentDescription()} (as '${c.name}')`).join(', ');
      throw new ConfigError(`Node '${nodeName}' is busy: it is used by ${users}`);
    }
    if (!this.monitorNodes.has(bs)) throw new ConfigError(`Node ${nodeName} is not owned by the monitor`);
    if (bs.refcount > 1) throw new ConfigError(`Block device ${nodeName} is in use`);
    this.monitorNodes.delete(bs);
    bs.unref();
    await bs.closing;
  }

  /** blockdev-reopen: see reopen.ts. */
  async blockdevReopen(options: CoreBlockdevOptions | readonly CoreBlockdevOptions[]): Promise<void> {
    const list: readonly CoreBlockdevOptions[] = Array.isArray(options)
      ? (options as readonly CoreBlockdevOptions[])
      : [options as CoreBlockdevOptions];
    const converted: BlockdevOptions[] = list.map((o) => toQemuBlockdevOptions(o, 'blockdev-reopen'));
    await reopenNodes(this.graph, converted);
  }

  /** The node `name`; throws QEMU's lookup error. */
  node(name: string): BlockDriverState {
    return this.graph.requireNode(name);
  }

  // ---- BlockBackends -------------------------------------------------------------------------

  hasBlockdev(id: string): boolean {
    return this.backends.byName(id) !== undefined || this.graph.node(id) !== undefined;
  }

  /**
   * The BlockBackend for a device's `drive` property: the named one (with a new reference), or
   * for a node name a new anonymous BlockBackend on it (QEMU's `-device ...,drive=<node>`), in
   * the node's AioContext. The caller owns the returned reference: it attaches its device, and
   * detaches it (which drops that reference) when unrealized.
   */
  blockBackend(id: string): BlockBackend {
    const named = this.backends.byName(id);
    if (named !== undefined) {
      named.ref();
      return named;
    }
    const bs = this.graph.node(id);
    if (bs === undefined) throw new ConfigError(`Cannot find device='${id}' nor node-name='${id}'`);
    try {
      return BlockBackend.withNode(bs);
    } catch (e) {
      throw new ConfigError(`Cannot use node '${id}': ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
  }

  /** A BlockBackend with a monitor name (what `-drive id=...` creates), optionally with a node. */
  addBlockBackend(name: string, options: AddBlockBackendOptions = {}): BlockBackend {
    if (this.graph.node(name) !== undefined) {
      throw new ConfigError(`Device name '${name}' conflicts with an existing node name`);
    }
    const blk = new BlockBackend(this.graph);
    try {
      this.backends.monitorAdd(blk, name);
      if (options.node !== undefined) blk.insertBs(this.graph.requireNode(options.node));
      else if (options.readOnly !== undefined) blk.rootState.readOnly = options.readOnly;
    } catch (e) {
      this.backends.monitorRemove(blk);
      void blk.unref();
      throw e;
    }
    return blk;
  }

  /** Removes the monitor's name and reference from the BlockBackend `name` (drive_del). */
  async deleteBlockBackend(name: string): Promise<void> {
    const blk = this.backends.byName(name);
    if (blk === undefined) throw new ConfigError(`Device '${name}' not found`);
    this.backends.monitorRemove(blk);
    if (blk.attachedDev === null) await blk.removeBs();
    await blk.unref();
  }

  /** A BlockBackend by monitor name, else by the id of its attached device (qmp_get_blk). */
  findBlockBackend(device: string): BlockBackend {
    const blk = this.backends.byName(device) ?? this.backends.byDevId(device);
    if (blk === undefined) throw new ConfigError(`Device '${device}' not found`);
    return blk;
  }

  // ---- commands ------------------------------------------------------------------------------

  /**
   * block_set_io_throttle: all limits 0 removes the BlockBackend from its group; otherwise it joins
   * group `args.group` (default: the device name) or moves there, and the group gets the limits.
   */
  async setIoThrottle(device: string, args: SetIoThrottleArgs): Promise<void> {
    const blk = this.findBlockBackend(device);
    if (blk.bs === null) throw new ConfigError('Device has no medium');
    const full: BlockIoThrottle = { bps: 0, bps_rd: 0, bps_wr: 0, iops: 0, iops_rd: 0, iops_wr: 0, ...args };
    const cfg = blockIoThrottleToConfig(full);
    const error = validateThrottleConfig(cfg);
    if (error !== undefined) throw new ConfigError(error);
    if (throttleEnabled(cfg)) {
      if (blk.throttle.group === null) blk.ioLimitsEnable(args.group ?? device);
      else if (args.group !== undefined) await blk.ioLimitsUpdateGroup(args.group);
      blk.setIoLimits(cfg);
    } else if (blk.throttle.group !== null) {
      await blk.ioLimitsDisable();
    }
  }

  /** block_resize by BlockBackend name or node name. */
  async blockResize(nodeOrDevice: string, size: number): Promise<void> {
    const named = this.backends.byName(nodeOrDevice);
    let bs: BlockDriverState | null | undefined = named?.bs;
    if (named !== undefined && bs === null) throw new ConfigError(`Device '${nodeOrDevice}' has no medium`);
    bs ??= this.graph.node(nodeOrDevice);
    if (bs === undefined) {
      throw new ConfigError(`Cannot find device='${nodeOrDevice}' nor node-name='${nodeOrDevice}'`);
    }
    if (!Number.isSafeInteger(size) || size < 0) throw new ConfigError("Parameter 'size' expects a >0 size");
    let blk: BlockBackend;
    try {
      blk = BlockBackend.withNode(bs, { perm: Perm.RESIZE, sharedPerm: Perm.ALL });
    } catch (e) {
      throw new ConfigError(e instanceof Error ? e.message : String(e), { cause: e });
    }
    let ret: number;
    try {
      await drainedBegin(bs);
      try {
        ret = await blk.coTruncate(size);
      } finally {
        drainedEnd(bs);
      }
    } finally {
      await blk.unref();
    }
    if (ret < 0) throw new ConfigError(resizeError(ret));
  }

  /** query-block: BlockBackends with a name or a device, in creation order. */
  queryBlock(): BlockInfo[] {
    return this.visibleBackends().map(blockInfo);
  }

  /** query-blockstats (BlockBackend level). */
  queryBlockstats(): BlockStats[] {
    return this.visibleBackends().map(blockStats);
  }

  /** query-named-block-nodes. */
  queryNamedBlockNodes(): BlockDeviceInfo[] {
    return this.graph.nodes().map((bs) => blockDeviceInfo(bs));
  }

  private visibleBackends(): BlockBackend[] {
    return this.backends.backends().filter((blk) => blk.name !== '' || blk.attachedDev !== null);
  }

  // ---- machine life cycle --------------------------------------------------------------------

  /** do_vm_stop: drain everything, then flush every BlockBackend root and monitor-owned node. */
  async vmStopped(): Promise<void> {
    await blkDrainAll(this.graph);
    const nodes = new Set<BlockDriverState>(this.monitorNodes);
    for (const blk of this.backends.backends()) if (blk.bs !== null) nodes.add(blk.bs);
    for (const bs of nodes) if (!bs.deleted) await bdrvFlush(bs);
  }

  /** Called when the machine's container is torn down: releases BlockBackends and nodes. */
  async dispose(): Promise<void> {
    for (const d of this.disposers.splice(0)) d();
    this.backends.requestStop = null;
    for (const blk of this.backends.backends()) {
      const named = blk.name !== '';
      this.backends.monitorRemove(blk);
      if (blk.throttle.group !== null) await blk.ioLimitsDisable();
      await blk.removeBs();
      // The monitor's reference; others belong to whoever asked for the BlockBackend.
      if (named && blk.attachedDev === null && !blk.deleted) await blk.unref();
    }
    for (const bs of [...this.monitorNodes]) {
      this.monitorNodes.delete(bs);
      if (!bs.deleted) bs.unref();
    }
  }
}

/** The messages bdrv_co_truncate gives with its errors. */
function resizeError(ret: number): string {
  switch (-ret) {
    case Errno.EACCES:
      return 'Image is read-only';
    case Errno.ENOTSUP:
      return 'Image format driver does not support resize';
    case Errno.EPERM:
      return 'Permission denied to resize the node';
    default:
      return `Could not resize: ${strerror(ret)}`;
  }
}
