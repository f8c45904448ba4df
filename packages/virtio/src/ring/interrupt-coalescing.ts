/**
 * Interrupt coalescing for a virtqueue (no QEMU counterpart; the idea of virtio-net's
 * NOTF_COAL and NVMe's aggregation threshold/time, applied to any split queue with EVENT_IDX).
 *
 * When the guest asks for an interrupt (vring_need_event says so), the device may hold it so
 * that later completions join it: the interrupt is raised once the guest would find `target`
 * completions it has not consumed (used index minus its used_event), or after `usecs`.
 * A guest that keeps a deep queue resubmits as it reaps, so while one batch is being handled
 * the next fills; under emulation an interrupt costs the guest far more than a completion, and
 * a TCG guest at depth 16 does markedly more I/O per CPU second. The price is latency.
 *
 * `target` adapts to the guest, starting at `maxFrames`:
 * - a hold that runs for the full `usecs` shows how many completions the guest had to give:
 *   the target drops to that (at least 1: no more holding, the queue-depth-1 case);
 * - after `probeAfter` interrupts that reached their target, it doubles again (up to
 *   `maxFrames`); a probe that expires doubles `probeAfter` (up to 1024), so a guest at depth 1
 *   pays one held interrupt in a thousand once it has been learnt.
 * Whatever the guest writes in its rings, an interrupt is delayed by at most `usecs`.
 */
import type { Clock, ClockTimer } from '@vmkit/core';

export interface InterruptCoalescingOptions {
  /** Completions one interrupt may cover before it is raised: 2..32768. */
  readonly maxFrames: number;
  /** Longest an interrupt is held, in microseconds: 1..1000000. */
  readonly usecs: number;
}

/** Creates the hold timer on the clock whose ns timeline `arm` uses (default: `clock.createTimer`). */
export type CoalescingTimerFactory = (callback: () => void) => ClockTimer;

/** Interrupts reaching their target before the first probe of a larger one. */
const PROBE_MIN = 16;
/** The longest wait between probes, in interrupts. */
const PROBE_MAX = 1024;

/** Largest `usecs`: one second. */
export const COALESCE_MAX_USECS = 1_000_000;
/** Largest `maxFrames`: the largest queue size. */
export const COALESCE_MAX_FRAMES = 32768;

/** Throws a RangeError naming the value and the rule when the options are not valid. */
export function checkInterruptCoalescing(options: InterruptCoalescingOptions): void {
  const { maxFrames, usecs } = options;
  if (!Number.isInteger(maxFrames) || maxFrames < 2 || maxFrames > COALESCE_MAX_FRAMES) {
    throw new RangeError(
      `interrupt coalescing: maxFrames ${String(maxFrames)} is not an integer in 2..${COALESCE_MAX_FRAMES}`,
    );
  }
  if (!Number.isInteger(usecs) || usecs < 1 || usecs > COALESCE_MAX_USECS) {
    throw new RangeError(
      `interrupt coalescing: usecs ${String(usecs)} is not an integer in 1..${COALESCE_MAX_USECS}`,
    );
  }
}

/** What the coalescing needs from its queue. */
export interface CoalescedQueue {
  /** Completions the guest has not consumed: used index minus its used_event (EVENT_IDX). */
  unseen(): number;
  /** Raises the used-buffer interrupt now (the guest is told up to the used index). */
  raiseHeld(): void;
}

export class InterruptCoalescing {
  /** An interrupt is being held. */
  private holding = false;
  private readonly timer: ClockTimer;
  private readonly delayNs: number;
  /** Interrupts held, and raised later (counters for status and benchmarks). */
  held = 0;
  /** Interrupts raised by the timer (held for the full `usecs`). */
  expired = 0;
  private targetValue: number;
  /** Interrupts that must reach their target before the target is doubled again. */
  private probeAfter = PROBE_MIN;
  private successes = 0;
  /** The target was just doubled: the next outcome tells whether the guest keeps up. */
  private probing = false;

  constructor(
    private readonly queue: CoalescedQueue,
    readonly options: InterruptCoalescingOptions,
    private readonly clock: Clock,
    createTimer: CoalescingTimerFactory = (cb) => clock.createTimer(cb),
  ) {
    checkInterruptCoalescing(options);
    this.delayNs = options.usecs * 1000;
    this.targetValue = options.maxFrames;
    this.timer = createTimer(this.onTimer);
  }

  /** An interrupt is held (it will be raised by a later completion, the timer or `flush`). */
  get isHolding(): boolean {
    return this.holding;
  }

  /** Completions the guest should find per interrupt (see the file comment). */
  get target(): number {
    return this.targetValue;
  }

  /**
   * The guest wants an interrupt for what was just published: true to raise it now, false when
   * it is held.
   */
  wanted(): boolean {
    if (this.unseen() >= this.targetValue) {
      this.reached();
      return true;
    }
    this.holding = true;
    this.held++;
    this.timer.arm(this.clock.now() + this.delayNs);
    return false;
  }

  /**
   * More completions were published while an interrupt is held: true when it must be raised now
   * (the caller raises it; the hold ends).
   */
  joined(): boolean {
    if (this.unseen() < this.targetValue) return false;
    this.release();
    this.reached();
    return true;
  }

  /** Raises a held interrupt now (the queue stops, the rings change). */
  flush(): void {
    if (!this.holding) return;
    this.release();
    this.queue.raiseHeld();
  }

  /** Drops a held interrupt (reset: the guest's rings are gone) and starts learning afresh. */
  cancel(): void {
    if (this.holding) this.release();
    this.targetValue = this.options.maxFrames;
    this.probeAfter = PROBE_MIN;
    this.successes = 0;
    this.probing = false;
  }

  /** Completions the guest has not consumed: what one interrupt now would hand it. */
  private unseen(): number {
    return this.queue.unseen();
  }

  /** An interrupt reached its target: a probe succeeded, or count towards the next one. */
  private reached(): void {
    if (this.probing) {
      this.probing = false;
      this.probeAfter = PROBE_MIN;
    }
    if (this.targetValue >= this.options.maxFrames || ++this.successes < this.probeAfter) return;
    this.successes = 0;
    this.probing = true;
    this.targetValue = Math.min(this.options.maxFrames, this.targetValue * 2);
  }

  /** A hold ran out: the guest had no more than `unseen` to give. */
  private expiredHold(unseen: number): void {
    if (this.probing) {
      this.probing = false;
      this.probeAfter = Math.min(PROBE_MAX, this.probeAfter * 2);
    }
    this.successes = 0;
    this.targetValue = Math.max(1, Math.min(unseen, this.targetValue));
  }

  private release(): void {
    this.holding = false;
    this.timer.cancel();
  }

  private readonly onTimer = (): void => {
    if (!this.holding) return;
    this.holding = false;
    this.expired++;
    this.expiredHold(this.unseen());
    this.queue.raiseHeld();
  };
}
