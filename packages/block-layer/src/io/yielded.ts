/**
 * Fast-path reads and writes whose driver call went asynchronous (the part of
 * bdrv_co_preadv_part / bdrv_co_pwritev_part after the driver yields): tracked on the node until
 * the driver's promise settles. Pooled, with their settle callbacks made once, so a yielded
 * request costs one `then` and no closure or async frame: at depth 16 in a real guest an async
 * frame per write was the largest allocation of the daemon (a third of its heap traffic).
 */
import type { BlockDriverState } from '../node.js';
import { trackedRequestBegin, trackedRequestEnd, type TrackedRequest } from './tracked.js';

/** What a write does when it ends (bdrv_co_write_req_finish), given its result. */
export type YieldedWriteFinish = (bs: BlockDriverState, offset: number, bytes: number, ret: number) => void;

/** Free YieldedRequest objects kept for reuse. */
const POOL_MAX = 4096;
const pool: YieldedRequest[] = [];

class YieldedRequest {
  private bs: BlockDriverState | null = null;
  private req: TrackedRequest | null = null;
  private finish: YieldedWriteFinish | null = null;
  readonly onResult = (ret: number): number => {
    const res = ret < 0 ? ret : 0;
    const finish = this.finish;
    if (finish !== null) {
      const req = this.req!;
      finish(this.bs!, req.offset, req.bytes, res);
    }
    this.end();
    return res;
  };
  readonly onFailure = (error: unknown): never => {
    this.end();
    // Passed on as it came: the I/O path never rejects, a driver that throws has a bug.
    throw error;
  };

  start(
    bs: BlockDriverState,
    offset: number,
    bytes: number,
    type: 'read' | 'write',
    finish: YieldedWriteFinish | null,
  ): void {
    bs.incInFlight();
    this.bs = bs;
    this.finish = finish;
    this.req = trackedRequestBegin(bs, offset, bytes, type);
  }

  private end(): void {
    const bs = this.bs!;
    trackedRequestEnd(this.req!);
    this.bs = null;
    this.req = null;
    this.finish = null;
    bs.decInFlight();
    if (pool.length < POOL_MAX) pool.push(this);
  }
}

/**
 * Tracks a request whose driver call went asynchronous. The result is 0 or the negative errno;
 * a write's `finish` runs first, while the request is still tracked.
 */
export function trackYielded(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  type: 'read' | 'write',
  pending: Promise<number>,
  finish: YieldedWriteFinish | null = null,
): Promise<number> {
  const t = pool.pop() ?? new YieldedRequest();
  t.start(bs, offset, bytes, type, finish);
  return pending.then(t.onResult, t.onFailure);
}
