/**
 * Graph-level reopen (block.c bdrv_reopen_multiple, bdrv_reopen_prepare/commit/abort,
 * bdrv_reopen_parse_file_or_backing): a set of nodes gets new open flags, new driver options
 * and new `file` / `backing` children in one transaction.
 *
 * Every node involved (the reopened ones, their old and new children) is drained for the whole
 * operation. Prepare runs the drivers' reopenPrepare, switches flags and edges, aligns the
 * AioContext of new children and rechecks the permissions of the whole graph; anything failing
 * aborts the prepared drivers and restores the graph untouched (same edges, same permissions,
 * same contexts). Commit runs reopenCommit, records the options and refreshes limits and
 * lengths; the old children have lost the edges' references (a node nobody uses any more is
 * closed when the drained section ends).
 */
import { ConfigError } from '@vmkit/core';
import type { BdrvChild } from './child.js';
import { ChildRole, type OpenFlags } from './constants.js';
import type { BlockdevOptions, DriverOptions, ReopenState } from './driver.js';
import { drainedBegin, drainedEnd } from './drain.js';
import type { BlockGraph } from './graph.js';
import {
  attachNoperm,
  cycleError,
  detachNoperm,
  moveChildNoperm,
  reaches,
  runUndo,
  type UndoLog,
} from './graph-edges.js';
import { commitAioContextChange, prepareAioContextChange, type AioContextChange } from './graph-context.js';
import type { BlockDriverState } from './node.js';
import { refreshPerms, restorePerms, snapshotPerms, topologicalOrder } from './permissions.js';

/** One node of a reopen (what bdrv_reopen_queue records for it). */
export interface ReopenSpec {
  readonly bs: BlockDriverState;
  /** Open flags after the reopen (default: unchanged). */
  readonly flags?: OpenFlags;
  /**
   * The node's driver options after the reopen (default: unchanged). `file` and `backing` keys
   * are ignored: children change through the fields below. A driver without reopenPrepare
   * refuses any change with "Cannot change the option '<key>'".
   */
  readonly driverOptions?: DriverOptions;
  /** The options as the user gave them, recorded in `bs.options` on success. */
  readonly options?: BlockdevOptions;
  /** New `file` child: the edge moves to it. */
  readonly file?: BlockDriverState;
  /** New `backing` child (attached if there is none), or null to detach the backing child. */
  readonly backing?: BlockDriverState | null;
}

/** Option keys naming children. */
const CHILD_KEYS = ['file', 'backing'] as const;
type ChildKey = (typeof CHILD_KEYS)[number];

function withoutChildren(options: DriverOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (k !== 'file' && k !== 'backing') out[k] = v;
  return out;
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

/**
 * bdrv_reopen_prepare's check for drivers that cannot reopen: their own options must stay as
 * they are. Parsing the new options first reports bad values with the driver's own message.
 */
function checkUnchanged(bs: BlockDriverState, own: Record<string, unknown>): void {
  const old = withoutChildren(bs.driverOptions);
  const drv = bs.driver;
  const parse = (o: Record<string, unknown>): unknown => (drv.parseOptions ? drv.parseOptions(o) : o);
  if (deepEqual(parse(old), parse(own))) return;
  for (const key of new Set([...Object.keys(old), ...Object.keys(own)])) {
    if (!deepEqual(old[key], own[key])) throw new ConfigError(`Cannot change the option '${key}'`);
  }
}

/** The requested new child for `key`, or undefined when it does not change. */
function requestedChild(spec: ReopenSpec, key: ChildKey): BlockDriverState | null | undefined {
  const to = key === 'file' ? spec.file : spec.backing;
  if (to === undefined) return undefined;
  return to === (spec.bs.child(key)?.bs ?? null) ? undefined : to;
}

interface Entry {
  readonly spec: ReopenSpec;
  /** The driver options after the reopen, children excluded. */
  own: Record<string, unknown>;
  /** The driver's reopen state, once prepared. */
  state: ReopenState | null;
}

export class GraphReopen {
  /** Nodes referenced and drained by this reopen (ended in reverse order). */
  private readonly held: BlockDriverState[] = [];
  private readonly log: UndoLog = [];
  private readonly entries: Entry[] = [];
  /** AioContext moves for new children, committed with the reopen. */
  private readonly contextChanges: AioContextChange[] = [];

  constructor(private readonly graph: BlockGraph) {}

  async run(specs: readonly ReopenSpec[]): Promise<void> {
    try {
      for (const spec of specs) {
        if (this.entries.some((e) => e.spec.bs === spec.bs)) {
          throw new ConfigError(`Node '${spec.bs.nodeName}' is listed twice`);
        }
        this.entries.push({ spec, own: {}, state: null });
        // bdrv_reopen_queue / bdrv_reopen_parse_file_or_backing: the node, its old and its new
        // children are drained.
        await this.drain(spec.bs);
        for (const key of CHILD_KEYS) {
          const to = requestedChild(spec, key);
          if (to === undefined) continue;
          const from = spec.bs.child(key)?.bs ?? null;
          if (from !== null) await this.drain(from);
          if (to !== null) await this.drain(to);
        }
      }
      await this.prepare();
      this.commit();
      await this.refreshLengths();
    } finally {
      for (const bs of this.held.reverse()) {
        drainedEnd(bs);
        bs.unref();
      }
    }
  }

  private async drain(bs: BlockDriverState): Promise<void> {
    bs.ref();
    this.held.push(bs);
    await drainedBegin(bs);
  }

  private async prepare(): Promise<void> {
    const graph = this.graph;
    const snap = snapshotPerms(graph.nodes());
    const changed = new Set<BdrvChild>();
    try {
      for (const entry of this.entries) await this.prepareNode(entry, changed);
      refreshPerms(graph.nodes(), snap, changed);
    } catch (e) {
      runUndo(this.log);
      restorePerms(snap);
      this.contextChanges.length = 0;
      throw e;
    }
  }

  /** bdrv_reopen_prepare for one node. */
  private async prepareNode(entry: Entry, changed: Set<BdrvChild>): Promise<void> {
    const { spec } = entry;
    const bs = spec.bs;
    if (bs.deleted) throw new Error(`${bs.toString()} is deleted`);
    const given = spec.driverOptions !== undefined;
    entry.own = withoutChildren(spec.driverOptions ?? bs.driverOptions);
    const flags = spec.flags ?? bs.openFlags;
    const drv = bs.driver;
    if (drv.reopenPrepare !== undefined) {
      const state: ReopenState = { bs, options: entry.own, flags };
      await drv.reopenPrepare(state);
      entry.state = state;
      this.log.push(() => drv.reopenAbort?.(state));
    } else if (given) {
      checkUnchanged(bs, entry.own);
    }
    const oldFlags = bs.openFlags;
    bs.openFlags = flags;
    this.log.push(() => {
      bs.openFlags = oldFlags;
    });
    for (const key of CHILD_KEYS) {
      const to = requestedChild(spec, key);
      if (to !== undefined) this.changeChild(bs, key, to, changed);
    }
    for (const c of bs.parents) changed.add(c);
  }

  /** bdrv_set_file_or_backing_noperm: the checks, then move, attach or detach the edge. */
  private changeChild(
    bs: BlockDriverState,
    key: ChildKey,
    to: BlockDriverState | null,
    changed: Set<BdrvChild>,
  ): void {
    const edge = bs.child(key);
    const drv = bs.driver;
    if (to !== null && reaches(to, bs)) throw cycleError(to, key, bs);
    if (edge === null && drv.kind === 'filter') {
      // A filter's child is fixed: naming another child kind is a mistake.
      throw new ConfigError(
        `'${bs.nodeName}' is a ${drv.name} filter node that does not support a ${key} child`,
      );
    }
    if (key === 'backing' && !drv.supportsBacking) {
      throw new ConfigError(`Driver '${drv.name}' of node '${bs.nodeName}' does not support backing files`);
    }
    if (edge === null) {
      // Only a backing child can be added (to is set: "no child" to "no child" is no change);
      // the role of a file child is the format's business.
      if (key === 'file' || to === null) throw new ConfigError(`Cannot change the option '${key}'`);
      const c = attachNoperm(bs.asParent, to, 'backing', ChildRole.COW, this.log);
      changed.add(c);
      this.alignContext(to, bs);
      return;
    }
    if (to === null) {
      // A filter without the child it passes data to would have nothing to serve.
      if (edge.role & ChildRole.FILTERED) {
        throw new ConfigError(`Cannot detach the filtered child of '${bs.nodeName}'`);
      }
      detachNoperm(edge, this.log);
    } else {
      moveChildNoperm(edge, to, this.log);
      changed.add(edge);
      this.alignContext(to, bs);
    }
  }

  /** A new child follows its parent's AioContext (prepared now, committed with the reopen). */
  private alignContext(child: BlockDriverState, parent: BlockDriverState): void {
    if (child.aioContext !== parent.aioContext) {
      this.contextChanges.push(prepareAioContextChange(child, parent.aioContext));
    }
  }

  /** bdrv_reopen_commit: drivers, options, contexts, limits. */
  private commit(): void {
    for (const { spec, own, state } of this.entries) {
      const bs = spec.bs;
      if (state !== null) bs.driver.reopenCommit?.(state);
      if (spec.options !== undefined) bs.options = spec.options;
      const driverOptions: Record<string, unknown> = { ...own };
      for (const key of CHILD_KEYS) {
        const edge = bs.child(key);
        if (edge?.bs) driverOptions[key] = edge.bs.nodeName;
      }
      bs.driverOptions = driverOptions;
    }
    for (const change of this.contextChanges) commitAioContextChange(change);
    for (const { spec } of this.entries) this.graph.refreshLimitsUp(spec.bs);
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
    for (const { spec } of this.entries) up(spec.bs);
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
