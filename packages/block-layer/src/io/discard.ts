/**
 * Discard (block/io.c bdrv_co_pdiscard): advisory; a no-op unless discard=unmap; fragmented at
 * the discard alignment and max_pdiscard; -ENOTSUP and -EINVAL on unaligned pieces ignored.
 */
import { Errno } from '@vmkit/core';
import { minNonZero, discardAlignment } from '../limits.js';
import { alignDown, checkQiovRequest, nodeOf, type IoTarget } from './check.js';
import { trackedRequestBegin, trackedRequestEnd } from './tracked.js';
import { writePermitted, writeReqFinish, writeReqPrepare } from './write.js';

/** bdrv_co_pdiscard: 0 or a negative errno. */
export async function bdrvPdiscard(target: IoTarget, offset: number, bytes: number): Promise<number> {
  const bs = nodeOf(target);
  if (bs === null || bs.deleted) return -Errno.ENOMEDIUM;
  const check = checkQiovRequest(offset, bytes);
  if (check < 0) return check;
  if (bs.openFlags.discard !== 'unmap') return 0;
  const drv = bs.driver;
  if (!drv.pdiscard) return 0;
  if (!writePermitted(target, bs, 0)) return -Errno.EPERM;
  const bl = bs.limits;
  const reqAlign = bl.requestAlignment;
  const align = discardAlignment(bl);
  let head = offset % align;
  let tail = (offset + bytes) % align;
  bs.incInFlight();
  const req = trackedRequestBegin(bs, offset, bytes, 'discard');
  let ret = 0;
  try {
    ret = await writeReqPrepare(req, 0);
    if (ret < 0) return ret;
    const maxPdiscard = alignDown(minNonZero(bl.maxPdiscard, Number.MAX_SAFE_INTEGER), align);
    while (bytes > 0) {
      let num = bytes;
      if (head) {
        // Small requests up to the alignment boundary.
        num = Math.min(bytes, align - head);
        if (num % reqAlign !== 0) num %= reqAlign;
        head = (head + num) % align;
      } else if (tail) {
        if (num > align) {
          num -= tail;
        } else if (tail % reqAlign !== 0 && tail > reqAlign) {
          tail %= reqAlign;
          num -= tail;
        }
      }
      if (num > maxPdiscard) num = maxPdiscard;
      if (num <= 0) {
        ret = -Errno.EINVAL; // inconsistent limits (QEMU asserts)
        return ret;
      }
      if (bs.deleted) {
        ret = -Errno.ENOMEDIUM;
        return ret;
      }
      ret = await drv.pdiscard(bs, offset, num);
      if (ret && ret !== -Errno.ENOTSUP) {
        // Unaligned head/tail pieces the driver rejects are skipped silently.
        if (!(ret === -Errno.EINVAL && (offset % align !== 0 || num % align !== 0))) return ret;
      }
      offset += num;
      bytes -= num;
    }
    ret = 0;
    return ret;
  } finally {
    writeReqFinish(bs, req.offset, req.bytes, 'discard', ret);
    trackedRequestEnd(req);
    bs.decInFlight();
  }
}
