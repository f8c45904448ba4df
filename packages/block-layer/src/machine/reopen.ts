/**
 * blockdev-reopen (blockdev.c qmp_blockdev_reopen, block.c bdrv_reopen_queue): turns the QMP
 * options of each listed node into a graph reopen (BlockGraph.reopen). Options not given return
 * to their defaults; `driver` and `node-name` cannot change; `file` and `backing` may name
 * another node (the edge moves to it), `backing: null` detaches the backing child, and nested
 * child options reopen the current child. The graph prepares everything and rechecks the
 * permissions of the whole graph first; any failure leaves the graph exactly as it was.
 */
import { ConfigError } from '@vmkit/core';
import type { BlockdevOptions } from '../driver.js';
import type { BlockGraph, ReopenSpec } from '../graph.js';
import type { BlockDriverState } from '../node.js';
import { parseGenericOptions } from '../open-options.js';
import { nodeNameOf } from './options.js';

/** Option keys that name children (bdrv_reopen_parse_file_or_backing). */
const CHILD_KEYS = ['file', 'backing'] as const;
type ChildKey = (typeof CHILD_KEYS)[number];

type MutableSpec = { -readonly [K in keyof ReopenSpec]: ReopenSpec[K] };

/** Converts a blockdev-reopen list (options already in QEMU spelling) and runs it. */
export class ReopenTransaction {
  private readonly specs: MutableSpec[] = [];

  constructor(private readonly graph: BlockGraph) {}

  async run(list: readonly BlockdevOptions[]): Promise<void> {
    for (const options of list) {
      const name = nodeNameOf(options);
      if (name === undefined) throw new ConfigError('node-name not specified');
      const bs = this.graph.node(name);
      if (bs === undefined) throw new ConfigError(`Failed to find node with node-name='${name}'`);
      this.queueNode(bs, options);
    }
    await this.graph.reopen(this.specs);
  }

  /** bdrv_reopen_queue_child: the generic checks, then the children options. */
  private queueNode(bs: BlockDriverState, options: BlockdevOptions): void {
    if (options.driver !== bs.driver.name) throw new ConfigError("Cannot change the option 'driver'");
    const name = nodeNameOf(options);
    if (name !== undefined && name !== bs.nodeName)
      throw new ConfigError("Cannot change the option 'node-name'");
    const { flags, driverOptions } = parseGenericOptions(options);
    const spec: MutableSpec = { bs, flags, driverOptions, options };
    this.specs.push(spec);
    for (const key of CHILD_KEYS) {
      if (Object.hasOwn(driverOptions, key)) this.queueChild(spec, key, driverOptions[key]);
    }
  }

  private queueChild(spec: MutableSpec, key: ChildKey, value: unknown): void {
    const edge = spec.bs.child(key);
    if (value === null) {
      if (key === 'backing') spec.backing = null;
      else if (edge !== null) throw new ConfigError(`Cannot change the option '${key}'`);
      return;
    }
    if (typeof value === 'string') {
      spec[key] = this.graph.requireNode(value);
      return;
    }
    if (typeof value === 'object') {
      // Nested options reopen the current child.
      if (edge === null) throw new ConfigError(`Cannot change the option '${key}'`);
      const child = edge.node;
      const nested = value as BlockdevOptions;
      const name = nodeNameOf(nested);
      if (name !== undefined && name !== child.nodeName)
        throw new ConfigError(`Cannot change the option '${key}'`);
      this.queueNode(child, nested);
      return;
    }
    throw new ConfigError(`Invalid parameter type for '${key}', expected: string or object`);
  }
}

/** blockdev-reopen over already converted options. */
export async function reopenNodes(graph: BlockGraph, list: readonly BlockdevOptions[]): Promise<void> {
  await new ReopenTransaction(graph).run(list);
}
