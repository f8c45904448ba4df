/**
 * blockdev-reopen (block.c bdrv_reopen_multiple / bdrv_reopen_prepare / bdrv_reopen_commit,
 * blockdev.c qmp_blockdev_reopen): each listed node gets new options while it and its parents
 * are drained. Options not given return to their defaults; `driver` and `node-name` cannot
 * change; driver options change only if the driver can reopen; `file` and `backing` may name
 * another node (the edge moves to it) and nested child options reopen the current child.
 * Everything is prepared and the permissions of the whole graph rechecked first; any failure
 * restores the graph exactly as it was.
 */
import { ConfigError } from '@vmkit/core';
import { childDrainedEndSingle, type BdrvChild } from '../child.js';
import type { OpenFlags } from '../constants.js';
import type { AnyBlockDriver, BlockdevOptions, DriverOptions, ReopenState } from '../driver.js';
import { drainedBegin, drainedEnd } from '../drain.js';
import type { BlockGraph } from '../graph.js';
import type { BlockDriverState } from '../node.js';
import { parseGenericOptions } from '../open-options.js';
import { refreshPerms, snapshotPerms, topologicalOrder } from '../permissions.js';
import { nodeNameOf } from './options.js';

/** Option keys that name children (bdrv_reopen_parse_file_or_backing). */
const CHILD_KEYS = ['file', 'backing'] as const;
type ChildKey = (typeof CHILD_KEYS)[number];

interface ChildSwap {
  readonly edge: BdrvChild;
  readonly from: BlockDriverState;
  readonly to: BlockDriverState;
}

interface NodeReopen {
  readonly bs: BlockDriverState;
  readonly options: BlockdevOptions;
  readonly flags: OpenFlags;
  /** Driver options without the children, as the driver's reopen hooks see them. */
  readonly driverOptions: DriverOptions;
  readonly state: ReopenState | null;
  swaps: ChildSwap[];
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(rb, k) && deepEqual((a as Record<string, unknown>)[k], rb[k]));
}

function withoutChildren(options: DriverOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options))
    if (!(CHILD_KEYS as readonly string[]).includes(k)) out[k] = v;
  return out;
}

/** Whether `target` is `bs` or below it. */
function reaches(bs: BlockDriverState, target: BlockDriverState): boolean {
  if (bs === target) return true;
  for (const c of bs.children) if (c.bs !== null && reaches(c.bs, target)) return true;
  return false;
}

/**
 * bdrv_replace_child_noperm for one edge whose parent is quiesced through it: the edge leaves
 * `from` and joins `to`; when `to` is not drained the edge stops quiescing its parent.
 */
function moveEdge(c: BdrvChild, to: BlockDriverState): void {
  if (!c.quiescedParent) throw new Error(`reopen: child '${c.name}' moved while its parent is not quiesced`);
  const from = c.bs;
  if (from !== null) {
    c.parent.detach?.(c);
    const i = from.parents.indexOf(c);
    if (i >= 0) from.parents.splice(i, 1);
  }
  c.bs = to;
  to.parents.unshift(c);
  c.parent.attach?.(c);
  if (to.quiesceCounter === 0 && c.quiescedParent) childDrainedEndSingle(c);
}

/** Runs a reopen transaction over `list` (options already converted to QEMU spelling). */
export class ReopenTransaction {
  private readonly queue: NodeReopen[] = [];
  /** Nodes this transaction drained (ended in reverse order at the end). */
  private readonly drained: BlockDriverState[] = [];
  private readonly undo: Array<() => void> = [];

  constructor(private readonly graph: BlockGraph) {}

  async run(list: readonly BlockdevOptions[]): Promise<void> {
    try {
      for (const options of list) {
        const name = nodeNameOf(options);
        if (name === undefined) throw new ConfigError('node-name not specified');
        const bs = this.graph.node(name);
        if (bs === undefined) throw new ConfigError(`Failed to find node with node-name='${name}'`);
        await this.drain(bs);
        await this.queueNode(bs, options);
      }
      await this.prepare();
      this.commit();
      await this.refreshLengths();
    } finally {
      for (const bs of this.drained.reverse()) {
        drainedEnd(bs);
        bs.unref();
      }
    }
  }

  private async drain(bs: BlockDriverState): Promise<void> {
    bs.ref();
    this.drained.push(bs);
    await drainedBegin(bs);
  }

  /** bdrv_reopen_queue_child + the checks of bdrv_reopen_prepare that need no change yet. */
  private async queueNode(bs: BlockDriverState, options: BlockdevOptions): Promise<void> {
    if (this.queue.some((r) => r.bs === bs)) throw new ConfigError(`Node '${bs.nodeName}' is listed twice`);
    if (options.driver !== bs.driver.name) throw new ConfigError("Cannot change the option 'driver'");
    const name = nodeNameOf(options);
    if (name !== undefined && name !== bs.nodeName)
      throw new ConfigError("Cannot change the option 'node-name'");
    const { flags, driverOptions } = parseGenericOptions(options);
    const own = withoutChildren(driverOptions);
    const drv: AnyBlockDriver = bs.driver;
    let state: ReopenState | null = null;
    if (drv.reopenPrepare !== undefined) {
      state = { bs, options: own, flags };
    } else {
      this.checkUnchanged(bs, own);
    }
    const entry: NodeReopen = { bs, options, flags, driverOptions: own, state, swaps: [] };
    this.queue.push(entry);
    for (const key of CHILD_KEYS) {
      if (!Object.hasOwn(driverOptions, key)) continue;
      await this.queueChild(entry, key, driverOptions[key]);
    }
  }

  /** Without reopen support, the driver's own options must stay as they are. */
  private checkUnchanged(bs: BlockDriverState, own: Record<string, unknown>): void {
    const old = withoutChildren(bs.driverOptions);
    const drv = bs.driver;
    const parse = (o: Record<string, unknown>): unknown => (drv.parseOptions ? drv.parseOptions(o) : o);
    // Parsing the new options reports bad values with the driver's own message.
    if (deepEqual(parse(old), parse(own))) return;
    for (const key of new Set([...Object.keys(old), ...Object.keys(own)])) {
      if (!deepEqual(old[key], own[key])) {
        throw new ConfigError(`Cannot change the option '${key}'`);
      }
    }
  }

  private async queueChild(entry: NodeReopen, key: ChildKey, value: unknown): Promise<void> {
    const bs = entry.bs;
    const edge = bs.child(key);
    if (value === null) {
      if (edge === null) return;
      throw new ConfigError(`Cannot change the option '${key}'`);
    }
    if (typeof value === 'string') {
      const to = this.graph.requireNode(value);
      if (edge === null) {
        if (bs.driver.kind === 'filter') {
          throw new ConfigError(
            `'${bs.nodeName}' is a ${bs.driver.name} filter node that does not support a ${key} child`,
          );
        }
        throw new ConfigError(`Cannot change the option '${key}'`);
      }
      const from = edge.bs!;
      if (to === from) return;
      if (reaches(to, bs)) {
        throw new ConfigError(
          `Making '${to.nodeName}' a ${key} child of '${bs.nodeName}' would create a cycle`,
        );
      }
      if (key === 'backing' && !bs.driver.supportsBacking) {
        throw new ConfigError(
          `Driver '${bs.driver.name}' of node '${bs.nodeName}' does not support backing files`,
        );
      }
      // bdrv_reopen_parse_file_or_backing drains the old and the new child.
      await this.drain(from);
      await this.drain(to);
      entry.swaps.push({ edge, from, to });
      return;
    }
    if (typeof value === 'object') {
      // Nested options reopen the current child.
      if (edge === null) throw new ConfigError(`Cannot change the option '${key}'`);
      const child = edge.bs!;
      const nested = value as BlockdevOptions;
      const name = nodeNameOf(nested);
      if (name !== undefined && name !== child.nodeName)
        throw new ConfigError(`Cannot change the option '${key}'`);
      await this.drain(child);
      await this.queueNode(child, nested);
      return;
    }
    throw new ConfigError(`Invalid parameter type for '${key}', expected: string or object`);
  }

  /**
   * bdrv_reopen_prepare for every node, then the permission refresh of the whole graph with all
   * changes applied. Anything failing undoes everything done so far.
   */
  private async prepare(): Promise<void> {
    const nodes = this.graph.nodes();
    const snap = snapshotPerms(nodes);
    const changed = new Set<BdrvChild>();
    try {
      for (const r of this.queue) {
        if (r.state !== null) {
          await r.bs.driver.reopenPrepare!(r.state);
          const state = r.state;
          this.undo.push(() => r.bs.driver.reopenAbort?.(state));
        }
        const oldFlags = r.bs.openFlags;
        r.bs.openFlags = r.flags;
        this.undo.push(() => {
          r.bs.openFlags = oldFlags;
        });
        for (const s of r.swaps) this.applySwap(r.bs, s, changed);
        for (const c of r.bs.parents) changed.add(c);
      }
      refreshPerms(this.graph.nodes(), snap, changed);
    } catch (e) {
      for (let i = this.undo.length - 1; i >= 0; i--) this.undo[i]();
      // Edges moved back: recompute what they need (cannot conflict: it is the old graph).
      refreshPerms(this.graph.nodes(), snapshotPerms(this.graph.nodes()));
      throw e;
    }
  }

  private applySwap(parent: BlockDriverState, s: ChildSwap, changed: Set<BdrvChild>): void {
    if (s.to.aioContext !== parent.aioContext) this.graph.changeAioContext(s.to, parent.aioContext);
    moveEdge(s.edge, s.to);
    s.to.refcount++;
    changed.add(s.edge);
    this.undo.push(() => {
      moveEdge(s.edge, s.from);
      s.to.refcount--;
    });
  }

  /** bdrv_reopen_commit: options and driver state become the new ones; old children are released. */
  private commit(): void {
    for (const r of this.queue) {
      if (r.state !== null) r.bs.driver.reopenCommit?.(r.state);
      r.bs.options = r.options;
      const driverOptions: Record<string, unknown> = { ...r.driverOptions };
      for (const key of CHILD_KEYS) {
        const edge = r.bs.child(key);
        if (edge?.bs) driverOptions[key] = edge.bs.nodeName;
      }
      r.bs.driverOptions = driverOptions;
    }
    for (const r of this.queue) {
      for (const s of r.swaps) s.from.unref();
      this.graph.refreshLimitsUp(r.bs);
    }
  }

  /**
   * Reopened nodes and their ancestors may have a new length (new options, a new data child):
   * re-read lengths children first, and tell the parents of every node whose length changed.
   */
  private async refreshLengths(): Promise<void> {
    const affected = new Set<BlockDriverState>();
    const up = (bs: BlockDriverState): void => {
      if (affected.has(bs) || bs.deleted) return;
      affected.add(bs);
      for (const c of bs.parents) if (c.parent.node !== undefined) up(c.parent.node);
    };
    for (const r of this.queue) up(r.bs);
    const order = topologicalOrder(affected)
      .filter((bs) => affected.has(bs))
      .reverse();
    for (const bs of order) {
      const before = bs.totalBytes;
      await this.graph.refreshTotalBytes(bs);
      if (bs.totalBytes !== before) for (const c of bs.parents.slice()) c.parent.resize?.(c);
    }
  }
}

/** blockdev-reopen over already converted options. */
export async function reopenNodes(graph: BlockGraph, list: readonly BlockdevOptions[]): Promise<void> {
  await new ReopenTransaction(graph).run(list);
}
