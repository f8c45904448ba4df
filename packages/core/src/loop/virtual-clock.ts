import { ConfigError } from '../errors.js';
import { checkDeadline, type Clock, type ClockTimer } from './clock.js';
import { bhBatchesWaiting, macrotaskTurn } from './scheduler.js';
import { TimerHeap, type TimerHeapEntry } from './timer-heap.js';

/**
 * Upper bound on macrotask turns spent settling after one firing; keeps a BH that reschedules
 * itself forever from hanging advance().
 */
const MAX_SETTLE_TURNS = 64;

class VirtualTimer implements ClockTimer, TimerHeapEntry {
  deadline = -1;
  seq = 0;
  heapIndex = -1;

  constructor(
    private readonly clock: VirtualClock,
    readonly callback: () => void,
  ) {}

  get pending(): boolean {
    return this.heapIndex >= 0;
  }

  arm(deadlineNs: number): void {
    checkDeadline(deadlineNs);
    this.clock.armTimer(this, deadlineNs);
  }

  cancel(): void {
    this.clock.cancelTimer(this);
  }
}

/**
 * Clock that only moves when a test moves it, so time-dependent behaviour (throttling, latency
 * accounting, timeouts) is exact. Like QEMU's qtest clock (`qtest_clock_step`).
 */
export class VirtualClock implements Clock {
  readonly kind = 'virtual' as const;
  private current: number;
  private seq = 0;
  private advancing = false;
  private readonly heap = new TimerHeap<VirtualTimer>();

  constructor(startNs = 0) {
    if (!Number.isFinite(startNs) || startNs < 0) {
      throw new RangeError(`VirtualClock start must be a finite non-negative number of ns, got ${startNs}`);
    }
    this.current = startNs;
  }

  now(): number {
    return this.current;
  }

  createTimer(callback: () => void): ClockTimer {
    return new VirtualTimer(this, callback);
  }

  /** Number of armed timers. */
  get pendingTimers(): number {
    return this.heap.size;
  }

  /**
   * Moves time forward by `ns`, firing due timers in deadline order (ties: arming order), each
   * exactly at its deadline. Pending promise continuations and scheduled bottom halves run
   * first, and again after each firing, before the next timer is considered.
   */
  advance(ns: number): Promise<void> {
    if (!Number.isFinite(ns) || ns < 0) {
      return Promise.reject(new RangeError(`advance() needs a finite non-negative ns, got ${ns}`));
    }
    return this.advanceTo(this.current + ns);
  }

  /** Like advance(), to an absolute time (not before now()). */
  async advanceTo(ns: number): Promise<void> {
    if (!Number.isFinite(ns) || ns < this.current) {
      throw new RangeError(`advanceTo(${ns}): target must be finite and not before now() = ${this.current}`);
    }
    await this.fireUntil(ns);
    this.current = ns;
  }

  /**
   * Fires timers (moving time to each deadline) until none is armed or the next one is past
   * `limitNs`; returns the time reached (`limitNs` when a timer remains armed beyond it).
   */
  async runTimers(limitNs = Infinity): Promise<number> {
    if (Number.isNaN(limitNs)) throw new RangeError('runTimers() limit must be a number');
    await this.fireUntil(limitNs);
    if (this.heap.size > 0 && limitNs > this.current) this.current = limitNs;
    return this.current;
  }

  /** @internal */
  armTimer(timer: VirtualTimer, deadlineNs: number): void {
    timer.deadline = deadlineNs;
    timer.seq = ++this.seq;
    if (timer.heapIndex >= 0) this.heap.update(timer);
    else this.heap.insert(timer);
  }

  /** @internal */
  cancelTimer(timer: VirtualTimer): void {
    if (timer.heapIndex < 0) return;
    this.heap.remove(timer);
    timer.deadline = -1;
  }

  private async fireUntil(limitNs: number): Promise<void> {
    if (this.advancing) throw new ConfigError('VirtualClock: advance()/runTimers() is already in progress');
    this.advancing = true;
    try {
      // Work resumed just before this call (a promise continuation, a BH) may still arm timers
      // for the window being advanced: let it run first, as a real main loop would.
      await settle();
      for (;;) {
        const timer = this.heap.peek();
        if (timer === undefined || timer.deadline > limitNs) break;
        this.heap.remove(timer);
        // A timer armed in the past fires now; time never goes backwards.
        if (timer.deadline > this.current) this.current = timer.deadline;
        timer.deadline = -1;
        timer.callback();
        await settle();
      }
    } finally {
      this.advancing = false;
    }
  }
}

/** Lets promise continuations and bottom halves (including ones they schedule) run. */
async function settle(): Promise<void> {
  let turns = 0;
  do {
    await macrotaskTurn();
  } while (bhBatchesWaiting() > 0 && ++turns < MAX_SETTLE_TURNS);
}
