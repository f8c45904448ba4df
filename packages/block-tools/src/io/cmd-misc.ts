/**
 * `flush`, `discard`, `truncate`, `length`, `info`, `map` and `alloc` (qemu-io flush_f,
 * discard_f, truncate_f, length_f, info_f, map_f, alloc_f).
 */
import { Errno, strerror } from '@vmkit/core';
import {
  BDRV_REQUEST_MAX_BYTES,
  bdrvIsAllocated,
  type BlockDriverState,
  type PreallocMode,
} from '@vmkit/block-layer';
import { cvtstr } from '../common/numbers.js';
import { cvtnum, parseCommandOptions, refuse, usage, type IoCommand } from './command.js';
import { now, printReport, since } from './report.js';
import type { IoSession } from './session.js';
import { driverInfo, formatSpecificLines, protocolName } from '../image/describe.js';

export const flushCommand: IoCommand = {
  name: 'flush',
  altname: 'f',
  argmin: 0,
  argmax: 0,
  oneline: 'flush all in-core file state to disk',
  run: (s) => s.blk.coFlush(),
};

const DISCARD_HELP = `
 discards a range of bytes from the given offset

 Example:
 'discard 512 1k' - discards 1 kilobyte from 512 bytes into the file

 Discards a segment of the currently open file.
 -C, -- report statistics in a machine parsable format
 -q, -- quiet mode, do not show I/O statistics

`;

export const discardCommand: IoCommand = {
  name: 'discard',
  altname: 'd',
  argmin: 2,
  argmax: -1,
  args: '[-Cq] off len',
  oneline: 'discards a number of bytes at a specified offset',
  help: DISCARD_HELP,
  needsWrite: true,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'Cq');
    if (p === null) return -Errno.EINVAL;
    const machine = p.options.some((o) => o.letter === 'C');
    const quiet = p.options.some((o) => o.letter === 'q');
    if (p.operands.length !== 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const bytes = cvtnum(s, p.operands[1]);
    if (bytes === null) return -Errno.EINVAL;
    if (bytes > BDRV_REQUEST_MAX_BYTES)
      return refuse(s, `length cannot exceed ${BDRV_REQUEST_MAX_BYTES}, given ${p.operands[1]}`);
    const t0 = now();
    const ret = await s.blk.coPdiscard(offset, bytes);
    const elapsed = since(t0);
    if (ret < 0) {
      s.con.line(`discard failed: ${strerror(ret)}`);
      return ret;
    }
    if (!quiet) printReport(s.con, 'discard', elapsed, offset, bytes, bytes, 1, machine);
    return 0;
  },
};

const PREALLOC_MODES: readonly PreallocMode[] = ['off', 'metadata', 'falloc', 'full'];

export const truncateCommand: IoCommand = {
  name: 'truncate',
  altname: 't',
  argmin: 1,
  argmax: 3,
  args: '[-m prealloc_mode] off',
  oneline: 'truncates the current file at the given offset',
  needsWrite: true,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'm:');
    if (p === null) return -Errno.EINVAL;
    let prealloc: PreallocMode = 'off';
    for (const o of p.options) {
      const mode = o.value === true ? '' : o.value;
      if (!(PREALLOC_MODES as readonly string[]).includes(mode)) {
        s.con.error(`Invalid preallocation mode '${mode}'`);
        return -Errno.EINVAL;
      }
      prealloc = mode as PreallocMode;
    }
    if (p.operands.length !== 1) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const ret = await s.blk.coTruncate(offset, { exact: false, prealloc });
    if (ret < 0) {
      if (ret === -Errno.ENOTSUP && prealloc !== 'off')
        s.con.error(`Unsupported preallocation mode: ${prealloc}`);
      else if (ret === -Errno.ENOTSUP) s.con.error('Image format driver does not support resize');
      else s.con.error(`Could not resize image: ${strerror(ret)}`);
      return ret;
    }
    return 0;
  },
};

export const lengthCommand: IoCommand = {
  name: 'length',
  altname: 'l',
  argmin: 0,
  argmax: 0,
  oneline: 'gets the length of the current file',
  async run(s) {
    const size = await s.blk.coGetLength();
    if (size < 0) {
      s.con.line(`getlength: ${strerror(size)}`);
      return size;
    }
    s.con.line(cvtstr(size));
    return 0;
  },
};

export const infoCommand: IoCommand = {
  name: 'info',
  altname: 'i',
  argmin: 0,
  argmax: 0,
  oneline: 'prints information about the current file',
  run(s) {
    const bs = s.bs;
    s.con.line(`format name: ${bs.driver.name}`);
    const proto = protocolName(bs);
    if (proto !== undefined) s.con.line(`format name: ${proto}`);
    const di = driverInfo(bs);
    if (di === undefined) return -Errno.ENOTSUP; // bdrv_get_info fails silently
    s.con.line(`cluster size: ${cvtstr(di.clusterSize ?? 0)}`);
    s.con.line(`vm state offset: ${cvtstr(di.vmStateOffset ?? 0)}`);
    const specific = bs.driver.info?.(bs).formatSpecific;
    if (specific !== undefined) {
      s.con.line('Format specific information:');
      for (const l of formatSpecificLines(specific, 1)) s.con.line(l);
    }
    return 0;
  },
};

/** map_is_allocated: the extent from `offset` sharing the allocation state of its first byte. */
async function mapIsAllocated(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
): Promise<{ ret: number; pnum: number }> {
  let r = await bdrvIsAllocated(bs, offset, Math.min(bytes, BDRV_REQUEST_MAX_BYTES));
  if (r.ret < 0) return r;
  const first = r.ret;
  let pnum = r.pnum;
  while (bytes > 0 && r.ret === first) {
    offset += r.pnum;
    bytes -= r.pnum;
    r = await bdrvIsAllocated(bs, offset, Math.min(bytes, BDRV_REQUEST_MAX_BYTES));
    if (r.ret === first && r.pnum) pnum += r.pnum;
    else break;
  }
  return { ret: first, pnum };
}

export const mapCommand: IoCommand = {
  name: 'map',
  argmin: 0,
  argmax: 0,
  args: '',
  oneline: 'prints the allocated areas of a file',
  async run(s) {
    let offset = 0;
    let bytes = await s.blk.coGetLength();
    if (bytes < 0) {
      s.con.error(`Failed to query image length: ${strerror(bytes)}`);
      return bytes;
    }
    while (bytes > 0) {
      const { ret, pnum } = await mapIsAllocated(s.bs, offset, bytes);
      if (ret < 0) {
        s.con.error(`Failed to get allocation status: ${strerror(ret)}`);
        return ret;
      }
      if (!pnum) {
        s.con.error('Unexpected end of image');
        return -Errno.EIO;
      }
      const state = ret ? '    allocated' : 'not allocated';
      s.con.line(
        `${cvtstr(pnum)} (0x${pnum.toString(16)}) bytes ${state} at offset ${cvtstr(offset)} (0x${offset.toString(16)})`,
      );
      offset += pnum;
      bytes -= pnum;
    }
    return 0;
  },
};

export const allocCommand: IoCommand = {
  name: 'alloc',
  altname: 'a',
  argmin: 1,
  argmax: 2,
  args: 'offset [count]',
  oneline: 'checks if offset is allocated in the file',
  async run(s: IoSession, argv) {
    const start = cvtnum(s, argv[1]);
    if (start === null) return -Errno.EINVAL;
    let count = 512;
    if (argv.length === 3) {
      const c = cvtnum(s, argv[2]);
      if (c === null) return -Errno.EINVAL;
      count = c;
    }
    let offset = start;
    let remaining = count;
    let sumAlloc = 0;
    while (remaining) {
      const { ret, pnum } = await bdrvIsAllocated(s.bs, offset, remaining);
      if (ret < 0) {
        s.con.line(`is_allocated failed: ${strerror(ret)}`);
        return ret;
      }
      offset += pnum;
      remaining -= pnum;
      if (ret) sumAlloc += pnum;
      if (pnum === 0) {
        count -= remaining;
        remaining = 0;
      }
    }
    s.con.line(`${sumAlloc}/${count} bytes allocated at offset ${cvtstr(start)}`);
    return 0;
  },
};
