/**
 * Running vmkit-io commands (qemuio_command): splitting a line into words, finding the command,
 * the no-file / argument-count / write-permission checks, and the loops over `-c` commands or
 * the lines of standard input with a `vmkit-io> ` prompt.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Errno } from '@vmkit/core';
import { QUIT, type CommandResult, type IoCommand } from './command.js';
import type { IoSession } from './session.js';
import { readCommand, readvCommand } from './cmd-read.js';
import { writeCommand, writevCommand } from './cmd-write.js';
import { aioFlushCommand, aioReadCommand, aioWriteCommand } from './cmd-aio.js';
import {
  allocCommand,
  discardCommand,
  flushCommand,
  infoCommand,
  lengthCommand,
  mapCommand,
  truncateCommand,
} from './cmd-misc.js';
import {
  breakCommand,
  removeBreakCommand,
  resumeCommand,
  sleepCommand,
  waitBreakCommand,
} from './cmd-debug.js';
import { closeCommand, helpCommand, openCommand, quitCommand } from './cmd-file.js';

/** Every vmkit-io command. */
export const IO_COMMANDS: readonly IoCommand[] = [
  helpCommand,
  readCommand,
  readvCommand,
  writeCommand,
  writevCommand,
  aioReadCommand,
  aioWriteCommand,
  aioFlushCommand,
  flushCommand,
  truncateCommand,
  lengthCommand,
  infoCommand,
  discardCommand,
  allocCommand,
  mapCommand,
  breakCommand,
  removeBreakCommand,
  resumeCommand,
  waitBreakCommand,
  sleepCommand,
  quitCommand,
  openCommand,
  closeCommand,
];

/** breakline: words separated by spaces (only spaces, as qemu_strsep(" ") does). */
export function breakline(input: string): string[] {
  return input.split(' ').filter((w) => w !== '');
}

function argCountMessage(n: number, name: string, cmd: IoCommand): string {
  if (cmd.argmax === -1)
    return `bad argument count ${n} to ${name}, expected at least ${cmd.argmin} arguments`;
  if (cmd.argmin === cmd.argmax)
    return `bad argument count ${n} to ${name}, expected ${cmd.argmin} arguments`;
  return `bad argument count ${n} to ${name}, expected between ${cmd.argmin} and ${cmd.argmax} arguments`;
}

/** qemuio_command: runs one line; 0, a negative errno, or QUIT. */
export async function runCommandLine(s: IoSession, line: string): Promise<CommandResult> {
  const argv = breakline(line);
  if (argv.length === 0) return 0;
  const cmd = s.findCommand(argv[0]);
  if (cmd === undefined) {
    s.con.errLine(`command "${argv[0]}" not found`);
    return -Errno.EINVAL;
  }
  if (!cmd.global && !cmd.noFileOk && s.image === null) {
    s.con.errLine("no file open, try 'help open'");
    return -Errno.EINVAL;
  }
  const n = argv.length - 1;
  if (n < cmd.argmin || (cmd.argmax !== -1 && n > cmd.argmax)) {
    s.con.errLine(argCountMessage(n, argv[0], cmd));
    return -Errno.EINVAL;
  }
  // The permission a command needs is requested before it runs (blk_set_perm in command()).
  if (cmd.needsWrite && s.image !== null && s.image.blk.isReadOnly()) {
    s.con.error('Block node is read-only');
    return -Errno.EPERM;
  }
  return cmd.run(s, argv);
}

/** Runs the `-c` commands in order; stops at `quit`. Returns whether any failed. */
export async function runCommandList(s: IoSession, lines: readonly string[]): Promise<boolean> {
  let failed = false;
  for (const line of lines) {
    const r = await runCommandLine(s, line);
    if (r === QUIT) break;
    if (r < 0) failed = true;
  }
  return failed;
}

/**
 * The interactive loop: prints `prog> `, reads a line, runs it, until `quit` or end of input. On a
 * terminal, readline echoes and edits the line; otherwise the prompt is written as is (so scripts
 * piped in see `vmkit-io> ` before each command's output, like qemu-io's).
 */
export async function runInteractive(
  s: IoSession,
  input: Readable,
  output: Writable | undefined,
  isTTY: boolean,
): Promise<boolean> {
  const prompt = `${s.con.prog}> `;
  const tty = isTTY && output !== undefined;
  const rl = createInterface({ input, output: tty ? output : undefined, terminal: tty, crlfDelay: Infinity });
  rl.setPrompt(prompt);
  const lines = rl[Symbol.asyncIterator]();
  let failed = false;
  try {
    for (;;) {
      if (tty) rl.prompt();
      else s.con.write(prompt);
      const next = await lines.next();
      if (next.done === true) break;
      const r = await runCommandLine(s, next.value);
      if (r === QUIT) break;
      if (r < 0) failed = true;
    }
  } finally {
    rl.close();
  }
  return failed;
}
