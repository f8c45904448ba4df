/**
 * Flush (block/io.c bdrv_co_flush): write/flush generations, one active flush per node, cache
 * modes, then the children the node writes to.
 */
import { Errno } from '@vmkit/core';
import { Perm } from '../constants.js';
import type { BlockDriverState } from '../node.js';
import { nodeOf, type IoTarget } from './check.js';

function waitTurn(bs: BlockDriverState): Promise<void> {
  return new Promise<void>((resolve) => bs.flushQueue.push(resolve));
}

/** bdrv_co_flush: 0 or a negative errno. Read-only and deleted nodes succeed at once. */
export async function bdrvFlush(target: IoTarget): Promise<number> {
  const bs = nodeOf(target);
  if (bs === null || bs.deleted || bs.readOnly) return 0;
  bs.incInFlight();
  let ret: number;
  try {
    const currentGen = bs.writeGen;
    while (bs.activeFlush) await waitTurn(bs);
    bs.activeFlush = true;
    try {
      ret = await flushLocked(bs, currentGen);
      if (ret === 0) bs.flushedGen = currentGen;
    } finally {
      bs.activeFlush = false;
      bs.flushQueue.shift()?.();
    }
  } finally {
    bs.decInFlight();
  }
  return ret;
}

async function flushLocked(bs: BlockDriverState, currentGen: number): Promise<number> {
  const drv = bs.driver;
  if (drv.flush) {
    // The driver flushes the whole stack below itself.
    const r = await drv.flush(bs);
    return r < 0 ? r : 0;
  }
  const primary = (bs.primary ?? bs.file)?.bs ?? null;
  {
    const ev = primary?.debugEvent('flush_to_os');
    if (ev) await ev;
  }
  if (drv.flushToOs) {
    const r = await drv.flushToOs(bs);
    if (r < 0) return r;
  }
  if (!bs.openFlags.cache.noFlush && bs.flushedGen !== currentGen) {
    {
      const ev = primary?.debugEvent('flush_to_disk');
      if (ev) await ev;
    }
    if (bs.deleted) return -Errno.ENOMEDIUM;
    if (drv.flushToDisk) {
      const r = await drv.flushToDisk(bs);
      if (r < 0) return r;
    }
  }
  let ret = 0;
  for (const c of bs.children.slice()) {
    if (c.bs !== null && c.perm & (Perm.WRITE | Perm.WRITE_UNCHANGED)) {
      const r = await bdrvFlush(c.bs);
      if (ret === 0) ret = r;
    }
  }
  return ret;
}
