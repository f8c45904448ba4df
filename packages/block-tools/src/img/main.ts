/**
 * vmkit-img's entry point (qemu-img.c main): `vmkit-img COMMAND [ARGS]`, `--help`, `--version`.
 * Errors are one `vmkit-img: message` line (plus the --help hint for usage errors), never a stack
 * trace; the exit status is the subcommand's (compare: 0/1/2; others: 0 or 1).
 */
import { ConfigError } from '@vmkit/core';
import { ToolConsole } from '../common/console.js';
import { VMKIT_VERSION, type ToolStdio } from '../io/main.js';
import { ImgExit, errorExit, reportExit } from './common.js';
import { imgBench } from './bench.js';
import { imgCheck } from './check.js';
import { imgCompare } from './compare.js';
import { imgConvert } from './convert.js';
import { imgCreate } from './create.js';
import { imgInfo } from './info.js';
import { imgMap } from './map.js';

type Subcommand = (con: ToolConsole, args: readonly string[], tty: boolean) => Promise<number>;

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  bench: imgBench,
  check: imgCheck,
  compare: imgCompare,
  convert: imgConvert,
  create: imgCreate,
  info: imgInfo,
  map: imgMap,
};

function imgUsage(prog: string): string {
  return `${prog} version ${VMKIT_VERSION}
usage: ${prog} [standard options] command [command options]
vmkit image utility: qemu-img's commands over vmkit's block layer

Command syntax:
  bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename
  check [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename
  compare [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2
  convert [--image-opts] [--target-image-opts] [-U] [-n] [-p] [-q] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-S sparse_size] filename output_filename
  create [-q] [-f fmt] [-o options] filename [size]
  info [--image-opts] [-f fmt] [--output=ofmt] [-U] filename
  map [--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename

Formats: the block drivers of @vmkit/block-layer (raw, file, null-co, memory, blkdebug, ...).
Filenames may use the pseudo-protocols blkdebug:[config]:IMAGE, null-co://, file:PATH and json:{...}.
`;
}

/** Runs vmkit-img with `args` (without the program name); resolves to the exit status. */
export async function vmkitImg(
  args: readonly string[],
  stdio: ToolStdio & { stdoutIsTTY?: boolean },
  prog = 'vmkit-img',
): Promise<number> {
  const con = new ToolConsole(prog, stdio.stdout, stdio.stderr);
  try {
    if (args.length === 0) errorExit('Not enough arguments');
    const cmd = args[0];
    if (cmd === '-h' || cmd === '--help') {
      con.write(imgUsage(prog));
      return 0;
    }
    if (cmd === '-V' || cmd === '--version') {
      con.line(`${prog} version ${VMKIT_VERSION}`);
      return 0;
    }
    const sub = Object.hasOwn(SUBCOMMANDS, cmd) ? SUBCOMMANDS[cmd] : undefined;
    if (sub === undefined) errorExit(`Command not found: ${cmd}`);
    return await sub(con, args.slice(1), stdio.stdoutIsTTY ?? false);
  } catch (e) {
    if (e instanceof ImgExit) return reportExit(con, e);
    if (e instanceof ConfigError) return reportExit(con, new ImgExit(e.message));
    throw e;
  }
}
