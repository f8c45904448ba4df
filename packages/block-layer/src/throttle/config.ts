/**
 * Leaky-bucket configuration and arithmetic (QEMU util/throttle.c, include/qemu/throttle.h).
 *
 * Semantics of one bucket: `level` leaks at `avg` units/s; the bucket holds `max * burstLength`
 * units; while it is not full, I/O may run at up to `max` units/s, which `burstLevel` enforces by
 * leaking at `max`/s. So I/O runs at `max` for at most `burstLength` seconds, then at `avg`.
 *
 * All values are JS numbers. QEMU stores avg/max/burstLength as uint64 and levels as double; the
 * arithmetic below uses doubles exactly where QEMU does, so results match bit for bit.
 */

/** The six buckets of a ThrottleConfig (QEMU BucketType), usable as indexes into `buckets`. */
export const BucketType = {
  bpsTotal: 0,
  bpsRead: 1,
  bpsWrite: 2,
  opsTotal: 3,
  opsRead: 4,
  opsWrite: 5,
} as const;
export type BucketType = (typeof BucketType)[keyof typeof BucketType];
export type BucketName = keyof typeof BucketType;

export const BUCKETS_COUNT = 6;

/** The bucket names in BucketType order. */
export const BUCKET_NAMES: readonly BucketName[] = [
  'bpsTotal',
  'bpsRead',
  'bpsWrite',
  'opsTotal',
  'opsRead',
  'opsWrite',
];

/** Largest accepted avg/max (10^15), QEMU THROTTLE_VALUE_MAX. */
export const THROTTLE_VALUE_MAX = 1_000_000_000_000_000;

export const NANOSECONDS_PER_SECOND = 1_000_000_000;

/** Direction of a throttled request (QEMU ThrottleDirection): indexes per-direction arrays. */
export const ThrottleDirection = { read: 0, write: 1 } as const;
export type ThrottleDirection = (typeof ThrottleDirection)[keyof typeof ThrottleDirection];
export const THROTTLE_MAX = 2;

/** QEMU LeakyBucket. */
export interface LeakyBucket {
  /** Average goal in units per second (bytes/s or ops/s); 0 disables the bucket. */
  avg: number;
  /** Burst rate in units per second; 0 = no burst (a 100 ms bucket is still allowed). */
  max: number;
  /** Current level in units. */
  level: number;
  /** Level of the burst bucket (only tracked when burstLength > 1). */
  burstLevel: number;
  /** How long (seconds) I/O may run at `max`. */
  burstLength: number;
}

export type ThrottleBuckets = [LeakyBucket, LeakyBucket, LeakyBucket, LeakyBucket, LeakyBucket, LeakyBucket];

/** QEMU ThrottleConfig: six buckets plus the "iops-size" option. */
export interface ThrottleConfig {
  buckets: ThrottleBuckets;
  /** Bytes counted as one operation for large requests ("iops-size"); 0 = every request is 1 op. */
  opSize: number;
}

function newBucket(): LeakyBucket {
  return { avg: 0, max: 0, level: 0, burstLevel: 0, burstLength: 1 };
}

/**
 * throttle_config_init: zeroes everything and sets burstLength = 1 in every bucket. Resets `cfg`
 * in place when given, otherwise returns a new config.
 */
export function throttleConfigInit(cfg?: ThrottleConfig): ThrottleConfig {
  if (cfg === undefined) {
    return {
      buckets: [newBucket(), newBucket(), newBucket(), newBucket(), newBucket(), newBucket()],
      opSize: 0,
    };
  }
  for (const bkt of cfg.buckets) {
    bkt.avg = 0;
    bkt.max = 0;
    bkt.level = 0;
    bkt.burstLevel = 0;
    bkt.burstLength = 1;
  }
  cfg.opSize = 0;
  return cfg;
}

/**
 * Field by field rather than by spread: a spread copy gets a map whose number fields are boxed,
 * which makes every level update on the request path allocate.
 */
function copyBucket(b: LeakyBucket): LeakyBucket {
  return { avg: b.avg, max: b.max, level: b.level, burstLevel: b.burstLevel, burstLength: b.burstLength };
}

/** A deep copy (QEMU copies ThrottleConfig by value). */
export function copyThrottleConfig(cfg: ThrottleConfig): ThrottleConfig {
  const b = cfg.buckets;
  return {
    buckets: [
      copyBucket(b[0]),
      copyBucket(b[1]),
      copyBucket(b[2]),
      copyBucket(b[3]),
      copyBucket(b[4]),
      copyBucket(b[5]),
    ],
    opSize: cfg.opSize,
  };
}

/** throttle_enabled: true iff some bucket has avg > 0. */
export function throttleEnabled(cfg: ThrottleConfig): boolean {
  for (const bkt of cfg.buckets) {
    if (bkt.avg > 0) return true;
  }
  return false;
}

/** throttle_leak_bucket: leaks `deltaNs` worth of I/O from the bucket (and its burst bucket). */
export function leakBucket(bkt: LeakyBucket, deltaNs: number): void {
  const leak = (bkt.avg * deltaNs) / NANOSECONDS_PER_SECOND;
  bkt.level = Math.max(bkt.level - leak, 0);
  // The burst level only matters (and is only tracked) for bursts longer than a second.
  if (bkt.burstLength > 1) {
    const burstLeak = (bkt.max * deltaNs) / NANOSECONDS_PER_SECOND;
    bkt.burstLevel = Math.max(bkt.burstLevel - burstLeak, 0);
  }
}

/** throttle_do_compute_wait: ns needed for `extra` units to leak at `limit`/s, truncated like (int64). */
function computeWaitNs(limit: number, extra: number): number {
  let wait = extra * NANOSECONDS_PER_SECOND;
  wait /= limit;
  return Math.trunc(wait);
}

/** throttle_compute_wait: ns the next request has to wait for this bucket (0 = go now). */
export function computeWait(bkt: LeakyBucket): number {
  if (bkt.avg === 0) return 0;
  let bucketSize: number;
  let burstBucketSize: number;
  if (bkt.max === 0) {
    // Without a burst rate QEMU still lets 100 ms worth of I/O through in one go, otherwise
    // every other request would be throttled.
    bucketSize = bkt.avg / 10;
    burstBucketSize = 0;
  } else {
    // With a burst rate, I/O at `max` may go on until the whole burst is used up.
    bucketSize = bkt.max * bkt.burstLength;
    burstBucketSize = bkt.max / 10;
  }
  let extra = bkt.level - bucketSize;
  if (extra > 0) return computeWaitNs(bkt.avg, extra);
  // The main bucket has room; the burst bucket still caps the instantaneous rate at `max`.
  if (bkt.burstLength > 1) {
    extra = bkt.burstLevel - burstBucketSize;
    if (extra > 0) return computeWaitNs(bkt.max, extra);
  }
  return 0;
}
