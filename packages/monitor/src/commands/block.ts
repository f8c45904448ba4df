/**
 * Block commands (blockdev.c, block/qapi.c, block/monitor/block-hmp-cmds.c's QMP halves):
 * query-block, query-blockstats, query-named-block-nodes, blockdev-add, blockdev-del,
 * blockdev-reopen, block_set_io_throttle, block_resize. They go through the machine's block layer
 * (`blockLayerOf`), which fails with a GenericError when blockLayerPlugin is not loaded.
 */
import {
  blockLayerOf,
  nodeBlockStats,
  type BlockBackend,
  type BlockDeviceInfo,
  type BlockInfo,
  type BlockLayer,
  type BlockStats,
  type ImageInfo,
} from '@vmkit/block-layer';
import { defineCommand, type QmpCommand } from '../command.js';
import { QmpError } from '../errors.js';
import type { QmpStructType } from '../schema.js';

/** BlockdevOptions' common members; the driver-specific ones are checked by the driver. */
const blockdevOptions = {
  struct: {
    driver: 'str',
    '*node-name': 'str',
    '*discard': { enum: ['ignore', 'unmap'] },
    '*cache': { struct: { '*direct': 'bool', '*no-flush': 'bool' } },
    '*read-only': 'bool',
    '*auto-read-only': 'bool',
    '*force-share': 'bool',
    '*detect-zeroes': { enum: ['off', 'on', 'unmap'] },
  },
  extra: true,
} as const satisfies QmpStructType;

export const queryBlockCommand = defineCommand({
  name: 'query-block',
  run(_args, { machine }): BlockInfo[] {
    return blockLayerOf(machine).queryBlock();
  },
});

/** Node-level stats (blk_level false): no backing chain under the node. */
function withoutBacking(s: BlockStats): BlockStats {
  const { backing: _backing, parent, ...rest } = s;
  return parent !== undefined ? { ...rest, parent: withoutBacking(parent) } : rest;
}

export const queryBlockstatsCommand = defineCommand({
  name: 'query-blockstats',
  args: { '*query-nodes': 'bool' },
  run(args, { machine }): BlockStats[] {
    const layer = blockLayerOf(machine);
    if (args['query-nodes'] === true)
      return layer.graph.nodes().map((bs) => withoutBacking(nodeBlockStats(bs)));
    return layer.queryBlockstats();
  },
});

function flatImage(image: ImageInfo): ImageInfo {
  const { 'backing-image': _backing, ...rest } = image;
  return rest;
}

export const queryNamedBlockNodesCommand = defineCommand({
  name: 'query-named-block-nodes',
  args: { '*flat': 'bool' },
  run(args, { machine }): BlockDeviceInfo[] {
    const nodes = blockLayerOf(machine).queryNamedBlockNodes();
    return args.flat === true ? nodes.map((n) => ({ ...n, image: flatImage(n.image) })) : nodes;
  },
});

export const blockdevAddCommand = defineCommand({
  name: 'blockdev-add',
  args: blockdevOptions.struct,
  extraArgs: true,
  async run(args, { machine, rest }) {
    await machine.blockdevAdd({ ...args, ...rest });
  },
});

export const blockdevDelCommand = defineCommand({
  name: 'blockdev-del',
  args: { 'node-name': 'str' },
  async run(args, { machine }) {
    await machine.blockdevDel(args['node-name']);
  },
});

export const blockdevReopenCommand = defineCommand({
  name: 'blockdev-reopen',
  args: { options: [blockdevOptions] },
  async run(args, { machine }) {
    await machine.blockdevReopen(args.options);
  },
});

/** qmp_get_blk: a BlockBackend by monitor name (`device`) or by the id of its device (`id`). */
function backendFor(layer: BlockLayer, device: string | undefined, id: string | undefined): BlockBackend {
  if ((device === undefined) === (id === undefined))
    throw QmpError.generic("Need exactly one of 'device' and 'id'");
  if (device !== undefined) {
    const blk = layer.backends.byName(device);
    if (blk === undefined) throw new QmpError('DeviceNotFound', `Device '${device}' not found`);
    return blk;
  }
  const devId = id as string;
  if (!layer.machine.hasDevice(devId)) throw new QmpError('DeviceNotFound', `Device '${devId}' not found`);
  const blk = layer.backends.byDevId(devId);
  if (blk === undefined) throw QmpError.generic(`Device '${devId}' does not have a block device backend`);
  return blk;
}

export const blockSetIoThrottleCommand = defineCommand({
  name: 'block_set_io_throttle',
  args: {
    '*device': 'str',
    '*id': 'str',
    bps: 'int',
    bps_rd: 'int',
    bps_wr: 'int',
    iops: 'int',
    iops_rd: 'int',
    iops_wr: 'int',
    '*bps_max': 'int',
    '*bps_rd_max': 'int',
    '*bps_wr_max': 'int',
    '*iops_max': 'int',
    '*iops_rd_max': 'int',
    '*iops_wr_max': 'int',
    '*bps_max_length': 'int',
    '*bps_rd_max_length': 'int',
    '*bps_wr_max_length': 'int',
    '*iops_max_length': 'int',
    '*iops_rd_max_length': 'int',
    '*iops_wr_max_length': 'int',
    '*iops_size': 'int',
    '*group': 'str',
  },
  async run(args, { machine }) {
    const layer = blockLayerOf(machine);
    const { device, id, ...limits } = args;
    backendFor(layer, device, id);
    // The layer finds the same BlockBackend by either name; the group defaults to that name.
    await layer.setIoThrottle(device ?? (id as string), limits);
  },
});

export const blockResizeCommand = defineCommand({
  name: 'block_resize',
  args: { '*device': 'str', '*node-name': 'str', size: 'int' },
  async run(args, { machine }) {
    if (args.size < 0) throw QmpError.generic("Parameter 'size' expects a >0 size");
    const layer = blockLayerOf(machine);
    const device = args.device;
    const nodeName = args['node-name'];
    // bdrv_lookup_bs: the BlockBackend named `device` first, then the node `node-name`.
    let target: string | undefined;
    if (device !== undefined && layer.backends.byName(device) !== undefined) target = device;
    else if (nodeName !== undefined && layer.graph.node(nodeName) !== undefined) target = nodeName;
    if (target === undefined) {
      throw QmpError.generic(`Cannot find device='${device ?? ''}' nor node-name='${nodeName ?? ''}'`);
    }
    await layer.blockResize(target, args.size);
  },
});

export const blockCommands: readonly QmpCommand[] = [
  queryBlockCommand,
  queryBlockstatsCommand,
  queryNamedBlockNodesCommand,
  blockdevAddCommand,
  blockdevDelCommand,
  blockdevReopenCommand,
  blockSetIoThrottleCommand,
  blockResizeCommand,
];
