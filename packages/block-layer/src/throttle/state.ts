import {
  BucketType,
  computeWait,
  copyThrottleConfig,
  leakBucket,
  throttleConfigInit,
  throttleEnabled,
  type ThrottleConfig,
  type ThrottleDirection,
} from './config.js';
import type { ThrottleTimers } from './timers.js';

/** Buckets charged with bytes / with operations, per direction (throttle_account's tables). */
const SIZE_BUCKETS: readonly (readonly [BucketType, BucketType])[] = [
  [BucketType.bpsTotal, BucketType.bpsRead],
  [BucketType.bpsTotal, BucketType.bpsWrite],
];
const UNIT_BUCKETS: readonly (readonly [BucketType, BucketType])[] = [
  [BucketType.opsTotal, BucketType.opsRead],
  [BucketType.opsTotal, BucketType.opsWrite],
];

/**
 * QEMU ThrottleState: the buckets and the time of the last leak. Shared by every member of a
 * throttle group.
 */
export class ThrottleState {
  /** The configuration with its live levels. Change it through configure(), not in place. */
  cfg: ThrottleConfig = throttleConfigInit();
  /** Time (ns) of the last leak. */
  previousLeak = 0;
  /**
   * throttleEnabled(cfg), cached by configure() so that requests of a group without limits can
   * skip all bucket work.
   */
  enabled = false;

  /** throttle_init: an all-zero configuration, previousLeak = 0. */
  init(): void {
    throttleConfigInit(this.cfg);
    this.previousLeak = 0;
    this.enabled = false;
  }

  /**
   * throttle_config: stores a copy of `cfg` with every level and burst level zeroed and restarts
   * leaking from `nowNs`.
   */
  configure(cfg: ThrottleConfig, nowNs: number): void {
    const copy = copyThrottleConfig(cfg);
    for (const bkt of copy.buckets) {
      bkt.level = 0;
      bkt.burstLevel = 0;
    }
    this.cfg = copy;
    this.previousLeak = nowNs;
    this.enabled = throttleEnabled(copy);
  }

  /** throttle_get_config: the stored configuration verbatim (a copy, levels included). */
  getConfig(): ThrottleConfig {
    return copyThrottleConfig(this.cfg);
  }

  /** throttle_do_leak: leaks every bucket by the time elapsed since the previous leak. */
  doLeak(nowNs: number): void {
    const delta = nowNs - this.previousLeak;
    this.previousLeak = nowNs;
    if (delta <= 0) return;
    for (const bkt of this.cfg.buckets) leakBucket(bkt, delta);
  }

  /** throttle_compute_wait_for: the longest wait among the total and `dir` buckets (bytes and ops). */
  computeWaitFor(dir: ThrottleDirection): number {
    const b = this.cfg.buckets;
    const s = SIZE_BUCKETS[dir];
    const u = UNIT_BUCKETS[dir];
    let wait = computeWait(b[s[0]]);
    let w = computeWait(b[s[1]]);
    if (w > wait) wait = w;
    w = computeWait(b[u[0]]);
    if (w > wait) wait = w;
    w = computeWait(b[u[1]]);
    if (w > wait) wait = w;
    return wait;
  }

  /**
   * throttle_schedule_timer: leaks, then returns whether a request in `dir` must wait; arms that
   * direction's timer (unless it is already armed) at now + wait.
   */
  scheduleTimer(tt: ThrottleTimers, dir: ThrottleDirection): boolean {
    const timer = tt.timers[dir];
    if (timer === null) throw new Error(`throttle: no ${dir === 0 ? 'read' : 'write'} timer`);
    const now = tt.clock.now();
    this.doLeak(now);
    const wait = this.computeWaitFor(dir);
    if (wait === 0) return false;
    if (timer.pending) return true;
    timer.arm(now + wait);
    return true;
  }

  /**
   * throttle_account: charges a request of `size` bytes. With an iops-size, a larger request
   * counts as size/opSize operations (fractional). Burst levels are charged only where tracked.
   */
  account(dir: ThrottleDirection, size: number): void {
    const cfg = this.cfg;
    // opSize <= 0 never splits: a negative value is a huge uint64 in QEMU, larger than any size.
    const units = cfg.opSize > 0 && size > cfg.opSize ? size / cfg.opSize : 1;
    const s = SIZE_BUCKETS[dir];
    const u = UNIT_BUCKETS[dir];
    for (let i = 0; i < 2; i++) {
      let bkt = cfg.buckets[s[i]];
      bkt.level += size;
      if (bkt.burstLength > 1) bkt.burstLevel += size;
      bkt = cfg.buckets[u[i]];
      bkt.level += units;
      if (bkt.burstLength > 1) bkt.burstLevel += units;
    }
  }
}
