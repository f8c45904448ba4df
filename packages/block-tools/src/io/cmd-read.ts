/** `read` and `readv` (qemu-io read_f, readv_f). */
import { Errno, IOVector, strerror } from '@vmkit/core';
import { BDRV_REQUEST_MAX_BYTES, BDRV_SECTOR_SIZE } from '@vmkit/block-layer';
import { cvtnum, parseCommandOptions, parsePattern, usage, type IoCommand } from './command.js';
import { createIovec, matchesPattern } from './buffers.js';
import { dumpBuffer, now, printReport, since } from './report.js';

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
    let machine = false;
    let quiet = false;
    let verbose = false;
    let vmstate = false;
    let pattern: number | null = null;
    let patternOffset = 0;
    let patternCount: number | null = null;
    let sflag = false;
    for (const o of p.options) {
      const arg = o.value === true ? '' : o.value;
      switch (o.letter) {
        case 'b':
          vmstate = true;
          break;
        case 'C':
          machine = true;
          break;
        case 'l':
          patternCount = cvtnum(s, arg);
          if (patternCount === null) return -Errno.EINVAL;
          break;
        case 'P':
          pattern = parsePattern(s, arg);
          if (pattern === null) return -Errno.EINVAL;
          break;
        case 'q':
          quiet = true;
          break;
        case 's': {
          const v = cvtnum(s, arg);
          if (v === null) return -Errno.EINVAL;
          patternOffset = v;
          sflag = true;
          break;
        }
        case 'v':
          verbose = true;
          break;
      }
    }
    if (p.operands.length !== 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const count = cvtnum(s, p.operands[1]);
    if (count === null) return -Errno.EINVAL;
    if (count > BDRV_REQUEST_MAX_BYTES) {
      s.con.line(`length cannot exceed ${BDRV_REQUEST_MAX_BYTES}, given ${p.operands[1]}`);
      return -Errno.EINVAL;
    }
    if (pattern === null && (patternCount !== null || sflag)) return usage(s, this);
    const checkLen = patternCount ?? count - patternOffset;
    if (checkLen < 0 || checkLen + patternOffset > count) {
      s.con.line('pattern verification range exceeds end of read data');
      return -Errno.EINVAL;
    }
    if (vmstate) {
      if (offset % BDRV_SECTOR_SIZE !== 0) {
        s.con.line(`${offset} is not a sector-aligned value for 'offset'`);
        return -Errno.EINVAL;
      }
      if (count % BDRV_SECTOR_SIZE !== 0) {
        s.con.line(`${count} is not a sector-aligned value for 'count'`);
        return -Errno.EINVAL;
      }
    }
    const buf = new Uint8Array(count).fill(0xab);
    const t0 = now();
    // vmkit nodes have no VM state area (bdrv_load_vmstate: -ENOTSUP).
    const ret = vmstate ? -Errno.ENOTSUP : await s.blk.coPreadv(offset, count, IOVector.fromBuffer(buf));
    const elapsed = since(t0);
    if (ret < 0) {
      s.con.line(`read failed: ${strerror(ret)}`);
      return ret;
    }
    let result = 0;
    if (pattern !== null && !matchesPattern(buf, patternOffset, checkLen, pattern)) {
      s.con.line(`Pattern verification failed at offset ${offset + patternOffset}, ${checkLen} bytes`);
      result = -Errno.EINVAL;
    }
    if (quiet) return result;
    if (verbose) dumpBuffer(s.con, buf, offset, count);
    printReport(s.con, 'read', elapsed, offset, count, count, 1, machine);
    return result;
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
    let machine = false;
    let quiet = false;
    let verbose = false;
    let pattern: number | null = null;
    for (const o of p.options) {
      if (o.letter === 'C') machine = true;
      else if (o.letter === 'q') quiet = true;
      else if (o.letter === 'v') verbose = true;
      else if (o.letter === 'P') {
        pattern = parsePattern(s, o.value === true ? '' : o.value);
        if (pattern === null) return -Errno.EINVAL;
      }
    }
    if (p.operands.length < 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const vec = createIovec(s, p.operands.slice(1), 0xab);
    if (vec === null) return -Errno.EINVAL;
    const size = vec.qiov.size;
    const t0 = now();
    const ret = await s.blk.coPreadv(offset, size, vec.qiov);
    const elapsed = since(t0);
    if (ret < 0) {
      s.con.line(`readv failed: ${strerror(ret)}`);
      return ret;
    }
    let result = 0;
    if (pattern !== null && !matchesPattern(vec.buf, 0, size, pattern)) {
      s.con.line(`Pattern verification failed at offset ${offset}, ${size} bytes`);
      result = -Errno.EINVAL;
    }
    if (quiet) return result;
    if (verbose) dumpBuffer(s.con, vec.buf, offset, size);
    printReport(s.con, 'read', elapsed, offset, size, size, 1, machine);
    return result;
  },
};
