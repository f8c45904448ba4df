import { ConfigError } from '../errors.js';
import { batchStarted, requestBatch } from './scheduler.js';

/** QEMUBH: a callback bound to a context, run from the context's event loop when scheduled. */
export interface BottomHalf {
  readonly name: string;
  readonly scheduled: boolean;
  /** qemu_bh_schedule: no-op if already scheduled (a BH scheduled twice before it runs, runs once). */
  schedule(): void;
  /** qemu_bh_cancel. */
  cancel(): void;
  /** qemu_bh_delete: cancel, and schedule() throws afterwards. */
  delete(): void;
}

function noop(): void {}

/** @internal Shared by the queue: the public surface is the BottomHalf interface. */
export class BottomHalfImpl implements BottomHalf {
  scheduled = false;
  /** In the queue's pending array (a cancelled BH stays there until its batch skips it). */
  queued = false;
  deleted = false;

  constructor(
    private readonly queue: BhQueue,
    public callback: () => void,
    readonly name: string,
    readonly oneshot: boolean,
  ) {}

  schedule(): void {
    if (this.scheduled) return;
    if (this.deleted) throw new ConfigError(`bottom half '${this.name}' was deleted and cannot be scheduled`);
    this.scheduled = true;
    // Like aio_bh_enqueue: a BH cancelled and rescheduled before its batch keeps its place.
    if (!this.queued) {
      this.queued = true;
      this.queue.enqueue(this);
    }
  }

  cancel(): void {
    this.scheduled = false;
  }

  delete(): void {
    this.scheduled = false;
    this.deleted = true;
  }
}

/**
 * The BH list of one AioContext. Scheduling is O(1) without allocation; one setImmediate per
 * batch per context, never one per BH. A batch runs the BHs pending when it starts, in
 * scheduling order; BHs scheduled meanwhile go to the next batch (aio_bh_poll's snapshot).
 */
export class BhQueue {
  // Explicit counts: truncating with `length = 0` would free the backing store and make the
  // next batch allocate again.
  private pending: (BottomHalfImpl | undefined)[] = [];
  private pendingCount = 0;
  /** Empty storage reused as the next `pending`; null while lent to a running batch. */
  private spare: (BottomHalfImpl | undefined)[] | null = [];
  private batchRequested = false;
  private readonly oneshotPool: BottomHalfImpl[] = [];

  constructor(
    private readonly name: string,
    /** Called after every batch that ran (waiter re-evaluation). */
    private readonly afterBatch: () => void,
  ) {}

  create(callback: () => void, name: string): BottomHalf {
    return new BottomHalfImpl(this, callback, name, false);
  }

  /** aio_bh_schedule_oneshot, with the BH objects recycled through a pool. */
  scheduleOneshot(callback: () => void): void {
    const bh = this.oneshotPool.pop() ?? new BottomHalfImpl(this, callback, `${this.name}:oneshot`, true);
    bh.callback = callback;
    bh.schedule();
  }

  enqueue(bh: BottomHalfImpl): void {
    this.pending[this.pendingCount++] = bh;
    if (!this.batchRequested) {
      this.batchRequested = true;
      requestBatch(this.onBatchTurn);
    }
  }

  private readonly onBatchTurn = (): void => {
    batchStarted();
    this.batchRequested = false;
    this.runBatch();
  };

  /** Runs the BHs scheduled now; returns how many ran. */
  runBatch(): number {
    const n = this.pendingCount;
    if (n === 0) return 0;
    const batch = this.pending;
    this.pending = this.spare ?? [];
    this.pendingCount = 0;
    this.spare = null;
    let ran = 0;
    let i = 0;
    try {
      for (; i < n; i++) {
        const bh = batch[i]!;
        batch[i] = undefined;
        bh.queued = false;
        if (!bh.scheduled) continue;
        bh.scheduled = false;
        ran++;
        const callback = bh.callback;
        if (bh.oneshot) {
          bh.callback = noop;
          this.oneshotPool.push(bh);
        }
        callback();
      }
    } catch (err) {
      // Keep the BHs after the failing one, ahead of those scheduled during this batch.
      this.requeueFront(batch, i + 1, n);
      throw err;
    } finally {
      this.spare = batch;
      this.afterBatch();
    }
    return ran;
  }

  /** Error path only: puts batch[from, n) back in front of the pending BHs. */
  private requeueFront(batch: (BottomHalfImpl | undefined)[], from: number, n: number): void {
    if (from >= n) return;
    const rest = batch.slice(from, n);
    batch.fill(undefined, from, n);
    const merged = rest.concat(this.pending.slice(0, this.pendingCount));
    this.pending = merged;
    this.pendingCount = merged.length;
    if (!this.batchRequested) {
      this.batchRequested = true;
      requestBatch(this.onBatchTurn);
    }
  }
}
