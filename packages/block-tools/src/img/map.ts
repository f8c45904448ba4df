/**
 * `vmkit-img map [-f FMT | --image-opts] [--output=human|json] [--start-offset=N]
 * [--max-length=N] [-U] FILE` (qemu-img map): the block status of the image in extents, merged
 * while their attributes match. The human form lists the data extents with where they are mapped;
 * JSON lists every extent (QEMU 7 field set).
 */
import { strerror } from '@vmkit/core';
import { BlockStatus, bdrvBlockStatus, nodeFilename, type BlockDriverState } from '@vmkit/block-layer';
import type { ToolConsole } from '../common/console.js';
import { parseSize } from '../common/numbers.js';
import { errorExit, ImgExit, imgGetopt, imgOpen, optArg, outputFormat, type OutputFormat } from './common.js';

export interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
  present: boolean;
  depth: number;
  /** Offset in `filename` when known (OFFSET_VALID). */
  offset: number | null;
  filename: string | null;
}

/** bdrv_skip_filters: the first node below `bs` that is not a filter. */
function skipFilters(bs: BlockDriverState): BlockDriverState {
  let n = bs;
  while (n.driver.kind === 'filter' && n.filtered?.bs) n = n.filtered.bs;
  return n;
}

/** get_block_status: status of one extent, looking down the backing chain until allocated. */
export async function blockStatusEntry(
  top: BlockDriverState,
  offset: number,
  bytes: number,
): Promise<MapEntry> {
  let depth = 0;
  let bs: BlockDriverState | null = top;
  let status = 0;
  let pnum = bytes;
  let map = 0;
  let file: BlockDriverState | null = null;
  while (bs !== null) {
    bs = skipFilters(bs);
    const r = await bdrvBlockStatus(bs, true, offset, bytes);
    if (r.status < 0) throw new ImgExit(`Could not read file metadata: ${strerror(r.status)}`);
    status = r.status;
    pnum = r.pnum;
    map = r.map;
    file = r.file;
    if (status & (BlockStatus.ZERO | BlockStatus.DATA)) break;
    bs = bs.cow?.bs ?? null;
    if (bs === null) {
      status = 0;
      break;
    }
    depth++;
  }
  const hasOffset = (status & BlockStatus.OFFSET_VALID) !== 0;
  return {
    start: offset,
    length: pnum,
    data: (status & BlockStatus.DATA) !== 0,
    zero: (status & BlockStatus.ZERO) !== 0,
    present: (status & BlockStatus.ALLOCATED) !== 0,
    depth,
    offset: hasOffset ? map : null,
    filename: hasOffset && file !== null ? nodeFilename(file) : null,
  };
}

/** entry_mergeable: `next` continues `cur` with the same attributes. */
function mergeable(cur: MapEntry, next: MapEntry): boolean {
  if (cur.data !== next.data || cur.zero !== next.zero || cur.depth !== next.depth) return false;
  if (cur.present !== next.present || cur.filename !== next.filename) return false;
  if ((cur.offset === null) !== (next.offset === null)) return false;
  return cur.offset === null || cur.offset + cur.length === next.offset;
}

function hexAlt(n: number): string {
  // printf %#-15llx: 0 prints as "0", others with 0x.
  return (n === 0 ? '0' : `0x${n.toString(16)}`).padEnd(15);
}

function dumpHuman(con: ToolConsole, e: MapEntry): void {
  if (!e.data) return;
  if (e.offset === null) throw new ImgExit('File contains external, encrypted or compressed clusters.');
  con.line(`${hexAlt(e.start)} ${hexAlt(e.length)} ${hexAlt(e.offset)} ${e.filename ?? ''}`);
}

function jsonEntry(e: MapEntry): string {
  const off = e.offset !== null ? `, "offset": ${e.offset}` : '';
  return (
    `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, ` +
    `"zero": ${e.zero}, "data": ${e.data}${off}}`
  );
}

function sizeArg(name: string, text: string): number {
  const r = parseSize(text);
  if (!r.ok) errorExit(`Invalid ${name} specified! You may use k, M, G, T, P or E suffixes for `);
  return r.value;
}

export async function imgMap(con: ToolConsole, args: readonly string[]): Promise<number> {
  const p = imgGetopt(args, 'hf:s:l:U', {
    help: 'h',
    format: 'f',
    'force-share': 'U',
    output: 'output:',
    'image-opts': 'image-opts',
    'start-offset': 's',
    'max-length': 'l',
  });
  let format: string | undefined;
  let output: OutputFormat = 'human';
  let imageOpts = false;
  let forceShare = false;
  let start = 0;
  let maxLength = Number.MAX_SAFE_INTEGER;
  for (const o of p.options) {
    if (o.letter === 'h') {
      con.line('Usage: vmkit-img map [-f FMT | --image-opts] [--output=human|json] [-U] FILE');
      return 0;
    }
    if (o.letter === 'f') format = optArg(o);
    else if (o.letter === 'U') forceShare = true;
    else if (o.letter === 'output') output = outputFormat(optArg(o));
    else if (o.letter === 'image-opts') imageOpts = true;
    else if (o.letter === 's') start = sizeArg('start offset', optArg(o));
    else if (o.letter === 'l') maxLength = sizeArg('max length', optArg(o));
  }
  if (p.operands.length !== 1) errorExit('Expecting one image file name');
  const image = await imgOpen(con, {
    filename: p.operands[0],
    format,
    imageOpts,
    readOnly: true,
    forceShare,
  });
  try {
    const length = await image.blk.coGetLength();
    if (length < 0) throw new ImgExit(`Failed to get size for '${p.operands[0]}'`);
    const end = Math.min(length, start + maxLength);
    const json: string[] = [];
    if (output === 'human')
      con.line(`${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File`);
    let cur: MapEntry | null = null;
    const flush = (e: MapEntry): void => {
      if (output === 'human') dumpHuman(con, e);
      else json.push(jsonEntry(e));
    };
    for (let offset = start; offset < end;) {
      // Ask at most 1 GiB at a time, like qemu-img's loop.
      const next = await blockStatusEntry(image.bs, offset, Math.min(2 ** 30, end - offset));
      if (next.length === 0) throw new ImgExit('Unexpected end of image');
      if (cur !== null && mergeable(cur, next)) cur.length += next.length;
      else {
        if (cur !== null) flush(cur);
        cur = next;
      }
      offset += next.length;
    }
    if (cur !== null) flush(cur);
    if (output === 'json') con.line(`[${json.join(',\n')}]`);
    return 0;
  } finally {
    await image.close();
  }
}
