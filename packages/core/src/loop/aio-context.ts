import type { Clock, ClockTimer } from './clock.js';
import { BhQueue, type BottomHalf } from './bottom-half.js';
import { DeferCallQueue } from './defer-call.js';
import { hostClock } from './host-clock.js';
import { kickWaiters, WaitList } from './aio-wait.js';

export interface AioContextOptions {
  /** Defaults to 'main'. */
  name?: string;
  /** Defaults to the process-wide HostClock. */
  clock?: Clock;
}

/**
 * QEMU's AioContext, on the JS event loop: bottom halves, timers on an injected clock, AioWait
 * waiters and deferred calls. Several contexts share one JS thread; the interfaces keep state
 * per context so an IOThread could later move to a worker_thread.
 */
export class AioContext {
  readonly name: string;
  readonly clock: Clock;
  private readonly bhs: BhQueue;
  private readonly waiters = new WaitList();
  private readonly deferred: DeferCallQueue;

  constructor(options: AioContextOptions = {}) {
    this.name = options.name ?? 'main';
    this.clock = options.clock ?? hostClock();
    this.bhs = new BhQueue(this.name, this.afterDispatch);
    this.deferred = new DeferCallQueue(this.name);
  }

  /** aio_bh_new: a bottom half bound to this context. */
  bh(callback: () => void, name?: string): BottomHalf {
    return this.bhs.create(callback, name ?? `${this.name}:bh`);
  }

  /** aio_bh_schedule_oneshot. */
  scheduleOneshot(callback: () => void): void {
    this.bhs.scheduleOneshot(callback);
  }

  /** A timer on this context's clock (aio_timer_new); waiters are re-evaluated after it fires. */
  newTimer(callback: () => void): ClockTimer {
    return this.clock.createTimer(() => {
      callback();
      this.afterDispatch();
    });
  }

  /**
   * AIO_WAIT_WHILE: resolves when condition() is false. Evaluated immediately, then after every
   * kick() (of any context), every BH batch and every timer of this context.
   */
  waitWhile(condition: () => boolean): Promise<void> {
    return this.waiters.waitWhile(condition);
  }

  /** aio_wait_kick: re-evaluate waiters in a microtask, not synchronously. */
  kick(): void {
    kickWaiters();
  }

  /** defer_call_begin. */
  deferCallBegin(): void {
    this.deferred.begin();
  }

  /** defer_call_end: the outermost end runs the queued calls; throws if unmatched. */
  deferCallEnd(): void {
    this.deferred.end();
  }

  /** defer_call: immediate when not nested, else queued once per (fn, arg). */
  deferCall<A>(fn: (arg: A) => void, arg: A): void {
    this.deferred.call(fn, arg);
  }

  get deferCallDepth(): number {
    return this.deferred.nesting;
  }

  /** Runs every BH scheduled now (one batch, like aio_bh_poll); returns how many ran. */
  poll(): number {
    return this.bhs.runBatch();
  }

  private readonly afterDispatch = (): void => {
    if (this.waiters.size > 0) this.waiters.evaluate();
  };
}
