import { BlockAcctType } from './acct-type.js';

/**
 * What `BlockAcctStats.start()` remembers about one request until it completes
 * (QEMU `BlockAcctCookie`). Request objects embed one and reuse it: `start()` fills it in place,
 * `done()`/`failed()` reset its type to NONE, so a cookie accounted twice counts once.
 */
export class BlockAcctCookie {
  /** Bytes the request transfers (0 for flush). */
  bytes = 0;
  /** Clock time at `start()`, in ns. */
  startTimeNs = 0;
  /** NONE when not started or already accounted. */
  type: BlockAcctType = BlockAcctType.NONE;

  /** Forget a started request without accounting it (the `memset(&req->acct, 0, ...)` of devices). */
  reset(): void {
    this.bytes = 0;
    this.startTimeNs = 0;
    this.type = BlockAcctType.NONE;
  }
}
