/**
 * The BlockBackends of one block graph (block-backend.c `block_backends` and
 * `monitor_block_backends`), the throttle groups they use, and the machine hooks for error
 * actions. One registry per BlockGraph, created on first use, so that machines and tests never
 * share state.
 */
import { ConfigError, TypedEmitter, type BlockIoErrorEvent, type StopReason } from '@vmkit/core';
import type { BlockGraph } from '../graph.js';
import { drainAllBegin, drainAllEnd } from '../drain.js';
import { ThrottleGroupRegistry } from '../throttle/group.js';
import type { BlockBackend } from './block-backend.js';

/** Events of the registry (what the machine forwards to `machine.events`). */
export interface BlockBackendRegistryEvents {
  'block-io-error': [event: BlockIoErrorEvent];
}

/** QEMU id_wellformed. */
const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;

const registries = new WeakMap<BlockGraph, BlockBackendRegistry>();

export class BlockBackendRegistry {
  readonly graph: BlockGraph;
  /** The throttle groups of this graph's machine (on the main context's clock). */
  readonly throttleGroups: ThrottleGroupRegistry;
  readonly events = new TypedEmitter<BlockBackendRegistryEvents>();
  /**
   * qemu_system_vmstop_request: called by errorAction('stop') after BLOCK_IO_ERROR was emitted.
   * The machine plugin sets it; without one the action only sets the iostatus and the event.
   */
  requestStop: ((reason: StopReason) => void) | null = null;
  /** Default for BlockBackendOptions.statsFixedLatencyNs. */
  statsFixedLatencyNs: number | undefined = undefined;
  private readonly all = new Set<BlockBackend>();
  private readonly named = new Map<string, BlockBackend>();

  private constructor(graph: BlockGraph) {
    this.graph = graph;
    this.throttleGroups = new ThrottleGroupRegistry(graph.mainContext.clock);
  }

  /** The registry of `graph`. */
  static of(graph: BlockGraph): BlockBackendRegistry {
    let r = registries.get(graph);
    if (r === undefined) {
      r = new BlockBackendRegistry(graph);
      registries.set(graph, r);
    }
    return r;
  }

  /** @internal blk_new. */
  add(blk: BlockBackend): void {
    this.all.add(blk);
  }

  /** @internal blk_delete. */
  remove(blk: BlockBackend): void {
    this.all.delete(blk);
  }

  /** Every BlockBackend, in creation order (blk_all_next). */
  backends(): BlockBackend[] {
    return [...this.all];
  }

  /** BlockBackends with a monitor name, in naming order (blk_next). */
  monitorBackends(): BlockBackend[] {
    return [...this.named.values()];
  }

  /** blk_by_name. */
  byName(name: string): BlockBackend | undefined {
    return this.named.get(name);
  }

  /** blk_by_dev: the BlockBackend a device is attached to. */
  byDev(dev: object): BlockBackend | undefined {
    for (const blk of this.all) if (blk.attachedDev === dev) return blk;
    return undefined;
  }

  /** The BlockBackend whose attached device has id `id` (blk_by_qdev_id). */
  byDevId(id: string): BlockBackend | undefined {
    if (id === '') return undefined;
    for (const blk of this.all) if (blk.attachedDevId === id) return blk;
    return undefined;
  }

  /**
   * monitor_add_blk: names `blk` for the monitor (users refer to it by this name). Throws
   * ConfigError with QEMU's texts for a malformed, taken or node-clashing name.
   */
  monitorAdd(blk: BlockBackend, name: string): void {
    if (blk.name !== '') throw new ConfigError(`BlockBackend is already named '${blk.name}'`);
    if (!ID_RE.test(name)) throw new ConfigError('Invalid device name');
    if (this.named.has(name)) throw new ConfigError(`Device with id '${name}' already exists`);
    if (this.graph.node(name) !== undefined) {
      throw new ConfigError(`Device name '${name}' conflicts with an existing node name`);
    }
    blk.monitorName = name;
    this.named.set(name, blk);
  }

  /** monitor_remove_blk. */
  monitorRemove(blk: BlockBackend): void {
    if (blk.name === '') return;
    this.named.delete(blk.name);
    blk.monitorName = '';
  }
}

/** The BlockBackend registry of `graph`. */
export function blockBackends(graph: BlockGraph): BlockBackendRegistry {
  return BlockBackendRegistry.of(graph);
}

/**
 * blk_drain_all: drains every node, waits until no BlockBackend has a request in flight (AIO on
 * a BlockBackend without a node completes with -ENOMEDIUM), then ends the section.
 */
export async function blkDrainAll(graph: BlockGraph): Promise<void> {
  await drainAllBegin(graph);
  try {
    for (const blk of BlockBackendRegistry.of(graph).backends()) {
      await blk.aioContext.waitWhile(() => blk.inFlight > 0);
    }
  } finally {
    drainAllEnd(graph);
  }
}
