/** `read` and `readv` (qemu-io read_f, readv_f). */
import { Errno, IOVector } from '@vmkit/core';
import { BDRV_REQUEST_MAX_BYTES } from '@vmkit/block-layer';
import { cvtnum, parseCommandOptions, parsePattern, refuse, sectorAlignmentError, usage } from './command.js';
import type { IoCommand } from './command.js';
import type { GetoptOption } from '../common/getopt.js';
import { createIovec, verifyPattern } from './buffers.js';
import { now, reportCompleted, reportFailure, since } from './report.js';
import type { IoSession } from './session.js';

const READ_HELP = `
 reads a range of bytes from the given offset

 Example:
 'read -v 512 1k' - dumps 1 kilobyte read from 512 bytes into the file

 Reads a segment of the currently open file, optionally dumping it to the
 standard output stream (with -v option) for subsequent inspection.
 -b, -- read from the VM state rather than the virtual disk
 -C, -- report statistics in a machine parsable format
 -l, -- length for pattern verification (only with -P)
 -p, -- ignored for backwards compatibility
 -P, -- use a pattern to verify read data
 -q, -- quiet mode, do not show I/O statistics
 -s, -- start offset for pattern verification (only with -P)
 -v, -- dump buffer to standard output

`;

/** The -C, -q, -v and -P settings shared by read, readv and aio_read. */
export interface ReadvFlags {
  machine: boolean;
  quiet: boolean;
  verbose: boolean;
  pattern: number | null;
}

export function newReadvFlags(): ReadvFlags {
  return { machine: false, quiet: false, verbose: false, pattern: null };
}

/**
 * Applies one option of read_f / readv_f / aio_read_f to `f` (other letters are the caller's); false
 * after printing the error of a bad -P pattern.
 */
export function applyReadvOption(s: IoSession, f: ReadvFlags, o: GetoptOption): boolean {
  if (o.letter === 'C') f.machine = true;
  else if (o.letter === 'q') f.quiet = true;
  else if (o.letter === 'v') f.verbose = true;
  else if (o.letter === 'P') {
    f.pattern = parsePattern(s, o.value === true ? '' : o.value);
    if (f.pattern === null) return false;
  }
  return true;
}

export const readCommand: IoCommand = {
  name: 'read',
  altname: 'r',
  argmin: 2,
  argmax: -1,
  args: '[-bCqv] [-P pattern [-s off] [-l len]] off len',
  oneline: 'reads a number of bytes at a specified offset',
  help: READ_HELP,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'bCl:pP:qs:v');
    if (p === null) return -Errno.EINVAL;
    const f = newReadvFlags();
    let vmstate = false;
    let patternOffset = 0;
    let patternCount: number | null = null;
    let sflag = false;
    for (const o of p.options) {
      const arg = o.value === true ? '' : o.value;
      switch (o.letter) {
        case 'b':
          vmstate = true;
          break;
        case 'l':
          patternCount = cvtnum(s, arg);
          if (patternCount === null) return -Errno.EINVAL;
          break;
        case 's': {
          const v = cvtnum(s, arg);
          if (v === null) return -Errno.EINVAL;
          patternOffset = v;
          sflag = true;
          break;
        }
        default:
          if (!applyReadvOption(s, f, o)) return -Errno.EINVAL;
      }
    }
    if (p.operands.length !== 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const count = cvtnum(s, p.operands[1]);
    if (count === null) return -Errno.EINVAL;
    if (count > BDRV_REQUEST_MAX_BYTES)
      return refuse(s, `length cannot exceed ${BDRV_REQUEST_MAX_BYTES}, given ${p.operands[1]}`);
    if (f.pattern === null && (patternCount !== null || sflag)) return usage(s, this);
    const checkLen = patternCount ?? count - patternOffset;
    if (checkLen < 0 || checkLen + patternOffset > count)
      return refuse(s, 'pattern verification range exceeds end of read data');
    if (vmstate) {
      const unaligned = sectorAlignmentError(offset, count);
      if (unaligned !== null) return refuse(s, unaligned);
    }
    const buf = new Uint8Array(count).fill(0xab);
    const t0 = now();
    // vmkit nodes have no VM state area (bdrv_load_vmstate: -ENOTSUP).
    const ret = vmstate ? -Errno.ENOTSUP : await s.blk.coPreadv(offset, count, IOVector.fromBuffer(buf));
    const elapsed = since(t0);
    if (ret < 0) return reportFailure(s.con, 'read failed', ret);
    const matched = verifyPattern(s.con, buf, patternOffset, checkLen, f.pattern, offset + patternOffset);
    reportCompleted(s.con, 'read', elapsed, offset, count, f.quiet, f.machine, f.verbose ? buf : null);
    return matched ? 0 : -Errno.EINVAL;
  },
};

const READV_HELP = `
 reads a range of bytes from the given offset into multiple buffers

 Example:
 'readv -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes into the file

 Reads a segment of the currently open file, optionally dumping it to the
 standard output stream (with -v option) for subsequent inspection.
 Uses multiple iovec buffers if more than one byte range is specified.
 -C, -- report statistics in a machine parsable format
 -P, -- use a pattern to verify read data
 -v, -- dump buffer to standard output
 -q, -- quiet mode, do not show I/O statistics

`;

export const readvCommand: IoCommand = {
  name: 'readv',
  argmin: 2,
  argmax: -1,
  args: '[-Cqv] [-P pattern] off len [len..]',
  oneline: 'reads a number of bytes at a specified offset',
  help: READV_HELP,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'CP:qv');
    if (p === null) return -Errno.EINVAL;
    const f = newReadvFlags();
    for (const o of p.options) if (!applyReadvOption(s, f, o)) return -Errno.EINVAL;
    if (p.operands.length < 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const vec = createIovec(s, p.operands.slice(1), 0xab);
    if (vec === null) return -Errno.EINVAL;
    const size = vec.qiov.size;
    const t0 = now();
    const ret = await s.blk.coPreadv(offset, size, vec.qiov);
    const elapsed = since(t0);
    if (ret < 0) return reportFailure(s.con, 'readv failed', ret);
    const matched = verifyPattern(s.con, vec.buf, 0, size, f.pattern, offset);
    reportCompleted(s.con, 'read', elapsed, offset, size, f.quiet, f.machine, f.verbose ? vec.buf : null);
    return matched ? 0 : -Errno.EINVAL;
  },
};
