/**
 * `vmkit-img create [-f FMT] [-o OPTIONS] FILE SIZE` (qemu-img create). A raw image is a plain
 * host file of SIZE bytes (sparse unless `-o preallocation=full`), created by the file driver.
 */
import { ConfigError } from '@vmkit/core';
import type { BlockGraph } from '@vmkit/block-layer';
import type { ToolConsole } from '../common/console.js';
import { parseSize } from '../common/numbers.js';
import { parseOptionString, type OptionTree } from '../common/options.js';
import { createGraph } from '../image/open.js';
import { ImgExit, errorExit, imgGetopt, optArg } from './common.js';

/** Formats whose images are plain files created by the `file` protocol driver. */
const FILE_BACKED_FORMATS = new Set(['raw', 'file']);

/**
 * bdrv_img_create for the formats vmkit can create: validates the format, prints
 * `Formatting 'FILE', fmt=raw size=N`, creates the file. Throws ImgExit.
 */
export async function createImage(
  con: ToolConsole | null,
  graph: BlockGraph,
  filename: string,
  format: string,
  size: number,
  options: OptionTree = {},
): Promise<void> {
  const drv = graph.driver(format);
  if (drv === undefined) throw new ImgExit(`Unknown file format '${format}'`);
  const creator = FILE_BACKED_FORMATS.has(format) ? graph.driver('file') : drv;
  if (creator?.create === undefined) {
    throw new ImgExit(`${filename}: Format driver '${format}' does not support image creation`);
  }
  for (const k of Object.keys(options)) {
    if (k !== 'size' && k !== 'preallocation') throw new ImgExit(`${format} does not support option '${k}'`);
  }
  const prealloc = typeof options.preallocation === 'string' ? ` preallocation=${options.preallocation}` : '';
  con?.line(`Formatting '${filename}', fmt=${format} size=${size}${prealloc}`);
  try {
    await creator.create({ ...options, filename, size });
  } catch (e) {
    const msg = e instanceof ConfigError ? e.message : String(e);
    throw new ImgExit(`${filename}: ${msg}`);
  }
}

const INVALID_SIZE =
  'Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n' +
  'kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.';

/** Parses an image size with qemu-img's message (two error_report lines). */
export function imageSize(con: ToolConsole, text: string): number {
  const r = parseSize(text);
  if (!r.ok) {
    const [first, second] = INVALID_SIZE.split('\n');
    con.error(first);
    throw new ImgExit(second);
  }
  return r.value;
}

export async function imgCreate(con: ToolConsole, args: readonly string[]): Promise<number> {
  const p = imgGetopt(args, 'hf:o:q', { help: 'h', format: 'f', options: 'o' });
  let format = 'raw';
  let quiet = false;
  let options: OptionTree = {};
  for (const o of p.options) {
    if (o.letter === 'h') {
      con.line('Usage: vmkit-img create [-f FMT] [-o OPTIONS] FILE [SIZE]');
      return 0;
    }
    if (o.letter === 'f') format = optArg(o);
    else if (o.letter === 'q') quiet = true;
    else if (o.letter === 'o') options = { ...options, ...parseOptionString(optArg(o)) };
  }
  if (p.operands.length < 1) errorExit('Expecting image file name');
  if (p.operands.length > 2) errorExit(`Unexpected argument: ${p.operands[2]}`);
  const filename = p.operands[0];
  let size: number;
  if (p.operands.length === 2) size = imageSize(con, p.operands[1]);
  else if (typeof options.size === 'string') size = imageSize(con, options.size);
  else throw new ImgExit(`${filename}: Image creation needs a size parameter`);
  const { size: _ignored, ...rest } = options;
  await createImage(quiet ? null : con, createGraph(), filename, format, size, rest);
  return 0;
}
