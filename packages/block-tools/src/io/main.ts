/**
 * vmkit-io's entry point (qemu-io.c main): command-line options, opening the image, running the
 * `-c` commands or the interactive prompt, then completing outstanding AIO and closing.
 * Exit status: 0 when every command succeeded, 1 otherwise (or when the image cannot be opened).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { Readable, Writable } from 'node:stream';
import { ToolConsole } from '../common/console.js';
import { getopt } from '../common/getopt.js';
import { subscribeTrace, traceChannelNames } from '../common/trace.js';
import { applyOpenOption, defaultOpenSettings } from './cmd-file.js';
import { IoSession } from './session.js';
import { IO_COMMANDS, runCommandList, runInteractive } from './shell.js';

export const VMKIT_VERSION = '0.1.0';

/** Standard streams of one run (the process's, or a test's). */
export interface ToolStdio {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stdin?: Readable;
  /** Where an interactive terminal echoes (process.stdout). */
  readonly stdinTerminal?: Writable;
}

function ioUsage(prog: string): string {
  return `Usage: ${prog} [OPTIONS]... [-c STRING]... [file]
vmkit disk exerciser: qemu-io's commands over vmkit's block layer

  --image-opts         treat file as option string
  -c, --cmd STRING     execute command with its arguments
                       from the given string
  -f, --format FMT     specifies the block driver to use
  -r, --read-only      export read-only
  -n, --nocache        disable host cache, short for -t none
  -U, --force-share    force shared permissions
  -t, --cache=MODE     use the given cache mode for the image
  -d, --discard=MODE   use the given discard mode for the image
  -T, --trace PATTERN  print the vmkit trace events matching PATTERN on stderr
                       (e.g. 'blkdebug:*'; several patterns separated by commas)
  -h, --help           display this help and exit
  -V, --version        output version information and exit

See '${prog} -c help' for information on available commands.
`;
}

const LONG_OPTIONS = {
  help: 'h',
  version: 'V',
  cmd: 'c',
  format: 'f',
  'read-only': 'r',
  nocache: 'n',
  'force-share': 'U',
  discard: 'd',
  cache: 't',
  trace: 'T',
  'image-opts': 'image-opts',
};

/** Prints QEMU's blkdebug messages for breakpoints (blkdebug.c suspend_request / resume). */
function subscribeBlkdebugMessages(con: ToolConsole): () => void {
  const onSuspend = (m: unknown): void =>
    con.line(`blkdebug: Suspended request '${(m as { tag: string }).tag}'`);
  const onResume = (m: unknown): void =>
    con.line(`blkdebug: Resuming request '${(m as { tag: string }).tag}'`);
  diagnostics_channel.subscribe('vmkit:blkdebug:suspend', onSuspend);
  diagnostics_channel.subscribe('vmkit:blkdebug:resume', onResume);
  return () => {
    diagnostics_channel.unsubscribe('vmkit:blkdebug:suspend', onSuspend);
    diagnostics_channel.unsubscribe('vmkit:blkdebug:resume', onResume);
  };
}

/** Runs vmkit-io with `args` (without the program name); resolves to the exit status. */
export async function vmkitIo(args: readonly string[], stdio: ToolStdio, prog = 'vmkit-io'): Promise<number> {
  const con = new ToolConsole(prog, stdio.stdout, stdio.stderr);
  const parsed = getopt(args, 'hVc:f:rnUd:t:T:', LONG_OPTIONS);
  if (!parsed.ok) {
    con.error(parsed.message);
    con.write(ioUsage(prog));
    return 1;
  }
  const commands: string[] = [];
  const tracePatterns: string[] = [];
  let format: string | undefined;
  let imageOpts = false;
  const settings = defaultOpenSettings();
  for (const o of parsed.options) {
    const arg = o.value === true ? '' : o.value;
    const applied = applyOpenOption(con, settings, o.letter, arg);
    if (applied === 'invalid') return 1;
    if (applied === 'applied') continue;
    switch (o.letter) {
      case 'h':
        con.write(ioUsage(prog));
        return 0;
      case 'V':
        con.line(`${prog} version ${VMKIT_VERSION}`);
        return 0;
      case 'c':
        commands.push(arg);
        break;
      case 'f':
        format = arg;
        break;
      case 'T':
        tracePatterns.push(arg);
        break;
      case 'image-opts':
        imageOpts = true;
        break;
    }
  }
  if (parsed.operands.length > 1) {
    con.write(ioUsage(prog));
    return 1;
  }
  if (format !== undefined && imageOpts) {
    con.error('--image-opts and -f are mutually exclusive');
    return 1;
  }
  const unsubscribe = [subscribeBlkdebugMessages(con)];
  if (tracePatterns.length > 0)
    unsubscribe.push(subscribeTrace(traceChannelNames(tracePatterns), con.errLine.bind(con)));
  const s = new IoSession(con, imageOpts);
  s.addCommands(IO_COMMANDS);
  try {
    if (parsed.operands.length === 1) {
      const ret = await s.open({
        filename: parsed.operands[0],
        imageOpts,
        format,
        ...settings,
      });
      if (ret < 0) return 1;
    }
    let failed: boolean;
    if (commands.length > 0) failed = await runCommandList(s, commands);
    else if (stdio.stdin !== undefined) {
      const tty = (stdio.stdin as { isTTY?: boolean }).isTTY === true;
      failed = await runInteractive(s, stdio.stdin, stdio.stdinTerminal, tty);
    } else failed = false;
    // Outstanding AIO completes (and reports) before the image is closed, as at qemu-io's exit.
    if (s.image !== null) await s.image.blk.drain();
    await s.close();
    return failed ? 1 : 0;
  } finally {
    for (const u of unsubscribe) u();
  }
}
