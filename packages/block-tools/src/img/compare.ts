/**
 * `vmkit-img compare [-f FMT] [-F FMT] [-T CACHE] [-p] [-q] [-s] [-U] [--image-opts] A B`
 * (qemu-img compare). Exit status: 0 identical, 1 different (`Content mismatch at offset N!`,
 * N being the start of the first differing 512-byte sector, as QEMU reports it), 2 on error.
 * Without -s, images of different sizes are identical when the extra part of the larger one
 * reads as zeroes.
 */
import { IOVector, strerror } from '@vmkit/core';
import { BDRV_SECTOR_SIZE, BlockStatus, bdrvBlockStatusAbove } from '@vmkit/block-layer';
import type { ToolConsole } from '../common/console.js';
import type { OpenImage } from '../image/open.js';
import { cacheOption, errorExit, ImgExit, imgGetopt, imgOpen, optArg } from './common.js';
import { Progress } from './progress.js';

const CHUNK = 2 * 1024 * 1024;
const STATUS_MASK = BlockStatus.ALLOCATED | BlockStatus.ZERO | BlockStatus.DATA;

/** Index of the first byte where a and b differ in [0, len), or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array | null, len: number): number {
  for (let i = 0; i < len; i++) if (a[i] !== (b === null ? 0 : b[i])) return i;
  return -1;
}

function mismatch(con: ToolConsole, quiet: boolean, offset: number): number {
  if (!quiet) con.line(`Content mismatch at offset ${offset - (offset % BDRV_SECTOR_SIZE)}!`);
  return 1;
}

async function readInto(img: OpenImage, name: string, offset: number, buf: Uint8Array): Promise<void> {
  const ret = await img.blk.coPreadv(offset, buf.length, IOVector.fromBuffer(buf));
  if (ret < 0) throw new ImgExit(`Error while reading offset ${offset} of ${name}: ${strerror(ret)}`, 2);
}

async function statusAt(
  img: OpenImage,
  name: string,
  offset: number,
  bytes: number,
): Promise<{ status: number; pnum: number }> {
  const r = await bdrvBlockStatusAbove(img.bs, null, true, true, offset, bytes);
  if (r.status < 0) {
    throw new ImgExit(`Sector allocation test failed for ${name}: ${strerror(r.status)}`, 2);
  }
  return { status: r.status & STATUS_MASK, pnum: r.pnum > 0 ? Math.min(r.pnum, bytes) : bytes };
}

export async function imgCompare(con: ToolConsole, args: readonly string[], tty: boolean): Promise<number> {
  let p;
  try {
    p = imgGetopt(args, 'hf:F:T:pqsU', { help: 'h', 'force-share': 'U', 'image-opts': 'image-opts' });
  } catch (e) {
    if (e instanceof ImgExit) throw new ImgExit(e.message, 2, e.hint);
    throw e;
  }
  let fmt1: string | undefined;
  let fmt2: string | undefined;
  let cache = cacheOption('writeback');
  let progress = false;
  let quiet = false;
  let strict = false;
  let forceShare = false;
  let imageOpts = false;
  for (const o of p.options) {
    const arg = optArg(o);
    if (o.letter === 'h') {
      con.line('Usage: vmkit-img compare [-f FMT] [-F FMT] [-T CACHE] [-p] [-q] [-s] [-U] A B');
      return 0;
    } else if (o.letter === 'f') fmt1 = arg;
    else if (o.letter === 'F') fmt2 = arg;
    else if (o.letter === 'T') cache = cacheOption(arg);
    else if (o.letter === 'p') progress = true;
    else if (o.letter === 'q') quiet = true;
    else if (o.letter === 's') strict = true;
    else if (o.letter === 'U') forceShare = true;
    else if (o.letter === 'image-opts') imageOpts = true;
  }
  if (p.operands.length !== 2) {
    try {
      errorExit('Expecting two image file names');
    } catch (e) {
      throw new ImgExit((e as ImgExit).message, 2, true);
    }
  }
  const [name1, name2] = p.operands;
  // -f alone names both formats (qemu-img compare: fmt2 defaults to fmt1).
  fmt2 ??= fmt1;
  const bar = new Progress((t) => con.write(t), progress && !quiet, tty);
  let img1: OpenImage | null = null;
  let img2: OpenImage | null = null;
  const open = async (filename: string, format: string | undefined): Promise<OpenImage> => {
    try {
      return await imgOpen(con, { filename, format, imageOpts, readOnly: true, forceShare, cache });
    } catch (e) {
      if (e instanceof ImgExit) throw new ImgExit(e.message, 2);
      throw e;
    }
  };
  try {
    img1 = await open(name1, fmt1);
    img2 = await open(name2, fmt2);
    const size1 = await img1.blk.coGetLength();
    const size2 = await img2.blk.coGetLength();
    if (size1 < 0 || size2 < 0) {
      const [n, r] = size1 < 0 ? [name1, size1] : [name2, size2];
      throw new ImgExit(`Can't get size of ${n}: ${strerror(r)}`, 2);
    }
    if (size1 !== size2 && strict) {
      if (!quiet) con.line('Strict mode: Image size mismatch!');
      return 1;
    }
    const common = Math.min(size1, size2);
    const total = Math.max(size1, size2);
    const buf1 = new Uint8Array(CHUNK);
    const buf2 = new Uint8Array(CHUNK);
    bar.update(0);
    for (let offset = 0; offset < common;) {
      const want = Math.min(CHUNK, common - offset);
      const s1 = await statusAt(img1, name1, offset, want);
      const s2 = await statusAt(img2, name2, offset, want);
      const n = Math.min(s1.pnum, s2.pnum);
      if (strict && s1.status !== s2.status) {
        if (!quiet) con.line(`Strict mode: Offset ${offset} block status mismatch!`);
        return 1;
      }
      const zero1 = (s1.status & BlockStatus.ZERO) !== 0;
      const zero2 = (s2.status & BlockStatus.ZERO) !== 0;
      if (!(zero1 && zero2)) {
        const a = buf1.subarray(0, n);
        const b = buf2.subarray(0, n);
        if (!zero1) await readInto(img1, name1, offset, a);
        if (!zero2) await readInto(img2, name2, offset, b);
        const i = firstDifference(zero1 ? b : a, zero1 || zero2 ? null : b, n);
        if (i >= 0) return mismatch(con, quiet, offset + i);
      }
      offset += n;
      bar.update(offset / total);
    }
    if (size1 !== size2) {
      if (!quiet) con.line('Warning: Image size mismatch!');
      const [big, bigName] = size1 > size2 ? [img1, name1] : [img2, name2];
      for (let offset = common; offset < total;) {
        const want = Math.min(CHUNK, total - offset);
        const s = await statusAt(big, bigName, offset, want);
        if (!(s.status & BlockStatus.ZERO)) {
          const a = buf1.subarray(0, s.pnum);
          await readInto(big, bigName, offset, a);
          const i = firstDifference(a, null, s.pnum);
          if (i >= 0) return mismatch(con, quiet, offset + i);
        }
        offset += s.pnum;
        bar.update(offset / total);
      }
    }
    bar.update(1);
    if (!quiet) con.line('Images are identical.');
    return 0;
  } finally {
    bar.end();
    await img2?.close();
    await img1?.close();
  }
}
