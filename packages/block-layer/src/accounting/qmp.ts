import { ConfigError } from '@vmkit/core';
import { BlockAcctType } from './acct-type.js';
import type { BlockLatencyHistogram } from './latency-histogram.js';
import type {
  BlockDeviceStats,
  BlockDeviceTimedStats,
  BlockLatencyHistogramInfo,
  BlockLatencyHistogramSetArgs,
} from './qmp-types.js';
import type { BlockAcctStats } from './stats.js';
import type { BlockAcctTimedStats } from './timed-stats.js';

/** What a `BlockDeviceStats` needs beyond the BlockBackend's accounting. */
export interface BlockDeviceStatsExtras {
  /** The root node's `wrHighestOffset`. */
  readonly wrHighestOffset: number;
}

const { READ, WRITE, FLUSH, ZONE_APPEND, UNMAP } = BlockAcctType;

function histogramInfo(h: BlockLatencyHistogram): BlockLatencyHistogramInfo | undefined {
  const boundaries = h.boundaries;
  const bins = h.bins;
  return boundaries && bins ? { boundaries, bins } : undefined;
}

function timedStats(stats: BlockAcctStats, ts: BlockAcctTimedStats): BlockDeviceTimedStats {
  const rd = ts.latency[READ];
  const wr = ts.latency[WRITE];
  const zap = ts.latency[ZONE_APPEND];
  const fl = ts.latency[FLUSH];
  return {
    interval_length: ts.intervalLength,
    min_rd_latency_ns: rd.min(),
    max_rd_latency_ns: rd.max(),
    avg_rd_latency_ns: rd.avg(),
    min_wr_latency_ns: wr.min(),
    max_wr_latency_ns: wr.max(),
    avg_wr_latency_ns: wr.avg(),
    min_zone_append_latency_ns: zap.min(),
    max_zone_append_latency_ns: zap.max(),
    avg_zone_append_latency_ns: zap.avg(),
    min_flush_latency_ns: fl.min(),
    max_flush_latency_ns: fl.max(),
    avg_flush_latency_ns: fl.avg(),
    avg_rd_queue_depth: stats.queueDepth(ts, READ),
    avg_wr_queue_depth: stats.queueDepth(ts, WRITE),
    avg_zone_append_queue_depth: stats.queueDepth(ts, ZONE_APPEND),
  };
}

/**
 * The `stats` object of a `query-blockstats` entry for a BlockBackend (bdrv_query_blk_stats plus
 * the node's wr_highest_offset). Optional members are omitted, not set to undefined, so the
 * result serialises like QEMU's reply.
 */
export function toBlockDeviceStats(stats: BlockAcctStats, extras: BlockDeviceStatsExtras): BlockDeviceStats {
  const { nrBytes, nrOps, failedOps, invalidOps, merged, totalTimeNs } = stats;
  // QEMU's interval list is newest-first and the reply prepends again: oldest interval first.
  const intervals = stats.intervals;
  const timed: BlockDeviceTimedStats[] = [];
  for (let i = intervals.length - 1; i >= 0; i--) timed.push(timedStats(stats, intervals[i]));
  const hists = stats.latencyHistograms;
  const rdHist = histogramInfo(hists[READ]);
  const wrHist = histogramInfo(hists[WRITE]);
  const zapHist = histogramInfo(hists[ZONE_APPEND]);
  const flHist = histogramInfo(hists[FLUSH]);
  return {
    rd_bytes: nrBytes[READ],
    wr_bytes: nrBytes[WRITE],
    zone_append_bytes: nrBytes[ZONE_APPEND],
    unmap_bytes: nrBytes[UNMAP],
    rd_operations: nrOps[READ],
    wr_operations: nrOps[WRITE],
    zone_append_operations: nrOps[ZONE_APPEND],
    flush_operations: nrOps[FLUSH],
    unmap_operations: nrOps[UNMAP],
    rd_total_time_ns: totalTimeNs[READ],
    wr_total_time_ns: totalTimeNs[WRITE],
    zone_append_total_time_ns: totalTimeNs[ZONE_APPEND],
    flush_total_time_ns: totalTimeNs[FLUSH],
    unmap_total_time_ns: totalTimeNs[UNMAP],
    wr_highest_offset: extras.wrHighestOffset,
    rd_merged: merged[READ],
    wr_merged: merged[WRITE],
    zone_append_merged: merged[ZONE_APPEND],
    unmap_merged: merged[UNMAP],
    ...(stats.lastAccessTimeNs > 0 ? { idle_time_ns: stats.idleTimeNs() } : {}),
    failed_rd_operations: failedOps[READ],
    failed_wr_operations: failedOps[WRITE],
    failed_zone_append_operations: failedOps[ZONE_APPEND],
    failed_flush_operations: failedOps[FLUSH],
    failed_unmap_operations: failedOps[UNMAP],
    invalid_rd_operations: invalidOps[READ],
    invalid_wr_operations: invalidOps[WRITE],
    invalid_zone_append_operations: invalidOps[ZONE_APPEND],
    invalid_flush_operations: invalidOps[FLUSH],
    invalid_unmap_operations: invalidOps[UNMAP],
    account_invalid: stats.accountInvalid,
    account_failed: stats.accountFailed,
    timed_stats: timed,
    ...(rdHist ? { rd_latency_histogram: rdHist } : {}),
    ...(wrHist ? { wr_latency_histogram: wrHist } : {}),
    ...(zapHist ? { zone_append_latency_histogram: zapHist } : {}),
    ...(flHist ? { flush_latency_histogram: flHist } : {}),
  };
}

/**
 * QMP `block-latency-histogram-set` applied to a BlockBackend's stats (block/qapi-sysemu.c):
 * with no boundaries at all every histogram is cleared; otherwise `boundaries` applies to read,
 * write, zone append and flush unless a per-type list overrides it. Stops at the first invalid
 * list with QEMU's error text (ConfigError), leaving the types set before it changed.
 */
export function blockLatencyHistogramSet(
  stats: BlockAcctStats,
  id: string,
  args: BlockLatencyHistogramSetArgs,
): void {
  const common = args.boundaries;
  const steps: readonly [BlockAcctType, readonly number[] | undefined, string][] = [
    [READ, args['boundaries-read'], 'read'],
    [WRITE, args['boundaries-write'], 'write'],
    [ZONE_APPEND, args['boundaries-zap'], 'append write'],
    [FLUSH, args['boundaries-flush'], 'flush'],
  ];
  if (common === undefined && steps.every(([, b]) => b === undefined)) {
    stats.clearLatencyHistograms();
    return;
  }
  for (const [type, specific, what] of steps) {
    const boundaries = specific ?? common;
    if (boundaries === undefined) continue;
    if (stats.setLatencyHistogram(type, boundaries) !== 0) {
      throw new ConfigError(`Device '${id}' set ${what} boundaries fail`);
    }
  }
}
