/**
 * Buffers for vmkit-io's requests: a pattern-filled buffer (qemu_io_alloc), a multi-view vector
 * from `len [len..]` operands (create_iovec), and pattern verification (read_f's -P check).
 */
import { IOVector } from '@vmkit/core';
import { BDRV_REQUEST_MAX_BYTES } from '@vmkit/block-layer';
import { cvtnum } from './command.js';
import type { ToolConsole } from '../common/console.js';
import type { IoSession } from './session.js';

/** Bytes filled with `pattern` (qemu_io_alloc). */
export function patternBuffer(len: number, pattern: number): Uint8Array {
  return new Uint8Array(len).fill(pattern);
}

export interface Iovec {
  readonly buf: Uint8Array;
  readonly qiov: IOVector;
}

/**
 * create_iovec: one view per length argument, all carved from one buffer filled with `pattern`;
 * null after printing qemu-io's message for a bad length.
 */
export function createIovec(s: IoSession, lengths: readonly string[], pattern: number): Iovec | null {
  const sizes: number[] = [];
  let count = 0;
  for (const arg of lengths) {
    const len = cvtnum(s, arg);
    if (len === null) return null;
    if (len > BDRV_REQUEST_MAX_BYTES) {
      s.con.line(`Argument '${arg}' exceeds maximum size ${BDRV_REQUEST_MAX_BYTES}`);
      return null;
    }
    if (count > BDRV_REQUEST_MAX_BYTES - len) {
      s.con.line(`The total number of bytes exceed the maximum size ${BDRV_REQUEST_MAX_BYTES}`);
      return null;
    }
    sizes.push(len);
    count += len;
  }
  const buf = patternBuffer(count, pattern);
  const qiov = new IOVector();
  let pos = 0;
  for (const n of sizes) {
    qiov.add(buf.subarray(pos, pos + n));
    pos += n;
  }
  return { buf, qiov };
}

/** Whether every byte of buf[from, from + len) is `pattern`. */
export function matchesPattern(buf: Uint8Array, from: number, len: number, pattern: number): boolean {
  for (let i = from; i < from + len; i++) if (buf[i] !== pattern) return false;
  return true;
}

/**
 * Checks buf[from, from + len) against `pattern` (no check when null), printing qemu-io's
 * message with the device offset `at` on a mismatch; whether the data matched.
 */
export function verifyPattern(
  con: ToolConsole,
  buf: Uint8Array,
  from: number,
  len: number,
  pattern: number | null,
  at: number,
): boolean {
  if (pattern === null || matchesPattern(buf, from, len, pattern)) return true;
  con.line(`Pattern verification failed at offset ${at}, ${len} bytes`);
  return false;
}
