/**
 * The command table of vmkit-io (qemu-io's cmdinfo_t) and the helpers every command uses:
 * argument parsing with qemu-io's messages, and the result convention (0 or a negative errno;
 * `QUIT` ends the session).
 */
import { Errno } from '@vmkit/core';
import { BDRV_SECTOR_SIZE } from '@vmkit/block-layer';
import { getopt, type GetoptOption } from '../common/getopt.js';
import { numberErrorMessage, parseSize } from '../common/numbers.js';
import type { IoSession } from './session.js';

/** Returned by `quit`. */
export const QUIT = Symbol('quit');
export type CommandResult = number | typeof QUIT;

export interface IoCommand {
  readonly name: string;
  /** Short alias (`r` for read). */
  readonly altname?: string;
  /** Operand count limits, not counting the command name; argmax -1 = unlimited. */
  readonly argmin: number;
  readonly argmax: number;
  /** Synopsis of the arguments (`[-Cqv] [-P pattern] off len`). */
  readonly args?: string;
  readonly oneline: string;
  /** Extended help printed by `help <command>`. */
  readonly help?: string;
  /** Runs without an open image (CMD_NOFILE_OK). */
  readonly noFileOk?: boolean;
  /** Needs no open image either (CMD_FLAG_GLOBAL: help, quit). */
  readonly global?: boolean;
  /** Needs write access (BLK_PERM_WRITE): refused on a read-only image before it runs. */
  readonly needsWrite?: boolean;
  /** argv[0] is the command name as typed. */
  run(s: IoSession, argv: readonly string[]): CommandResult | Promise<CommandResult>;
}

/** qemuio_command_usage: `name args -- oneline`. */
export function usage(s: IoSession, cmd: IoCommand): number {
  s.con.line(`${cmd.name} ${cmd.args ?? ''} -- ${cmd.oneline}`);
  return -Errno.EINVAL;
}

/** Prints why the arguments are refused and fails with -EINVAL (qemu-io's `printf; return -EINVAL`). */
export function refuse(s: IoSession, message: string): number {
  s.con.line(message);
  return -Errno.EINVAL;
}

/**
 * read -b, write -b and write -c take whole sectors: the message for the first of `offset` and
 * `count` that is not sector-aligned, else null.
 */
export function sectorAlignmentError(offset: number, count: number): string | null {
  if (offset % BDRV_SECTOR_SIZE !== 0) return `${offset} is not a sector-aligned value for 'offset'`;
  if (count % BDRV_SECTOR_SIZE !== 0) return `${count} is not a sector-aligned value for 'count'`;
  return null;
}

/**
 * Runs getopt on argv[1..]; on a bad option prints GNU getopt's complaint and the usage line,
 * returning null.
 */
export function parseCommandOptions(
  s: IoSession,
  cmd: IoCommand,
  argv: readonly string[],
  spec: string,
): { options: readonly GetoptOption[]; operands: readonly string[] } | null {
  const r = getopt(argv.slice(1), spec);
  if (!r.ok) {
    s.con.errLine(`${argv[0]}: ${r.message}`);
    usage(s, cmd);
    return null;
  }
  return r;
}

/** cvtnum + print_cvtnum_err: the value, or null after printing qemu-io's parsing error. */
export function cvtnum(s: IoSession, arg: string): number | null {
  const r = parseSize(arg);
  if (!r.ok) {
    s.con.line(numberErrorMessage(r.error, arg));
    return null;
  }
  if (r.warning !== undefined) s.con.warn(r.warning);
  return r.value;
}

/** The negative errno a refused number stands for (-EINVAL or -ERANGE). */
export function cvtnumErrno(arg: string): number {
  const r = parseSize(arg);
  return !r.ok && r.error === 'range' ? -Errno.ERANGE : -Errno.EINVAL;
}

/** parse_pattern: a byte 0..255 in C's strtol base-0 syntax; prints an error otherwise. */
export function parsePattern(s: IoSession, arg: string): number | null {
  const v = parseCInteger(arg);
  if (v === null || v < 0 || v > 255) {
    s.con.line(`${arg} is not a valid pattern byte`);
    return null;
  }
  return v;
}

/** strtol(arg, &end, 0) requiring the whole string to be consumed; null if not a number. */
export function parseCInteger(arg: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(arg);
  if (!m) return null;
  const body = m[2];
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (body.length > 1 && body.startsWith('0')) v = parseInt(body, 8);
  else v = parseInt(body, 10);
  return m[1] === '-' ? -v : v;
}
