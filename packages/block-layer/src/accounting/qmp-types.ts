/**
 * The QMP wire shapes of block statistics (qapi/block-core.json), field names and order as QEMU
 * sends them. QAPI 'int' and 'number' are both JS numbers here.
 */

/** `BlockLatencyHistogramInfo`: `bins` has one more entry than `boundaries`. */
export interface BlockLatencyHistogramInfo {
  boundaries: number[];
  bins: number[];
}

/** `BlockDeviceTimedStats`: latencies over one stats interval. */
export interface BlockDeviceTimedStats {
  /** Interval length in seconds. */
  interval_length: number;
  min_rd_latency_ns: number;
  max_rd_latency_ns: number;
  avg_rd_latency_ns: number;
  min_wr_latency_ns: number;
  max_wr_latency_ns: number;
  avg_wr_latency_ns: number;
  min_zone_append_latency_ns: number;
  max_zone_append_latency_ns: number;
  avg_zone_append_latency_ns: number;
  min_flush_latency_ns: number;
  max_flush_latency_ns: number;
  avg_flush_latency_ns: number;
  avg_rd_queue_depth: number;
  avg_wr_queue_depth: number;
  avg_zone_append_queue_depth: number;
}

/** `BlockDeviceStats`, the `stats` member of each `query-blockstats` entry. */
export interface BlockDeviceStats {
  rd_bytes: number;
  wr_bytes: number;
  zone_append_bytes: number;
  unmap_bytes: number;
  rd_operations: number;
  wr_operations: number;
  zone_append_operations: number;
  flush_operations: number;
  unmap_operations: number;
  rd_total_time_ns: number;
  wr_total_time_ns: number;
  zone_append_total_time_ns: number;
  flush_total_time_ns: number;
  unmap_total_time_ns: number;
  /** Offset after the greatest byte written to the node (tracked by the node, failed writes included). */
  wr_highest_offset: number;
  rd_merged: number;
  wr_merged: number;
  zone_append_merged: number;
  unmap_merged: number;
  /** Present only once an access has been accounted (last access time > 0). */
  idle_time_ns?: number;
  failed_rd_operations: number;
  failed_wr_operations: number;
  failed_zone_append_operations: number;
  failed_flush_operations: number;
  failed_unmap_operations: number;
  invalid_rd_operations: number;
  invalid_wr_operations: number;
  invalid_zone_append_operations: number;
  invalid_flush_operations: number;
  invalid_unmap_operations: number;
  account_invalid: boolean;
  account_failed: boolean;
  /** One entry per stats interval, in the order the intervals were added. */
  timed_stats: BlockDeviceTimedStats[];
  rd_latency_histogram?: BlockLatencyHistogramInfo;
  wr_latency_histogram?: BlockLatencyHistogramInfo;
  zone_append_latency_histogram?: BlockLatencyHistogramInfo;
  flush_latency_histogram?: BlockLatencyHistogramInfo;
}

/** Arguments of QMP `block-latency-histogram-set` other than `id` (qapi/block.json). */
export interface BlockLatencyHistogramSetArgs {
  boundaries?: readonly number[];
  'boundaries-read'?: readonly number[];
  'boundaries-write'?: readonly number[];
  'boundaries-zap'?: readonly number[];
  'boundaries-flush'?: readonly number[];
}
