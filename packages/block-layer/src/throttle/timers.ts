import { ConfigError, type AioContext, type Clock, type ClockTimer } from '@vmkit/core';
import { ThrottleDirection } from './config.js';

/**
 * QEMU ThrottleTimers: one timer per direction on an AioContext's clock. A direction without a
 * callback has no timer. The timers are recreated when the owner moves to another AioContext
 * (detach, then attach), so they always fire in the owner's context.
 */
export class ThrottleTimers {
  /** The read and write timers; null for a direction without callback or while detached. */
  readonly timers: [ClockTimer | null, ClockTimer | null] = [null, null];
  private readonly callbacks: [(() => void) | null, (() => void) | null];
  private context: AioContext | null = null;
  private clockRef: Clock;

  /** throttle_timers_init: at least one of the callbacks is required. */
  constructor(ctx: AioContext, readCallback: (() => void) | null, writeCallback: (() => void) | null) {
    if (readCallback === null && writeCallback === null) {
      throw new ConfigError('throttle timers need a read or a write callback');
    }
    this.callbacks = [readCallback, writeCallback];
    this.clockRef = ctx.clock;
    this.attachAioContext(ctx);
  }

  /** The AioContext the timers live in; null while detached. */
  get aioContext(): AioContext | null {
    return this.context;
  }

  /** The clock the timers run on (the last attached context's clock). */
  get clock(): Clock {
    return this.clockRef;
  }

  /** throttle_timers_are_initialized: true while some timer exists. */
  get areInitialized(): boolean {
    return this.timers[ThrottleDirection.read] !== null || this.timers[ThrottleDirection.write] !== null;
  }

  /** throttle_timers_attach_aio_context: creates the timers in `ctx`. */
  attachAioContext(ctx: AioContext): void {
    if (this.areInitialized) this.detachAioContext();
    this.context = ctx;
    this.clockRef = ctx.clock;
    for (let dir = 0; dir < 2; dir++) {
      const cb = this.callbacks[dir];
      this.timers[dir] = cb === null ? null : ctx.newTimer(cb);
    }
  }

  /** throttle_timers_detach_aio_context: cancels and drops the timers. */
  detachAioContext(): void {
    for (let dir = 0; dir < 2; dir++) {
      this.timers[dir]?.cancel();
      this.timers[dir] = null;
    }
    this.context = null;
  }

  /** throttle_timers_destroy. */
  destroy(): void {
    this.detachAioContext();
  }
}
