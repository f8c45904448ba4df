import {
  ConfigError,
  TimerHeap,
  checkDeadline,
  type Clock,
  type ClockTimer,
  type TimerHeapEntry,
} from '@vmkit/core';
import { FdWatcher } from './fd-watcher.js';
import { native, nativeAddonStatus } from './native.js';
import { OsError } from './os-error.js';

/** The largest delay the addon's timerfd_settime takes (2^53 ns, about 104 days). */
const MAX_DELAY_NS = 2 ** 53;

class PreciseTimer implements ClockTimer, TimerHeapEntry {
  deadline = -1;
  seq = 0;
  heapIndex = -1;

  constructor(
    private readonly owner: PreciseTimers,
    readonly callback: () => void,
  ) {}

  get pending(): boolean {
    return this.heapIndex >= 0;
  }

  arm(deadlineNs: number): void {
    this.owner.armTimer(this, deadlineNs);
  }

  cancel(): void {
    this.owner.cancelTimer(this);
  }
}

/** What must be released when an instance is garbage-collected without close(). */
interface NativeParts {
  readonly watcher: FdWatcher;
  readonly fd: number;
}

/**
 * The started watcher holds its callback, so the callback reaches its instance only through a
 * WeakRef; instances with armed timers are kept alive here instead (an armed timer fires even
 * when nothing else refers to it, like setTimeout). An idle instance nobody refers to is then
 * collected, and this registry closes its watcher and its timerfd: a machine's HostClock and
 * its timers do not leak a descriptor each.
 */
const withArmedTimers = new Set<PreciseTimers>();
const orphans = new FinalizationRegistry<NativeParts>(({ watcher, fd }) => {
  watcher.close(); // the uv handle must leave epoll before its descriptor is closed
  native.close(fd);
});

/** The shared instance of each host clock (forClock). */
const perClock = new WeakMap<Clock, PreciseTimers>();

/**
 * Timers on a host clock with microsecond precision: Linux timerfd + uv_poll instead of
 * setTimeout's millisecond resolution. One timerfd per instance multiplexes any number of
 * timers through a min-heap ordered by (deadline, arming order), like a QEMU timer list: the
 * timerfd is programmed for the earliest deadline, and each expiry runs every due timer and
 * programs the next one. The watcher is unref'd: pending timers do not keep the process alive.
 *
 * Callbacks run from the event loop, never inside `arm()`; the callbacks due at one wake-up run
 * back to back, and the promise continuations they queue run after the last of them.
 */
export class PreciseTimers {
  readonly #heap = new TimerHeap<PreciseTimer>();
  readonly #watcher: FdWatcher;
  readonly #fd: number;
  readonly #parts: NativeParts;
  /** Arming sequence; a timer armed during an expiry pass waits for the next pass. */
  #seq = 0;
  /** When the timerfd will expire, on the clock's timeline; Infinity while disarmed. */
  #programmed = Infinity;
  #running = false;
  #closedReason: string | undefined;

  private constructor(readonly clock: Clock) {
    const fd = OsError.check(native.timerfd_create(), 'timerfd_create');
    const self = new WeakRef(this);
    const watcher = FdWatcher.watchEventFd(fd, (status) => self.deref()?.expire(status));
    if (typeof watcher === 'number') {
      native.close(fd);
      throw new OsError(watcher, 'watching a timerfd');
    }
    watcher.setRef(false);
    this.#fd = fd;
    this.#watcher = watcher;
    this.#parts = { watcher, fd };
    orphans.register(this, this.#parts, this.#parts);
  }

  /** Whether precise timers can be used with `clock`: a host clock, and the addon loaded. */
  static supports(clock: Clock): boolean {
    return clock.kind === 'host' && nativeAddonStatus.available;
  }

  /**
   * The instance shared by every user of `clock` (created on first use), or null when `clock` is
   * not a host clock or the addon is missing: callers then fall back to `clock.createTimer`.
   * Throws an {@link OsError} if the system refuses a timerfd.
   */
  static forClock(clock: Clock): PreciseTimers | null {
    if (!PreciseTimers.supports(clock)) return null;
    let timers = perClock.get(clock);
    if (timers === undefined) {
      timers = new PreciseTimers(clock);
      perClock.set(clock, timers);
    }
    return timers;
  }

  /**
   * A private instance (its own timerfd), for an owner that wants to `close()` it. Throws a
   * ConfigError for a clock that is not a host clock or when the addon is missing.
   */
  static open(clock: Clock): PreciseTimers {
    if (clock.kind !== 'host') {
      throw new ConfigError(`PreciseTimers needs a host clock, not a ${clock.kind} clock`);
    }
    if (!nativeAddonStatus.available) {
      throw new ConfigError(`PreciseTimers needs the vhost-user addon: ${nativeAddonStatus.reason}`);
    }
    return new PreciseTimers(clock);
  }

  /** A one-shot timer on this instance's clock; see {@link ClockTimer}. */
  createTimer(callback: () => void): ClockTimer {
    return new PreciseTimer(this, callback);
  }

  /** Number of armed timers. */
  get pendingTimers(): number {
    return this.#heap.size;
  }

  get closed(): boolean {
    return this.#closedReason !== undefined;
  }

  /**
   * Disarms every timer, stops the watcher and closes the timerfd; arming a timer of this
   * instance afterwards throws. `forClock` then makes a new instance. Idempotent.
   */
  close(): void {
    this.shutdown('closed');
  }

  /** @internal timer_mod: (re)arms `timer`, after the timers already armed for the same deadline. */
  armTimer(timer: PreciseTimer, deadlineNs: number): void {
    checkDeadline(deadlineNs);
    if (this.#closedReason !== undefined) {
      throw new ConfigError(`cannot arm a precise timer: its PreciseTimers is ${this.#closedReason}`);
    }
    timer.deadline = deadlineNs;
    timer.seq = this.#seq++;
    if (timer.heapIndex >= 0) {
      this.#heap.update(timer);
    } else {
      if (this.#heap.size === 0) withArmedTimers.add(this);
      this.#heap.insert(timer);
    }
    // A pass in progress programs the timerfd when it ends. Moving the first deadline later
    // leaves the timerfd early: that expiry finds nothing due and programs the right time.
    if (!this.#running && deadlineNs < this.#programmed) this.program(deadlineNs);
  }

  /** @internal timer_del; the timerfd stays programmed (an early expiry is harmless). */
  cancelTimer(timer: PreciseTimer): void {
    if (timer.heapIndex < 0) return;
    this.unlink(timer);
  }

  private unlink(timer: PreciseTimer): void {
    this.#heap.remove(timer);
    timer.deadline = -1;
    if (this.#heap.size === 0) withArmedTimers.delete(this);
  }

  /** Sets the timerfd to expire at `deadlineNs` (at least 1 ns from now: 0 would disarm it). */
  private program(deadlineNs: number): void {
    const now = this.clock.now();
    const delay = Math.min(Math.max(1, Math.ceil(deadlineNs - now)), MAX_DELAY_NS);
    const ret = native.timerfd_settime(this.#fd, delay);
    if (ret < 0) throw new OsError(ret, 'timerfd_settime');
    this.#programmed = now + delay;
  }

  /** The watcher's callback: the timerfd expired (its count was read natively). */
  private expire(status: number): void {
    this.#programmed = Infinity; // one-shot: it is disarmed now
    if (status < 0) {
      // The watcher has stopped, so no timer of this instance could fire any more.
      this.shutdown(`broken (reading its timerfd failed: ${status})`);
      throw new OsError(status, 'PreciseTimers: reading the timerfd');
    }
    const heap = this.#heap;
    const firstNew = this.#seq;
    const now = this.clock.now();
    this.#running = true;
    try {
      // Like timerlist_run_timers: every timer due at `now`, earliest first; each may re-arm or
      // cancel any timer. One armed during this pass waits for the next (no endless pass).
      for (let timer = heap.peek(); timer !== undefined; timer = heap.peek()) {
        if (timer.deadline > now || timer.seq >= firstNew) break;
        this.unlink(timer);
        const callback = timer.callback;
        callback();
      }
    } finally {
      this.#running = false;
      // Also after a callback threw: the timers still due fire on the next loop turn.
      const next = this.#closedReason === undefined ? heap.peek() : undefined;
      if (next !== undefined) this.program(next.deadline);
    }
  }

  private shutdown(reason: string): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    for (let timer = this.#heap.peek(); timer !== undefined; timer = this.#heap.peek()) this.unlink(timer);
    withArmedTimers.delete(this);
    if (perClock.get(this.clock) === this) perClock.delete(this.clock);
    orphans.unregister(this.#parts);
    this.#watcher.close();
    native.close(this.#fd);
  }
}

/**
 * A timer on `clock` with microsecond precision when it is a host clock and the addon loaded
 * ({@link PreciseTimers.forClock}); otherwise the clock's own timer (`clock.createTimer`).
 */
export function createPreciseTimer(clock: Clock, callback: () => void): ClockTimer {
  const timers = PreciseTimers.forClock(clock);
  return timers === null ? clock.createTimer(callback) : timers.createTimer(callback);
}
