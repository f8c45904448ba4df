/** `open`, `close`, `quit` and `help` (qemu-io.c open_f, close_f, quit_f; help_f). */
import { Errno } from '@vmkit/core';
import type { ToolConsole } from '../common/console.js';
import { parseOptionString, mergeMissing, type OptionTree } from '../common/options.js';
import { parseCacheMode, parseDiscardMode, type CacheSetting } from '../image/open.js';
import { QUIT, parseCommandOptions, usage, type IoCommand } from './command.js';
import type { IoSession } from './session.js';

const OPEN_HELP = `
 opens a new file in the requested mode

 Example:
 'open -n -o driver=raw /tmp/data' - opens raw data file read-write, uncached

 Opens a file for subsequent use by all of the other vmkit-io commands.
 -r, -- open file read-only
 -n, -- disable host cache, short for -t none
 -U, -- force shared permissions
 -t, -- use the given cache mode for the image
 -d, -- use the given discard mode for the image
 -o, -- options to be given to the block driver
`;

/** The defaults of qemu-io: cache=writethrough (host cache on, guest write cache off). */
export const DEFAULT_CACHE: CacheSetting = { direct: false, noFlush: false, writethrough: true };

/** How to open an image: the options qemu-io's command line and `open` share (-r, -n, -U, -t, -d). */
export interface OpenSettings {
  readOnly: boolean;
  forceShare: boolean;
  cache: CacheSetting;
  discard: 'unmap' | 'ignore';
}

export function defaultOpenSettings(): OpenSettings {
  return { readOnly: false, forceShare: false, cache: DEFAULT_CACHE, discard: 'unmap' };
}

/**
 * Applies option `letter` to `o` when it is one of -r, -n, -U, -t, -d (qemu-io.c main and open_f
 * handle them alike): 'other' for any other letter, left to the caller; 'invalid' after printing
 * the error for an unknown cache or discard mode.
 */
export function applyOpenOption(
  con: ToolConsole,
  o: OpenSettings,
  letter: string,
  arg: string,
): 'applied' | 'other' | 'invalid' {
  switch (letter) {
    case 'r':
      o.readOnly = true;
      return 'applied';
    case 'n':
      o.cache = { direct: true, noFlush: false, writethrough: false };
      return 'applied';
    case 'U':
      o.forceShare = true;
      return 'applied';
    case 't': {
      const c = parseCacheMode(arg);
      if (c === undefined) {
        con.error(`Invalid cache option: ${arg}`);
        return 'invalid';
      }
      o.cache = c;
      return 'applied';
    }
    case 'd': {
      const d = parseDiscardMode(arg);
      if (d === undefined) {
        con.error(`Invalid discard option: ${arg}`);
        return 'invalid';
      }
      o.discard = d;
      return 'applied';
    }
    default:
      return 'other';
  }
}

export const openCommand: IoCommand = {
  name: 'open',
  altname: 'o',
  argmin: 1,
  argmax: -1,
  args: '[-rnU] [-t cache] [-d discard] [-o options] [path]',
  oneline: 'open the file specified by path',
  help: OPEN_HELP,
  noFileOk: true,
  async run(s, argv) {
    const p = parseCommandOptions(s, this, argv, 'rnUt:d:o:');
    if (p === null) return -Errno.EINVAL;
    const settings = defaultOpenSettings();
    let options: OptionTree | undefined;
    for (const o of p.options) {
      const arg = o.value === true ? '' : o.value;
      const applied = applyOpenOption(s.con, settings, o.letter, arg);
      if (applied === 'invalid') return -Errno.EINVAL;
      if (applied === 'other' && o.letter === 'o') {
        if (s.imageOpts) {
          s.con.line("--image-opts and 'open -o' are mutually exclusive");
          return -Errno.EINVAL;
        }
        try {
          options = mergeMissing(parseOptionString(arg), options ?? {});
        } catch (e) {
          s.con.error((e as Error).message);
          return -Errno.EINVAL;
        }
      }
    }
    if (p.operands.length > 1) return usage(s, this);
    const path = p.operands[0];
    return s.open({
      filename: path,
      imageOpts: s.imageOpts && path !== undefined,
      options,
      ...settings,
    });
  },
};

export const closeCommand: IoCommand = {
  name: 'close',
  altname: 'c',
  argmin: 0,
  argmax: 0,
  oneline: 'close the current open file',
  async run(s) {
    await s.close();
    return 0;
  },
};

export const quitCommand: IoCommand = {
  name: 'quit',
  altname: 'q',
  argmin: -1,
  argmax: -1,
  oneline: 'exit the program',
  global: true,
  run: () => QUIT,
};

/** help_oneline: with `asTyped` the name as the user typed it, else name plus `(or alias)`. */
function helpOneline(s: IoSession, cmd: IoCommand, asTyped: string | null): void {
  let line = asTyped !== null ? `${asTyped} ` : `${cmd.name} ${cmd.altname ? `(or ${cmd.altname}) ` : ''}`;
  if (cmd.args !== undefined) line += `${cmd.args} `;
  s.con.line(`${line}-- ${cmd.oneline}`);
}

export const helpCommand: IoCommand = {
  name: 'help',
  altname: '?',
  argmin: 0,
  argmax: 1,
  args: '[command]',
  oneline: 'help for one or all commands',
  global: true,
  run(s, argv) {
    if (argv.length === 1) {
      for (const c of s.commands) helpOneline(s, c, c.name);
      s.con.line("\nUse 'help commandname' for extended help.");
      return 0;
    }
    const cmd = s.findCommand(argv[1]);
    if (cmd === undefined) {
      s.con.line(`command ${argv[1]} not found`);
      return -Errno.EINVAL;
    }
    helpOneline(s, cmd, argv[1]);
    if (cmd.help !== undefined) s.con.write(cmd.help);
    return 0;
  },
};
