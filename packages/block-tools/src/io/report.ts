/**
 * qemu-io's result lines: `wrote 4096/4096 bytes at offset 0` and the timing line
 * `4 KiB, 1 ops; 00.00 sec (5.559 MiB/sec and 1423.2302 ops/sec)` (print_report), the -C
 * machine format, and the -v hex dump (dump_buffer).
 */
import { strerror } from '@vmkit/core';
import type { ToolConsole } from '../common/console.js';
import { cvtstr, fixed, timestr } from '../common/numbers.js';

/** A monotonic start time (ns) for timing a request. */
export function now(): bigint {
  return process.hrtime.bigint();
}

/** Nanoseconds since `start`. */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

/** print_report. */
export function printReport(
  con: ToolConsole,
  op: string,
  elapsedNs: number,
  offset: number,
  count: number,
  total: number,
  cnt: number,
  machine: boolean,
): void {
  const secs = elapsedNs / 1e9;
  const ts = timestr(elapsedNs, machine);
  if (!machine) {
    con.line(`${op} ${total}/${count} bytes at offset ${offset}`);
    con.line(
      `${cvtstr(total)}, ${cnt} ops; ${ts} (${cvtstr(total / secs)}/sec and ${fixed(cnt / secs, 4)} ops/sec)`,
    );
  } else {
    con.line(`${total},${cnt},${ts},${fixed(total / secs, 3)},${fixed(cnt / secs, 3)}`);
  }
}

/** `<what>: <strerror>` for a failed request or command; returns `ret` (a negative errno). */
export function reportFailure(con: ToolConsole, what: string, ret: number): number {
  con.line(`${what}: ${strerror(ret)}`);
  return ret;
}

/**
 * The lines of a completed request: nothing with -q, else the -v dump of `dump` (null when not
 * dumping) and print_report for one operation of `count` bytes.
 */
export function reportCompleted(
  con: ToolConsole,
  op: 'read' | 'wrote',
  elapsedNs: number,
  offset: number,
  count: number,
  quiet: boolean,
  machine: boolean,
  dump: Uint8Array | null,
): void {
  if (quiet) return;
  if (dump !== null) dumpBuffer(con, dump, offset, count);
  printReport(con, op, elapsedNs, offset, count, count, 1, machine);
}

function hex2(b: number): string {
  return b < 16 ? `0${b.toString(16)}` : b.toString(16);
}

/** C's isalnum in the C locale. */
function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/** dump_buffer: 16 bytes a line, `%08x:  ` offsets, hex then printable characters. */
export function dumpBuffer(con: ToolConsole, buf: Uint8Array, offset: number, len: number): void {
  const lines: string[] = [];
  for (let i = 0; i < len; i += 16) {
    const n = Math.min(16, len - i);
    let hex = '';
    let chars = '';
    for (let j = 0; j < n; j++) {
      const b = buf[i + j];
      hex += `${hex2(b)} `;
      chars += isAlnum(b) ? String.fromCharCode(b) : '.';
    }
    lines.push(`${(offset + i).toString(16).padStart(8, '0')}:  ${hex} ${chars}`);
  }
  if (lines.length > 0) con.write(lines.join('\n') + '\n');
}
