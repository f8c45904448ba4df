/**
 * `vmkit-img convert [-p] [-q] [-n] [-f FMT] [-O FMT] [-t CACHE] [-T SRC_CACHE] [-S SPARSE]
 * [-U] [--image-opts] [--target-image-opts] SRC DST` (qemu-img convert).
 *
 * The source is copied in 2 MiB chunks. Ranges the source reports as zero (block status) are not
 * read; read data is scanned in SPARSE-sized blocks (default 4 KiB, `-S 0` disables it) and
 * all-zero blocks are not written: holes stay holes in a freshly created target. With `-n` the
 * target already exists and may hold data, so zero ranges are written as zeroes (with unmap).
 */
import { IOVector, strerror } from '@vmkit/core';
import { BlockStatus, bdrvBlockStatusAbove, RequestFlags, type BlockBackend } from '@vmkit/block-layer';
import type { ToolConsole } from '../common/console.js';
import { parseSize } from '../common/numbers.js';
import { createGraph, type OpenImage } from '../image/open.js';
import { cacheOption, errorExit, ImgExit, imgGetopt, imgOpen, optArg } from './common.js';
import { createImage } from './create.js';
import { Progress } from './progress.js';

const CHUNK = 2 * 1024 * 1024;
const DEFAULT_SPARSE = 4096;
const MAX_SPARSE = 16 * 1024 * 1024;

/** Whether buf[from, from + len) is all zero bytes. */
function isZero(buf: Uint8Array, from: number, len: number): boolean {
  for (let i = from; i < from + len; i++) if (buf[i] !== 0) return false;
  return true;
}

interface CopyState {
  readonly src: OpenImage;
  readonly dst: BlockBackend;
  /** The target reads as zeroes where nothing is written (a new image). */
  readonly zeroInit: boolean;
  readonly sparse: number;
  readonly buf: Uint8Array;
}

async function writeZeroRange(st: CopyState, offset: number, len: number): Promise<void> {
  if (len === 0 || st.zeroInit) return;
  const ret = await st.dst.coPwriteZeroes(offset, len, RequestFlags.MAY_UNMAP);
  if (ret < 0) throw new ImgExit(`error while writing at byte ${offset}: ${strerror(ret)}`);
}

async function writeData(st: CopyState, offset: number, from: number, len: number): Promise<void> {
  if (len === 0) return;
  const ret = await st.dst.coPwritev(offset, len, IOVector.fromBuffer(st.buf.subarray(from, from + len)));
  if (ret < 0) throw new ImgExit(`error while writing at byte ${offset}: ${strerror(ret)}`);
}

/** Copies [offset, offset + len) of read data, skipping or zeroing the all-zero sparse blocks. */
async function copyData(st: CopyState, offset: number, len: number): Promise<void> {
  const ret = await st.src.blk.coPreadv(offset, len, IOVector.fromBuffer(st.buf.subarray(0, len)));
  if (ret < 0) throw new ImgExit(`error while reading at byte ${offset}: ${strerror(ret)}`);
  if (st.sparse === 0) return writeData(st, offset, 0, len);
  let runStart = 0;
  let runZero = false;
  for (let pos = 0; pos < len;) {
    const n = Math.min(st.sparse - ((offset + pos) % st.sparse), len - pos);
    const zero = isZero(st.buf, pos, n);
    if (pos === 0) runZero = zero;
    else if (zero !== runZero) {
      if (runZero) await writeZeroRange(st, offset + runStart, pos - runStart);
      else await writeData(st, offset + runStart, runStart, pos - runStart);
      runStart = pos;
      runZero = zero;
    }
    pos += n;
  }
  if (runZero) await writeZeroRange(st, offset + runStart, len - runStart);
  else await writeData(st, offset + runStart, runStart, len - runStart);
}

/** The copy loop; `report(done)` after each extent. */
async function copyImage(st: CopyState, size: number, report: (done: number) => void): Promise<void> {
  for (let offset = 0; offset < size;) {
    const want = Math.min(CHUNK, size - offset);
    const bs = await bdrvBlockStatusAbove(st.src.bs, null, true, true, offset, want);
    if (bs.status < 0)
      throw new ImgExit(`error while reading block status at offset ${offset}: ${strerror(bs.status)}`);
    const n = bs.pnum > 0 ? Math.min(bs.pnum, want) : want;
    const zero = bs.status & BlockStatus.ZERO || !(bs.status & (BlockStatus.ALLOCATED | BlockStatus.DATA));
    if (zero && st.sparse !== 0) await writeZeroRange(st, offset, n);
    else await copyData(st, offset, n);
    offset += n;
    report(offset);
  }
}

export async function imgConvert(con: ToolConsole, args: readonly string[], tty: boolean): Promise<number> {
  const p = imgGetopt(args, 'hf:O:t:T:S:pqnU', {
    help: 'h',
    'force-share': 'U',
    'image-opts': 'image-opts',
    'target-image-opts': 'target-image-opts',
  });
  let srcFormat: string | undefined;
  let outFormat = 'raw';
  let srcCache = cacheOption('writeback');
  let dstCache = cacheOption('unsafe');
  let sparse = DEFAULT_SPARSE;
  let progress = false;
  let quiet = false;
  let noCreate = false;
  let forceShare = false;
  let imageOpts = false;
  let targetImageOpts = false;
  for (const o of p.options) {
    const arg = optArg(o);
    switch (o.letter) {
      case 'h':
        con.line(
          'Usage: vmkit-img convert [-p] [-q] [-n] [-f FMT] [-O FMT] [-t CACHE] [-T SRC_CACHE] [-S SIZE] SRC DST',
        );
        return 0;
      case 'f':
        srcFormat = arg;
        break;
      case 'O':
        outFormat = arg;
        break;
      case 't':
        dstCache = cacheOption(arg);
        break;
      case 'T':
        srcCache = cacheOption(arg);
        break;
      case 'S': {
        const r = parseSize(arg);
        if (!r.ok || r.value % 512 !== 0 || r.value > MAX_SPARSE) {
          throw new ImgExit(
            'Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16M.',
          );
        }
        sparse = r.value;
        break;
      }
      case 'p':
        progress = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'n':
        noCreate = true;
        break;
      case 'U':
        forceShare = true;
        break;
      case 'image-opts':
        imageOpts = true;
        break;
      case 'target-image-opts':
        targetImageOpts = true;
        break;
    }
  }
  if (p.operands.length < 2) errorExit('Expecting at least two image file names');
  if (p.operands.length > 2) errorExit('Converting several images into one is not supported by vmkit-img');
  if (targetImageOpts && !noCreate) errorExit('--target-image-opts requires use of -n flag');
  const [srcName, dstName] = p.operands;
  const bar = new Progress((t) => con.write(t), progress && !quiet, tty);
  bar.update(0);
  let src: OpenImage | null = null;
  let dst: OpenImage | null = null;
  try {
    src = await imgOpen(con, {
      filename: srcName,
      format: srcFormat,
      imageOpts,
      readOnly: true,
      forceShare,
      cache: srcCache,
    });
    const size = await src.blk.coGetLength();
    if (size < 0) throw new ImgExit(`Could not get size of '${srcName}': ${strerror(size)}`);
    if (!noCreate) await createImage(null, createGraph(), dstName, outFormat, size);
    dst = await imgOpen(con, {
      filename: dstName,
      format: targetImageOpts ? undefined : outFormat,
      imageOpts: targetImageOpts,
      cache: dstCache,
      discard: 'unmap',
    });
    const dstSize = await dst.blk.coGetLength();
    if (dstSize >= 0 && dstSize < size) throw new ImgExit('Target image is smaller than the source');
    const st: CopyState = { src, dst: dst.blk, zeroInit: !noCreate, sparse, buf: new Uint8Array(CHUNK) };
    await copyImage(st, size, (done) => bar.update(size === 0 ? 1 : done / size));
    const ret = await dst.blk.coFlush();
    if (ret < 0) throw new ImgExit(`error while flushing the target: ${strerror(ret)}`);
    bar.update(1);
    return 0;
  } finally {
    bar.end();
    await dst?.close();
    await src?.close();
  }
}
