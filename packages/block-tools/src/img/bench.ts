/**
 * `vmkit-img bench [-c COUNT] [-d DEPTH] [-f FMT | --image-opts] [-n] [-o OFFSET] [-q] [-s SIZE]
 * [-S STEP] [-t CACHE] [-w [--pattern=N] [--flush-interval=N [--no-drain]]] [-U] FILE`
 * (qemu-img bench). This is the command line only: the benchmark itself is block-layer's engine
 * (`runBench`), looked up at run time so that this command works as soon as block-layer exports
 * it, without vmkit-img keeping a second engine.
 */
import { BENCH_DEFAULTS, runBench, type BenchOptions } from '@vmkit/block-layer';
import { strerror } from '@vmkit/core';
import type { ToolConsole } from '../common/console.js';
import { fixed, parseSize } from '../common/numbers.js';
import { parseCInteger } from '../io/command.js';
import { parseAioMode, type AioMode } from '../image/open.js';
import {
  cacheOption,
  DEFAULT_IMG_CACHE,
  errorExit,
  ImgExit,
  imgGetopt,
  imgOpen,
  optArg,
  outputFormat,
  type OutputFormat,
} from './common.js';

/** What vmkit-img passes to block-layer's bench engine (accounting stays off, as in qemu-img). */
type BenchRequest = Omit<BenchOptions, 'account'>;

function positive(text: string, what: string): number {
  const v = parseCInteger(text);
  if (v === null || v <= 0 || v > 0x7fffffff) throw new ImgExit(`Invalid ${what} specified`);
  return v;
}

function size(text: string, what: string): number {
  const r = parseSize(text);
  if (!r.ok || r.value > 0x7fffffff) throw new ImgExit(`Invalid ${what} specified`);
  return r.value;
}

export async function imgBench(con: ToolConsole, args: readonly string[]): Promise<number> {
  const p = imgGetopt(args, 'hc:d:f:i:no:qs:S:t:wU', {
    help: 'h',
    output: 'output:',
    'flush-interval': 'flush-interval:',
    'image-opts': 'image-opts',
    pattern: 'pattern:',
    'no-drain': 'no-drain',
    'force-share': 'U',
  });
  // qemu-img bench's defaults are the engine's (75000 requests of 4 KiB, 64 in parallel).
  const req: BenchRequest = { ...BENCH_DEFAULTS };
  let format: string | undefined;
  let imageOpts = false;
  let quiet = false;
  let forceShare = false;
  let cache = DEFAULT_IMG_CACHE;
  let aio: AioMode | undefined;
  let output: OutputFormat = 'human';
  for (const o of p.options) {
    const arg = optArg(o);
    switch (o.letter) {
      case 'h':
        con.line(
          'Usage: vmkit-img bench [-c COUNT] [-d DEPTH] [-f FMT] [-i AIO] [-n] [-o OFFSET] [-q] [-s SIZE] [-S STEP] [-t CACHE] [-w] [--output=json] FILE',
        );
        return 0;
      case 'c':
        req.count = positive(arg, 'request count');
        break;
      case 'd':
        req.depth = positive(arg, 'queue depth');
        break;
      case 'f':
        format = arg;
        break;
      case 'i':
        aio = parseAioMode(arg);
        if (aio === undefined) throw new ImgExit(`Invalid aio option: ${arg}`);
        break;
      case 'output':
        output = outputFormat(arg);
        break;
      case 'n':
        cache = cacheOption('none');
        break;
      case 'o':
        req.offset = size(arg, 'offset');
        break;
      case 'q':
        quiet = true;
        break;
      case 's':
        req.bufsize = size(arg, 'buffer size');
        if (req.bufsize === 0) throw new ImgExit('Invalid buffer size specified');
        break;
      case 'S':
        req.step = size(arg, 'step size');
        break;
      case 't':
        cache = cacheOption(arg);
        break;
      case 'w':
        req.write = true;
        break;
      case 'U':
        forceShare = true;
        break;
      case 'pattern': {
        const v = parseCInteger(arg);
        if (v === null || v < 0 || v > 0xff) throw new ImgExit('Invalid pattern byte specified');
        req.pattern = v;
        break;
      }
      case 'flush-interval':
        req.flushInterval = positive(arg, 'flush interval');
        break;
      case 'no-drain':
        req.drainOnFlush = false;
        break;
      case 'image-opts':
        imageOpts = true;
        break;
    }
  }
  if (p.operands.length !== 1) errorExit('Expecting one image file name');
  if (req.flushInterval && !req.write) throw new ImgExit('--flush-interval is only available in write tests');
  if (!req.drainOnFlush && !req.flushInterval) throw new ImgExit('--no-drain requires a flush interval');
  if (aio === 'native' && !cache.direct)
    throw new ImgExit('aio=native was specified, but it requires cache.direct=on');
  const image = await imgOpen(con, {
    filename: p.operands[0],
    format,
    imageOpts,
    readOnly: !req.write,
    forceShare,
    cache,
    aio,
  });
  try {
    if (!quiet && output === 'human') {
      con.line(
        `Sending ${req.count} ${req.write ? 'write' : 'read'} requests, ${req.bufsize} bytes each, ` +
          `${req.depth} in parallel (starting at offset ${req.offset}, step size ${req.step || req.bufsize})`,
      );
      if (req.flushInterval) con.line(`Sending flush every ${req.flushInterval} requests`);
    }
    const r = await runBench(image.blk, req);
    if (r.error < 0) throw new ImgExit(`Failed request: ${strerror(r.error)}`);
    if (output === 'json') {
      const { count, depth, size, write, offset, step, seconds } = r;
      con.line(
        JSON.stringify({ count, depth, size, write, offset, step, seconds, iops: r.iops, mibps: r.mibps }),
      );
    } else if (!quiet) con.line(`Run completed in ${fixed(r.seconds, 3)} seconds.`);
    return 0;
  } finally {
    await image.close();
  }
}
