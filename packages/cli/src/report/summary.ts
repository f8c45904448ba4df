/**
 * The end of a run: a table per device and operation (ops, bytes, rates, latency p50/p99/max,
 * failed/invalid/merged from the accounting), the verification figures, and the verdict line
 * `verify: 0 errors`; or the same as one JSON object (`--output=json`).
 */
import type { DeviceSummary, OpSummary } from './device-summary.js';
import { formatBytes, formatLatency, sig3, table } from './format.js';

export interface RunSummary {
  /** Wall time of the workload phase, in seconds. */
  readonly seconds: number;
  /** Stopped by SIGINT (or QMP quit) before the jobs ended by themselves. */
  readonly interrupted: boolean;
  readonly devices: readonly DeviceSummary[];
  readonly ioErrors: number;
  /** null when no job verifies. */
  readonly verify: { readonly checked: number; readonly errors: number } | null;
}

/** Totals over the devices. */
export function runSummary(
  devices: readonly DeviceSummary[],
  seconds: number,
  interrupted: boolean,
): RunSummary {
  let ioErrors = 0;
  let checked = 0;
  let errors = 0;
  let verifying = false;
  for (const d of devices) {
    ioErrors += d.ioErrors;
    if (d.verify !== null) {
      verifying = true;
      checked += d.verify.checked;
      errors += d.verify.errors;
    }
  }
  return { seconds, interrupted, devices, ioErrors, verify: verifying ? { checked, errors } : null };
}

/** The columns of the summary table, in order (its header row). */
export const SUMMARY_COLUMNS = [
  'device',
  'op',
  'ops',
  'bytes',
  'IOPS',
  'MiB/s',
  'lat p50',
  'lat p99',
  'lat max',
  'failed',
  'invalid',
  'merged',
] as const;
const RIGHT = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

function row(id: string, op: string, s: OpSummary, withBytes: boolean): string[] {
  return [
    id,
    op,
    String(s.ops),
    withBytes ? formatBytes(s.bytes) : '-',
    withBytes ? sig3(s.iops) : '-',
    withBytes ? sig3(s.mibPerSec) : '-',
    formatLatency(s.latencyNs.p50),
    formatLatency(s.latencyNs.p99),
    formatLatency(s.latencyNs.max),
    String(s.failed),
    String(s.invalid),
    String(s.merged),
  ];
}

/** The human-readable summary, ending with the verdict line. */
export function formatSummary(s: RunSummary): string[] {
  const out: string[] = [];
  const what = s.interrupted ? 'interrupted after' : 'ran';
  out.push(
    `${what} ${s.seconds.toFixed(1)} s on ${s.devices.length} device${s.devices.length === 1 ? '' : 's'}`,
  );
  const rows: (readonly string[])[] = [SUMMARY_COLUMNS];
  for (const d of s.devices) {
    rows.push(
      row(d.id, 'read', d.read, true),
      row(d.id, 'write', d.write, true),
      row(d.id, 'flush', d.flush, false),
    );
  }
  out.push(...table(rows, RIGHT));
  for (const d of s.devices) {
    const job = `${d.type} '${d.id}' on ${d.drive}: ${d.job.rw} bs=${d.job.bs} iodepth=${d.job.iodepth}`;
    const v =
      d.verify === null
        ? 'no verification'
        : `crc32c: ${d.verify.checked} reads checked, ${d.verify.writtenBlocks} blocks written, ${d.verify.errors} errors`;
    out.push(`${job}; ${v}${d.ioErrors > 0 ? `; ${d.ioErrors} I/O errors` : ''}`);
    for (const f of d.verify?.failures ?? []) {
      out.push(
        `  ${d.id}: block at offset ${f.offset}: crc32c 0x${hex(f.actual)}, expected 0x${hex(f.expected)} (last write)`,
      );
    }
    if (d.failure !== null) out.push(`  ${d.id}: stopped: ${d.failure}`);
  }
  if (s.ioErrors > 0) out.push(`io errors: ${s.ioErrors}`);
  out.push(s.verify === null ? 'verify: off (no job verifies)' : `verify: ${s.verify.errors} errors`);
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** The summary as one JSON object (field names in snake_case, like fio's and QMP's). */
export function summaryJson(s: RunSummary): Record<string, unknown> {
  const op = (o: OpSummary): Record<string, unknown> => ({
    ops: o.ops,
    bytes: o.bytes,
    iops: round(o.iops),
    mib_per_sec: round(o.mibPerSec),
    lat_ns: { p50: o.latencyNs.p50, p99: o.latencyNs.p99, max: o.latencyNs.max },
    failed: o.failed,
    invalid: o.invalid,
    merged: o.merged,
  });
  return {
    seconds: round(s.seconds),
    interrupted: s.interrupted,
    devices: s.devices.map((d) => ({
      id: d.id,
      type: d.type,
      drive: d.drive,
      job: d.job,
      seconds: round(d.seconds),
      stop_reason: d.stopReason,
      read: op(d.read),
      write: op(d.write),
      flush: op(d.flush),
      io_errors: d.ioErrors,
      verify:
        d.verify === null
          ? null
          : {
              mode: d.verify.mode,
              checked: d.verify.checked,
              errors: d.verify.errors,
              written_blocks: d.verify.writtenBlocks,
              failures: d.verify.failures,
            },
      failure: d.failure,
    })),
    io_errors: s.ioErrors,
    verify: s.verify,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
