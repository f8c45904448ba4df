/**
 * The figures of a finished (or interrupted) job: the device side from the BlockBackend's
 * accounting as query-blockstats reports it (operations, bytes, failed/invalid/merged, latency
 * percentiles from the histograms, the maximum from the long stats interval), the guest side from
 * the runner (I/O error statuses, verification).
 */
import type { BlockDeviceStats, BlockLatencyHistogramInfo, BlockStats } from '@vmkit/block-layer';
import type { DeviceHandle } from '../machine/build.js';
import { STATS_INTERVAL_S } from '../machine/build.js';
import type { JobRunner, StopReason } from '../workload/runner.js';
import type { VerifyFailure } from '../workload/verify-map.js';
import { histogramPercentile } from './histogram.js';

export interface LatencySummary {
  /** ns; null without samples. */
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export interface OpSummary {
  readonly ops: number;
  readonly bytes: number;
  readonly iops: number;
  readonly mibPerSec: number;
  readonly latencyNs: LatencySummary;
  readonly failed: number;
  readonly invalid: number;
  readonly merged: number;
}

export interface VerifySummary {
  readonly mode: 'crc32c';
  /** Reads compared with the checksum of the block's last write. */
  readonly checked: number;
  readonly errors: number;
  /** Blocks with a known checksum at the end. */
  readonly writtenBlocks: number;
  readonly failures: readonly VerifyFailure[];
}

export interface DeviceSummary {
  readonly id: string;
  readonly type: string;
  readonly drive: string;
  readonly job: {
    readonly rw: string;
    readonly bs: number;
    readonly iodepth: number;
    readonly offset: number;
    readonly size: number;
  };
  readonly seconds: number;
  readonly stopReason: StopReason | null;
  readonly read: OpSummary;
  readonly write: OpSummary;
  readonly flush: OpSummary;
  /** Requests the guest saw fail (error status). */
  readonly ioErrors: number;
  readonly verify: VerifySummary | null;
  /** A guest driver failure that ended the job early. */
  readonly failure: string | null;
}

type Kind = 'rd' | 'wr' | 'flush';

function latency(
  stats: BlockDeviceStats,
  hist: BlockLatencyHistogramInfo | undefined,
  kind: Kind,
): LatencySummary {
  const timed = stats.timed_stats.find((t) => t.interval_length === STATS_INTERVAL_S);
  const max = timed === undefined ? 0 : timed[`max_${kind}_latency_ns`];
  const cap = max > 0 ? max : Infinity;
  const pct = (q: number): number | null =>
    hist === undefined ? null : (histogramPercentile(hist.boundaries, hist.bins, q, cap) ?? null);
  return { p50: pct(0.5), p99: pct(0.99), max: max > 0 ? max : null };
}

function opSummary(stats: BlockDeviceStats, kind: Kind, seconds: number): OpSummary {
  const ops = stats[`${kind === 'flush' ? 'flush' : kind}_operations`];
  const bytes = kind === 'flush' ? 0 : stats[`${kind}_bytes`];
  const hist =
    kind === 'rd'
      ? stats.rd_latency_histogram
      : kind === 'wr'
        ? stats.wr_latency_histogram
        : stats.flush_latency_histogram;
  return {
    ops,
    bytes,
    iops: seconds > 0 ? ops / seconds : 0,
    mibPerSec: seconds > 0 ? bytes / 1048576 / seconds : 0,
    latencyNs: latency(stats, hist, kind),
    failed: stats[`failed_${kind}_operations`],
    invalid: stats[`invalid_${kind}_operations`],
    merged: kind === 'flush' ? 0 : stats[`${kind}_merged`],
  };
}

/** The summary of one device from its query-blockstats entry and its runner. */
export function deviceSummary(
  handle: DeviceHandle,
  entry: BlockStats,
  runner: JobRunner | undefined,
): DeviceSummary {
  const seconds = runner !== undefined ? runner.elapsedNs / 1e9 : 0;
  const v = runner?.verify ?? null;
  return {
    id: handle.spec.id,
    type: handle.spec.type,
    drive: handle.spec.drive,
    job: {
      rw: handle.job?.rw ?? 'none',
      bs: handle.job?.bs ?? 0,
      iodepth: handle.job?.iodepth ?? 0,
      offset: runner?.region.offset ?? 0,
      size: runner?.region.size ?? 0,
    },
    seconds,
    stopReason: runner?.stopReason ?? null,
    read: opSummary(entry.stats, 'rd', seconds),
    write: opSummary(entry.stats, 'wr', seconds),
    flush: opSummary(entry.stats, 'flush', seconds),
    ioErrors: runner?.counters.ioErrors ?? 0,
    verify:
      v === null
        ? null
        : {
            mode: 'crc32c',
            checked: v.checked,
            errors: v.errors,
            writtenBlocks: v.written,
            failures: v.failures,
          },
    failure: runner?.failure?.message ?? null,
  };
}
