/**
 * Shared pieces of the vmkit-img subcommands: option parsing with qemu-img's messages, opening
 * images (img_open), and the exit conventions (error_report, error_exit).
 */
import type { ToolConsole } from '../common/console.js';
import { getopt, type GetoptOption } from '../common/getopt.js';
import {
  openImage,
  parseCacheMode,
  type CacheSetting,
  type OpenImage,
  type OpenRequest,
} from '../image/open.js';

/** An error that ends the subcommand with a message and an exit status. */
export class ImgExit extends Error {
  constructor(
    message: string,
    readonly status = 1,
    /** error_exit: adds the `Try '... --help'` hint. */
    readonly hint = false,
  ) {
    super(message);
  }
}

/** error_exit: message plus the --help hint, status 1. */
export function errorExit(message: string): never {
  throw new ImgExit(message, 1, true);
}

/** Prints an ImgExit the way qemu-img does. */
export function reportExit(con: ToolConsole, e: ImgExit): number {
  if (e.message !== '') con.error(e.message);
  if (e.hint) con.errLine(`Try '${con.prog} --help' for more information`);
  return e.status;
}

export interface ImgArgs {
  readonly options: readonly GetoptOption[];
  readonly operands: readonly string[];
}

/** getopt_long with qemu-img's complaints (`unrecognized option '--foo'`, missing argument). */
export function imgGetopt(
  args: readonly string[],
  spec: string,
  longs: Readonly<Record<string, string>> = {},
): ImgArgs {
  const r = getopt(args, spec, longs);
  if (!r.ok) {
    const m = /^(?:invalid option -- '(.)'|unrecognized option '(.*)')$/.exec(r.message);
    if (m) errorExit(`unrecognized option '${m[1] !== undefined ? `-${m[1]}` : m[2]}'`);
    const a = /^(?:option requires an argument -- '(.)'|option '(.*)' requires an argument)$/.exec(r.message);
    if (a) errorExit(`missing argument for option '${a[1] !== undefined ? `-${a[1]}` : a[2]}'`);
    errorExit(r.message);
  }
  return r;
}

/** The value of an option that takes one. */
export function optArg(o: GetoptOption): string {
  return o.value === true ? '' : o.value;
}

/** -t / -T: a cache mode, or error_report("Invalid cache option: ...") exit 1. */
export function cacheOption(mode: string): CacheSetting {
  const c = parseCacheMode(mode);
  if (c === undefined) throw new ImgExit(`Invalid cache option: ${mode}`);
  return c;
}

/** The cache mode qemu-img uses when none is given (BDRV_DEFAULT_CACHE). */
export const DEFAULT_IMG_CACHE: CacheSetting = { direct: false, noFlush: false, writethrough: false };

/** img_open: opens or exits with `Could not open 'NAME': reason`. Warnings go to stderr. */
export async function imgOpen(con: ToolConsole, req: OpenRequest & { filename: string }): Promise<OpenImage> {
  if (req.imageOpts && req.format !== undefined) {
    throw new ImgExit('--image-opts and --format are mutually exclusive');
  }
  try {
    const { image, warnings } = await openImage({ cache: DEFAULT_IMG_CACHE, ...req });
    for (const w of warnings) con.errLine(w);
    return image;
  } catch (e) {
    throw new ImgExit(`Could not open '${req.filename}': ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** `--output=human|json` (qemu-img's OutputFormat). */
export type OutputFormat = 'human' | 'json';

export function outputFormat(value: string): OutputFormat {
  if (value === 'human' || value === 'json') return value;
  errorExit('--output must be used with human or json as argument.');
}
