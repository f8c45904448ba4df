/**
 * QMP-shaped views of BlockBackends and nodes (block/qapi.c): `query-block` entries (BlockInfo),
 * `query-named-block-nodes` entries (BlockDeviceInfo) and `query-blockstats` entries
 * (BlockStats). Field names and presence follow QEMU's replies.
 */
import { ChildRole, type DetectZeroes } from '../constants.js';
import type { BdrvChild } from '../child.js';
import type { BlockDriverState } from '../node.js';
import { toBlockDeviceStats } from '../accounting/qmp.js';
import type { BlockDeviceStats } from '../accounting/qmp-types.js';
import { throttleConfigToBlockIoThrottle, type BlockIoThrottleSettings } from '../throttle/limits.js';
import type { BlockBackend } from './block-backend.js';
import type { BlockDeviceIoStatus } from './types.js';

/** BlockdevCacheInfo. */
export interface BlockdevCacheInfo {
  writeback: boolean;
  direct: boolean;
  'no-flush': boolean;
}

/** ImageInfo (the parts vmkit knows). */
export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'format-specific'?: Readonly<Record<string, unknown>>;
  'backing-image'?: ImageInfo;
}

/**
 * BlockDeviceInfo: `inserted` of query-block, and the entries of query-named-block-nodes; the
 * throttle fields are those of block_set_io_throttle.
 */
export interface BlockDeviceInfo extends BlockIoThrottleSettings {
  file: string;
  /** Every node has one (generated `#blockN` when not given), as in QEMU 8. */
  'node-name': string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  encrypted: boolean;
  detect_zeroes: DetectZeroes;
  image: ImageInfo;
  cache: BlockdevCacheInfo;
  write_threshold: number;
}

/** BlockInfo: one entry of query-block. */
export interface BlockInfo {
  device: string;
  qdev?: string;
  type: 'unknown';
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
  tray_open?: boolean;
  'io-status'?: BlockDeviceIoStatus;
}

/** BlockStats: one entry of query-blockstats (nested for the node's data child and backing file). */
export interface BlockStats {
  device?: string;
  qdev?: string;
  'node-name'?: string;
  stats: BlockDeviceStats;
  parent?: BlockStats;
  backing?: BlockStats;
}

/** bs->filename: the driver's `filename` option, else the data child's, else `<driver>://`. */
export function nodeFilename(bs: BlockDriverState): string {
  const f = bs.driverOptions.filename;
  if (typeof f === 'string') return f;
  const child = (bs.primary ?? bs.file)?.bs ?? null;
  if (child !== null) return nodeFilename(child);
  return `${bs.driver.name}://`;
}

function imageInfo(bs: BlockDriverState): ImageInfo {
  const info: ImageInfo = {
    filename: nodeFilename(bs),
    format: bs.driver.name,
    'virtual-size': bs.totalBytes,
  };
  const allocated = bs.driver.getAllocatedFileSize?.(bs);
  if (typeof allocated === 'number' && allocated >= 0) info['actual-size'] = allocated;
  const di = bs.driver.info?.(bs);
  if (di?.clusterSize) info['cluster-size'] = di.clusterSize;
  const backing = bs.cow?.bs ?? null;
  if (backing !== null) {
    info['backing-filename'] = nodeFilename(backing);
    info['backing-image'] = imageInfo(backing);
  }
  if (di?.formatSpecific !== undefined) info['format-specific'] = di.formatSpecific;
  return info;
}

function backingDepth(bs: BlockDriverState): number {
  let depth = 0;
  for (let b = bs.cow?.bs ?? null; b !== null; b = b.cow?.bs ?? null) depth++;
  return depth;
}

/** bdrv_block_device_info: a node as query-block's `inserted` (with `blk`) or a named node. */
export function blockDeviceInfo(bs: BlockDriverState, blk: BlockBackend | null = null): BlockDeviceInfo {
  const backing = bs.cow?.bs ?? null;
  const tgm = blk?.throttle ?? null;
  const throttle =
    tgm !== null && tgm.group !== null
      ? throttleConfigToBlockIoThrottle(tgm.getConfig(), tgm.group.name)
      : null;
  const info: BlockDeviceInfo = {
    file: nodeFilename(bs),
    'node-name': bs.nodeName,
    ro: bs.readOnly,
    drv: bs.driver.name,
    ...(backing !== null ? { backing_file: nodeFilename(backing) } : {}),
    backing_file_depth: backingDepth(bs),
    encrypted: false,
    detect_zeroes: bs.openFlags.detectZeroes,
    bps: throttle?.bps ?? 0,
    bps_rd: throttle?.bps_rd ?? 0,
    bps_wr: throttle?.bps_wr ?? 0,
    iops: throttle?.iops ?? 0,
    iops_rd: throttle?.iops_rd ?? 0,
    iops_wr: throttle?.iops_wr ?? 0,
    image: imageInfo(bs),
    cache: {
      writeback: blk?.enableWriteCache ?? true,
      direct: bs.openFlags.cache.direct,
      'no-flush': bs.openFlags.cache.noFlush,
    },
    write_threshold: 0,
  };
  if (throttle !== null) {
    const {
      device: _d,
      id: _i,
      bps: _b,
      bps_rd: _br,
      bps_wr: _bw,
      iops: _o,
      iops_rd: _or,
      iops_wr: _ow,
      ...rest
    } = throttle;
    Object.assign(info, rest);
  }
  return info;
}

/** bdrv_query_info: the query-block entry of `blk`. */
export function blockInfo(blk: BlockBackend): BlockInfo {
  const info: BlockInfo = {
    device: blk.name,
    ...(blk.attachedDevId !== '' ? { qdev: blk.attachedDevId } : {}),
    type: 'unknown',
    removable: blk.devHasRemovableMedia(),
    locked: blk.devIsMediumLocked(),
  };
  const bs = blk.bs;
  if (bs !== null && !bs.deleted) info.inserted = blockDeviceInfo(bs, blk);
  if (blk.devHasTray()) info.tray_open = blk.devIsTrayOpen();
  if (blk.iostatusIsEnabled()) info['io-status'] = blk.iostatus;
  return info;
}

/** The stats of a node that no BlockBackend accounts: zeroes and its highest written offset. */
function nodeStats(wrHighestOffset: number): BlockDeviceStats {
  return {
    rd_bytes: 0,
    wr_bytes: 0,
    zone_append_bytes: 0,
    unmap_bytes: 0,
    rd_operations: 0,
    wr_operations: 0,
    zone_append_operations: 0,
    flush_operations: 0,
    unmap_operations: 0,
    rd_total_time_ns: 0,
    wr_total_time_ns: 0,
    zone_append_total_time_ns: 0,
    flush_total_time_ns: 0,
    unmap_total_time_ns: 0,
    wr_highest_offset: wrHighestOffset,
    rd_merged: 0,
    wr_merged: 0,
    zone_append_merged: 0,
    unmap_merged: 0,
    failed_rd_operations: 0,
    failed_wr_operations: 0,
    failed_zone_append_operations: 0,
    failed_flush_operations: 0,
    failed_unmap_operations: 0,
    invalid_rd_operations: 0,
    invalid_wr_operations: 0,
    invalid_zone_append_operations: 0,
    invalid_flush_operations: 0,
    invalid_unmap_operations: 0,
    account_invalid: false,
    account_failed: false,
    timed_stats: [],
  };
}

/** The child whose stats are a node's `parent` (bdrv_query_bds_stats): the data-storing child. */
function dataChild(bs: BlockDriverState): BdrvChild | null {
  const primary = bs.primary;
  if (primary !== null && primary.role & (ChildRole.DATA | ChildRole.FILTERED)) return primary;
  let found: BdrvChild | null = null;
  for (const c of bs.children) {
    if (c.role & (ChildRole.DATA | ChildRole.FILTERED)) {
      if (found !== null) return null;
      found = c;
    }
  }
  return found;
}

/** bdrv_query_bds_stats(bs, blk_level = true). */
export function nodeBlockStats(bs: BlockDriverState): BlockStats {
  const s: BlockStats = { 'node-name': bs.nodeName, stats: nodeStats(bs.wrHighestOffset) };
  const parent = dataChild(bs)?.bs ?? null;
  if (parent !== null) s.parent = nodeBlockStats(parent);
  const backing = bs.backing?.bs ?? null;
  if (backing !== null) s.backing = nodeBlockStats(backing);
  return s;
}

/** The query-blockstats entry of `blk` (device, qdev, its accounting, its node's chain). */
export function blockStats(blk: BlockBackend): BlockStats {
  const bs = blk.bs;
  const node = bs !== null ? nodeBlockStats(bs) : null;
  const s: BlockStats = {
    device: blk.name,
    ...(blk.attachedDevId !== '' ? { qdev: blk.attachedDevId } : {}),
    ...(node?.['node-name'] !== undefined ? { 'node-name': node['node-name'] } : {}),
    stats: toBlockDeviceStats(blk.stats, { wrHighestOffset: bs?.wrHighestOffset ?? 0 }),
  };
  if (node?.parent !== undefined) s.parent = node.parent;
  if (node?.backing !== undefined) s.backing = node.backing;
  return s;
}
