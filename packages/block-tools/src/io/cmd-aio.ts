/**
 * `aio_read`, `aio_write` and `aio_flush` (qemu-io aio_read_f, aio_write_f, aio_flush_f): requests
 * submitted through the BlockBackend's AIO interface, reported when they complete, and accounted
 * in its statistics like QEMU does (block_acct_start/done/failed, block_acct_invalid for -i).
 */
import { Errno } from '@vmkit/core';
import { BlockAcctCookie, BlockAcctType, RequestFlags, type BlockBackend } from '@vmkit/block-layer';
import { cvtnum, parseCommandOptions, refuse, usage, type IoCommand } from './command.js';
import { createIovec, verifyPattern } from './buffers.js';
import { applyReadvOption, newReadvFlags } from './cmd-read.js';
import { applyWritevOption, DEFAULT_WRITE_PATTERN, newWritevFlags } from './cmd-write.js';
import { now, reportCompleted, reportFailure, since } from './report.js';
import type { IoSession } from './session.js';

/** One AIO request in flight (qemu-io's struct aio_ctx). */
interface AioRequest {
  readonly s: IoSession;
  readonly blk: BlockBackend;
  readonly offset: number;
  readonly size: number;
  readonly buf: Uint8Array | null;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly machine: boolean;
  readonly pattern: number | null;
  /** Not accounted (aio_write -z: QEMU starts no accounting for it). */
  readonly cookie: BlockAcctCookie | null;
  readonly t0: bigint;
}

function account(r: AioRequest, ret: number): void {
  if (r.cookie === null) return;
  if (ret < 0) r.blk.acctFailed(r.cookie);
  else r.blk.acctDone(r.cookie);
}

/** aio_read_done: one function for every request (the request is the opaque). */
function readDone(r: AioRequest, ret: number): void {
  const elapsed = since(r.t0);
  r.s.aioPending--;
  if (ret < 0) reportFailure(r.s.con, 'readv failed', ret);
  else verifyPattern(r.s.con, r.buf!, 0, r.size, r.pattern, r.offset);
  account(r, ret);
  if (ret >= 0)
    reportCompleted(r.s.con, 'read', elapsed, r.offset, r.size, r.quiet, r.machine, r.verbose ? r.buf : null);
}

/** aio_write_done. */
function writeDone(r: AioRequest, ret: number): void {
  const elapsed = since(r.t0);
  r.s.aioPending--;
  if (ret < 0) reportFailure(r.s.con, 'aio_write failed', ret);
  account(r, ret);
  if (ret >= 0) reportCompleted(r.s.con, 'wrote', elapsed, r.offset, r.size, r.quiet, r.machine, null);
}

/**
 * A new request, counted in aioPending; accounted as `acct` (block_acct_start) unless null.
 * Started here so that the elapsed time covers what qemu-io's does.
 */
function startRequest(
  s: IoSession,
  offset: number,
  size: number,
  buf: Uint8Array | null,
  quiet: boolean,
  verbose: boolean,
  machine: boolean,
  pattern: number | null,
  acct: BlockAcctType | null,
): AioRequest {
  const cookie = acct === null ? null : new BlockAcctCookie();
  const req: AioRequest = {
    s,
    blk: s.blk,
    offset,
    size,
    buf,
    quiet,
    verbose,
    machine,
    pattern,
    cookie,
    t0: now(),
  };
  if (cookie !== null) s.blk.acctStart(cookie, size, acct!);
  s.aioPending++;
  return req;
}

const AIO_READ_HELP = `
 asynchronously reads a range of bytes from the given offset

 Example:
 'aio_read -v 512 1k 1k ' - dumps 2 kilobytes read from 512 bytes into the file

 Reads a segment of the currently open file, optionally dumping it to the
 standard output stream (with -v option) for subsequent inspection.
 The read is performed asynchronously and the aio_flush command must be
 used to ensure all outstanding aio requests have been completed.
 Note that due to its asynchronous nature, this command will be
 considered successful once the request is submitted, independently
 of potential I/O errors or pattern mismatches.
 -C, -- report statistics in a machine parsable format
 -P, -- use a pattern to verify read data
 -i, -- treat request as invalid, for exercising stats
 -v, -- dump buffer to standard output
 -q, -- quiet mode, do not show I/O statistics

`;

export const aioReadCommand: IoCommand = {
  name: 'aio_read',
  argmin: 2,
  argmax: -1,
  args: '[-Ciqv] [-P pattern] off len [len..]',
  oneline: 'asynchronously reads a number of bytes',
  help: AIO_READ_HELP,
  run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'CP:iqv');
    if (p === null) return -Errno.EINVAL;
    const blk = s.blk;
    const f = newReadvFlags();
    for (const o of p.options) {
      if (o.letter === 'i') {
        s.con.line('injecting invalid read request');
        blk.acctInvalid(BlockAcctType.READ);
        return 0;
      }
      if (!applyReadvOption(s, f, o)) return -Errno.EINVAL;
    }
    if (p.operands.length < 2) return usage(s, this);
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    const vec = createIovec(s, p.operands.slice(1), 0xab);
    if (vec === null) {
      blk.acctInvalid(BlockAcctType.READ);
      return -Errno.EINVAL;
    }
    const size = vec.qiov.size;
    const req = startRequest(
      s,
      offset,
      size,
      vec.buf,
      f.quiet,
      f.verbose,
      f.machine,
      f.pattern,
      BlockAcctType.READ,
    );
    blk.aioPreadv(offset, vec.qiov, 0, readDone, req);
    return 0;
  },
};

const AIO_WRITE_HELP = `
 asynchronously writes a range of bytes from the given offset source
 from multiple buffers

 Example:
 'aio_write 512 1k 1k' - writes 2 kilobytes at 512 bytes into the open file

 Writes into a segment of the currently open file, using a buffer
 filled with a set pattern (0xcdcdcdcd).
 The write is performed asynchronously and the aio_flush command must be
 used to ensure all outstanding aio requests have been completed.
 Note that due to its asynchronous nature, this command will be
 considered successful once the request is submitted, independently
 of potential I/O errors or pattern mismatches.
 -P, -- use different pattern to fill file
 -C, -- report statistics in a machine parsable format
 -f, -- use Force Unit Access semantics
 -i, -- treat request as invalid, for exercising stats
 -q, -- quiet mode, do not show I/O statistics
 -u, -- with -z, allow unmapping
 -z, -- write zeroes using blk_aio_pwrite_zeroes

`;

export const aioWriteCommand: IoCommand = {
  name: 'aio_write',
  argmin: 2,
  argmax: -1,
  args: '[-Cfiquz] [-P pattern] off len [len..]',
  oneline: 'asynchronously writes a number of bytes',
  help: AIO_WRITE_HELP,
  needsWrite: true,
  run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'CfiqP:uz');
    if (p === null) return -Errno.EINVAL;
    const blk = s.blk;
    const f = newWritevFlags();
    let zero = false;
    for (const o of p.options) {
      if (o.letter === 'i') {
        s.con.line('injecting invalid write request');
        blk.acctInvalid(BlockAcctType.WRITE);
        return 0;
      }
      if (o.letter === 'u') f.flags |= RequestFlags.MAY_UNMAP;
      else if (o.letter === 'z') zero = true;
      else if (!applyWritevOption(s, f, o)) return -Errno.EINVAL;
    }
    if (p.operands.length < 2) return usage(s, this);
    if (zero && p.operands.length !== 2) return refuse(s, '-z supports only a single length parameter');
    if (f.flags & RequestFlags.MAY_UNMAP && !zero) return refuse(s, '-u requires -z to be specified');
    if (zero && f.pattern !== null) return refuse(s, '-z and -P cannot be specified at the same time');
    const offset = cvtnum(s, p.operands[0]);
    if (offset === null) return -Errno.EINVAL;
    if (zero) {
      const count = cvtnum(s, p.operands[1]);
      if (count === null) return -Errno.EINVAL;
      const req = startRequest(s, offset, count, null, f.quiet, false, f.machine, null, null);
      blk.aioPwriteZeroes(offset, count, f.flags, writeDone, req);
      return 0;
    }
    const vec = createIovec(s, p.operands.slice(1), f.pattern ?? DEFAULT_WRITE_PATTERN);
    if (vec === null) {
      blk.acctInvalid(BlockAcctType.WRITE);
      return -Errno.EINVAL;
    }
    const req = startRequest(
      s,
      offset,
      vec.qiov.size,
      vec.buf,
      f.quiet,
      false,
      f.machine,
      null,
      BlockAcctType.WRITE,
    );
    blk.aioPwritev(offset, vec.qiov, f.flags, writeDone, req);
    return 0;
  },
};

export const aioFlushCommand: IoCommand = {
  name: 'aio_flush',
  argmin: 0,
  argmax: 0,
  oneline: 'completes all outstanding aio requests',
  async run(s) {
    const blk = s.blk;
    const cookie = new BlockAcctCookie();
    blk.acctStart(cookie, 0, BlockAcctType.FLUSH);
    // blk_drain_all: every request of the BlockBackend completes (callbacks included).
    await blk.drain();
    blk.acctDone(cookie);
    return 0;
  },
};
