/** `write` and `writev` (qemu-io write_f, writev_f). */
import { readFileSync } from 'node:fs';
import { Errno, IOVector, errnoFromNodeError, strerror } from '@vmkit/core';
import { BDRV_REQUEST_MAX_BYTES, RequestFlags } from '@vmkit/block-layer';
import { cvtnum, parseCommandOptions, parsePattern, refuse, sectorAlignmentError, usage } from './command.js';
import type { IoCommand } from './command.js';
import type { GetoptOption } from '../common/getopt.js';
import { createIovec, patternBuffer } from './buffers.js';
import { now, reportCompleted, reportFailure, since } from './report.js';
import type { IoSession } from './session.js';

const WRITE_HELP = `
 writes a range of bytes from the given offset

 Example:
 'write 512 1k' - writes 1 kilobyte at 512 bytes into the open file

 Writes into a segment of the currently open file, using a buffer
 filled with a set pattern (0xcdcdcdcd).
 -b, -- write to the VM state rather than the virtual disk
 -c, -- write compressed data with blk_write_compressed
 -f, -- use Force Unit Access semantics
 -n, -- with -z, don't allow slow fallback
 -p, -- ignored for backwards compatibility
 -P, -- use different pattern to fill file
 -s, -- use a pattern file to fill the write buffer
 -C, -- report statistics in a machine parsable format
 -q, -- quiet mode, do not show I/O statistics
 -u, -- with -z, allow unmapping
 -z, -- write zeroes using blk_co_pwrite_zeroes

`;

/** qemu_io_alloc_from_file: the file's bytes repeated to fill `len`; null after an error. */
function bufferFromFile(s: IoSession, path: string, len: number): Uint8Array | null {
  let data: Uint8Array;
  try {
    data = readFileSync(path);
  } catch (e) {
    s.con.error(`Failed to open file ${path}: ${strerror(errnoFromNodeError(e))}`);
    return null;
  }
  if (data.length === 0) {
    s.con.error(`Failed to read pattern from file ${path}: it is empty`);
    return null;
  }
  const buf = new Uint8Array(len);
  for (let pos = 0; pos < len; pos += data.length)
    buf.set(data.subarray(0, Math.min(data.length, len - pos)), pos);
  return buf;
}

/** The -C, -f, -q and -P settings shared by write, writev and aio_write. */
export interface WritevFlags {
  machine: boolean;
  quiet: boolean;
  /** RequestFlags (FUA for -f; write and aio_write add others). */
  flags: number;
  /** null without -P (DEFAULT_WRITE_PATTERN). */
  pattern: number | null;
}

export function newWritevFlags(): WritevFlags {
  return { machine: false, quiet: false, flags: 0, pattern: null };
}

/**
 * Applies one option of write_f / writev_f / aio_write_f to `f` (other letters are the caller's); false
 * after printing the error of a bad -P pattern.
 */
export function applyWritevOption(s: IoSession, f: WritevFlags, o: GetoptOption): boolean {
  if (o.letter === 'C') f.machine = true;
  else if (o.letter === 'f') f.flags |= RequestFlags.FUA;
  else if (o.letter === 'q') f.quiet = true;
  else if (o.letter === 'P') {
    f.pattern = parsePattern(s, o.value === true ? '' : o.value);
    if (f.pattern === null) return false;
  }
  return true;
}

/** The buffer of a write without -P (qemu-io's 0xcd). */
export const DEFAULT_WRITE_PATTERN = 0xcd;

export const writeCommand: IoCommand = {
  name: 'write',
  altname: 'w',
  argmin: 2,
  argmax: -1,
  args: '[-bcCfnquz] [-P pattern | -s source_file] off len',
  oneline: 'writes a number of bytes at a specified offset',
  help: WRITE_HELP,
  needsWrite: true,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'bcCfnpP:qs:uz');
    if (p === null) return -Errno.EINVAL;
    const f = newWritevFlags();
    let vmstate = false;
    let compressed = false;
    let zero = false;
    let patternFile: string | null = null;
    for (const o of p.options) {
      const arg = o.value === true ? '' : o.value;
      switch (o.letter) {
        case 'b':
          vmstate = true;
          break;
        case 'c':
          compressed = true;
          break;
        case 'n':
          f.flags |= RequestFlags.NO_FALLBACK;
          break;
        case 's':
          patternFile = arg;
          break;
        case 'u':
          f.flags |= RequestFlags.MAY_UNMAP;
          break;
        case 'z':
          zero = true;
          break;
        default:
          if (!applyWritevOption(s, f, o)) return -Errno.EINVAL;
      }
    }
    if (p.operands.length !== 2) return usage(s, this);
    const flags = f.flags;
    if (vmstate && zero) return refuse(s, '-b and -z cannot be specified at the same time');
    if (flags & RequestFlags.FUA && (vmstate || compressed)) {
      return refuse(s, '-f and -b or -c cannot be specified at the same time');
    }
    if (flags & RequestFlags.MAY_UNMAP && !zero) return refuse(s, '-u requires -z to be specified');
    if (flags & RequestFlags.NO_FALLBACK && !zero) return refuse(s, '-n requires -z to be specified');
    // As qemu-io's write_f: flags, not counts, so a repeated -P (the last one wins) is accepted.
    const sources = Number(zero) + Number(f.pattern !== null) + Number(patternFile !== null);
    if (sources > 1) return refuse(s, 'Only one of -z, -P, and -s can be specified at the same time');
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const count = cvtnum(s, p.operands[1]);
    if (count === null) return -Errno.EINVAL;
    if (count > BDRV_REQUEST_MAX_BYTES && !(flags & RequestFlags.NO_FALLBACK)) {
      return refuse(s, `length cannot exceed ${BDRV_REQUEST_MAX_BYTES} without -n, given ${p.operands[1]}`);
    }
    if (vmstate || compressed) {
      const unaligned = sectorAlignmentError(offset, count);
      if (unaligned !== null) return refuse(s, unaligned);
    }
    let buf: Uint8Array | null = null;
    if (!zero) {
      buf =
        patternFile !== null
          ? bufferFromFile(s, patternFile, count)
          : patternBuffer(count, f.pattern ?? DEFAULT_WRITE_PATTERN);
      if (buf === null) return -Errno.EINVAL;
    }
    const t0 = now();
    let ret: number;
    if (vmstate || compressed) {
      // No vmkit driver has a VM state area or compression (bdrv_save_vmstate, blk_pwrite_compressed).
      ret = -Errno.ENOTSUP;
    } else if (zero) {
      ret = await s.blk.coPwriteZeroes(offset, count, flags);
    } else {
      ret = await s.blk.coPwritev(offset, count, IOVector.fromBuffer(buf!), flags);
    }
    const elapsed = since(t0);
    if (ret < 0) return reportFailure(s.con, 'write failed', ret);
    reportCompleted(s.con, 'wrote', elapsed, offset, count, f.quiet, f.machine, null);
    return 0;
  },
};

const WRITEV_HELP = `
 writes a range of bytes from the given offset source from multiple buffers

 Example:
 'writev 512 1k 1k' - writes 2 kilobytes at 512 bytes into the open file

 Writes into a segment of the currently open file, using a buffer
 filled with a set pattern (0xcdcdcdcd).
 -P, -- use different pattern to fill file
 -C, -- report statistics in a machine parsable format
 -f, -- use Force Unit Access semantics
 -q, -- quiet mode, do not show I/O statistics

`;

export const writevCommand: IoCommand = {
  name: 'writev',
  argmin: 2,
  argmax: -1,
  args: '[-Cfq] [-P pattern] off len [len..]',
  oneline: 'writes a number of bytes at a specified offset',
  help: WRITEV_HELP,
  needsWrite: true,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'CfqP:');
    if (p === null) return -Errno.EINVAL;
    const f = newWritevFlags();
    for (const o of p.options) if (!applyWritevOption(s, f, o)) return -Errno.EINVAL;
    if (p.operands.length < 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const vec = createIovec(s, p.operands.slice(1), f.pattern ?? DEFAULT_WRITE_PATTERN);
    if (vec === null) return -Errno.EINVAL;
    const size = vec.qiov.size;
    const t0 = now();
    const ret = await s.blk.coPwritev(offset, size, vec.qiov, f.flags);
    const elapsed = since(t0);
    if (ret < 0) return reportFailure(s.con, 'writev failed', ret);
    reportCompleted(s.con, 'wrote', elapsed, offset, size, f.quiet, f.machine, null);
    return 0;
  },
};
