/**
 * The user-facing I/O methods of a BlockBackendIoApi: errors become BlockError exceptions
 * (`read failed: Input/output error`), and each request is accounted in the BlockBackendIoApi's stats
 * the way qemu-io's aio_* commands account theirs (done or failed; the device-facing co/aio
 * methods leave accounting to their callers).
 */
import { BlockError, Errno, IOVector, strerror } from '@vmkit/core';
import type { RequestFlagsMask } from '../constants.js';
import { BlockAcctCookie } from '../accounting/cookie.js';
import { BlockAcctType } from '../accounting/acct-type.js';
import type { TruncateOptions } from '../io/truncate.js';
import type { BlockBackendIoApi } from './io-api.js';

function fail(what: string, ret: number): BlockError {
  return new BlockError(-ret, `${what}: ${strerror(ret)}`);
}

async function accounted(
  blk: BlockBackendIoApi,
  what: string,
  run: Promise<number>,
  cookie: BlockAcctCookie,
): Promise<void> {
  const ret = await run;
  if (ret < 0) {
    blk.stats.failed(cookie);
    throw fail(what, ret);
  }
  blk.stats.done(cookie);
}

function started(blk: BlockBackendIoApi, bytes: number, type: BlockAcctType): BlockAcctCookie {
  const cookie = new BlockAcctCookie();
  blk.stats.start(cookie, bytes, type);
  return cookie;
}

function validLength(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

export async function read(blk: BlockBackendIoApi, offset: number, length: number): Promise<Uint8Array> {
  if (!validLength(length)) throw fail('read failed', -Errno.EIO);
  const buf = new Uint8Array(length);
  const cookie = started(blk, length, BlockAcctType.READ);
  await accounted(blk, 'read failed', blk.coPreadv(offset, length, IOVector.fromBuffer(buf)), cookie);
  return buf;
}

export async function write(
  blk: BlockBackendIoApi,
  offset: number,
  data: Uint8Array,
  flags: RequestFlagsMask,
): Promise<void> {
  const cookie = started(blk, data.length, BlockAcctType.WRITE);
  const run = blk.coPwritev(offset, data.length, IOVector.fromBuffer(data), flags);
  await accounted(blk, 'write failed', run, cookie);
}

export async function writeZeroes(
  blk: BlockBackendIoApi,
  offset: number,
  bytes: number,
  flags: RequestFlagsMask,
): Promise<void> {
  const cookie = started(blk, bytes, BlockAcctType.WRITE);
  await accounted(blk, 'write zeroes failed', blk.coPwriteZeroes(offset, bytes, flags), cookie);
}

export async function discard(blk: BlockBackendIoApi, offset: number, bytes: number): Promise<void> {
  const cookie = started(blk, bytes, BlockAcctType.UNMAP);
  await accounted(blk, 'discard failed', blk.coPdiscard(offset, bytes), cookie);
}

export async function flush(blk: BlockBackendIoApi): Promise<void> {
  const cookie = started(blk, 0, BlockAcctType.FLUSH);
  await accounted(blk, 'flush failed', blk.coFlush(), cookie);
}

export async function truncate(blk: BlockBackendIoApi, size: number, opts: TruncateOptions): Promise<void> {
  const ret = await blk.coTruncate(size, opts);
  if (ret < 0) throw fail('truncate failed', ret);
}

export async function getLength(blk: BlockBackendIoApi): Promise<number> {
  const ret = await blk.coGetLength();
  if (ret < 0) throw fail('getlength failed', ret);
  return ret;
}
