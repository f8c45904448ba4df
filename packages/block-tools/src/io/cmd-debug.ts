/**
 * blkdebug breakpoint control (`break`, `wait_break`, `resume`, `remove_break`, as iotest 077
 * uses them) and `sleep`. The breakpoint commands act on the first blkdebug node below the
 * BlockBackend (bdrv_debug_breakpoint follows primary children); without one they fail with
 * -ENOTSUP like QEMU's.
 */
import { Errno } from '@vmkit/core';
import { findBlkdebug, type BlkdebugState } from '@vmkit/block-layer';
import { parseCInteger, type IoCommand } from './command.js';
import { reportFailure } from './report.js';
import type { IoSession } from './session.js';

function blkdebugOf(s: IoSession): BlkdebugState | null {
  return findBlkdebug(s.bs);
}

/** Runs `action` on the blkdebug node (-ENOTSUP without one); prints `failure: <error>` if it fails. */
function onBlkdebug(s: IoSession, failure: string, action: (dbg: BlkdebugState) => number): number {
  const dbg = blkdebugOf(s);
  const ret = dbg === null ? -Errno.ENOTSUP : action(dbg);
  return ret < 0 ? reportFailure(s.con, failure, ret) : 0;
}

export const breakCommand: IoCommand = {
  name: 'break',
  argmin: 2,
  argmax: 2,
  args: 'event tag',
  oneline: 'sets a breakpoint on event and tags the stopped request as tag',
  run(s, argv) {
    return onBlkdebug(s, 'Could not set breakpoint', (dbg) => dbg.breakpoint(argv[1], argv[2]));
  },
};

export const removeBreakCommand: IoCommand = {
  name: 'remove_break',
  argmin: 1,
  argmax: 1,
  args: 'tag',
  oneline: 'remove a breakpoint by tag',
  run(s, argv) {
    return onBlkdebug(s, `Could not remove breakpoint ${argv[1]}`, (dbg) => dbg.removeBreak(argv[1]));
  },
};

export const resumeCommand: IoCommand = {
  name: 'resume',
  argmin: 1,
  argmax: 1,
  args: 'tag',
  oneline: 'resumes the request tagged as tag',
  run(s, argv) {
    return onBlkdebug(s, 'Could not resume request', (dbg) => dbg.resume(argv[1]));
  },
};

export const waitBreakCommand: IoCommand = {
  name: 'wait_break',
  argmin: 1,
  argmax: 1,
  args: 'tag',
  oneline: 'waits for the suspension of a request',
  async run(s, argv) {
    const dbg = blkdebugOf(s);
    if (dbg === null) {
      // QEMU would poll forever here; saying why is more useful.
      return reportFailure(s.con, 'Could not wait for breakpoint', -Errno.ENOTSUP);
    }
    await dbg.waitBreak(argv[1]);
    return 0;
  },
};

export const sleepCommand: IoCommand = {
  name: 'sleep',
  argmin: 1,
  argmax: 1,
  oneline: 'waits for the given value in milliseconds',
  noFileOk: true,
  async run(s, argv) {
    const ms = parseCInteger(argv[1]);
    if (ms === null || ms < 0) {
      s.con.line(`${argv[1]} is not a valid number`);
      return -Errno.EINVAL;
    }
    // The event loop keeps running meanwhile: AIO requests complete during the sleep.
    await new Promise<void>((resolve) => setTimeout(resolve, ms));
    return 0;
  },
};
