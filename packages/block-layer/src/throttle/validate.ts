import { ConfigError } from '@vmkit/core';
import { BucketType, THROTTLE_VALUE_MAX, type ThrottleConfig } from './config.js';

/** QEMU's error texts of throttle_is_valid(), in the order the checks run. */
export const ThrottleValidityError = {
  conflict: 'bps/iops/max total values and read/write values cannot be used at the same time',
  iopsSizeWithoutIops: 'iops size requires an iops value to be set',
  range: `bps/iops/max values must be within [0, ${THROTTLE_VALUE_MAX}]`,
  burstLengthZero: 'the burst length cannot be 0',
  burstLengthWithoutMax: 'burst length set without burst rate',
  burstLengthTooHigh: 'burst length too high for this burst rate',
  maxWithoutAvg: 'bps_max/iops_max require corresponding bps/iops values',
  maxBelowAvg: 'bps_max/iops_max cannot be lower than bps/iops',
  /** vmkit only: QEMU's values are integers by type, so it has no text for this. */
  notInteger: 'throttle values must be integers',
} as const;

const TWO_POW_64 = 18446744073709551616;

/**
 * The value QEMU's uint64 field would hold: a negative input wraps to a huge number (so it fails
 * the range and burst-length checks exactly as in QEMU). Precision loss is irrelevant here, the
 * result is only compared against bounds far below 2^53.
 */
function asU64(v: number): number {
  return v < 0 ? TWO_POW_64 + v : v;
}

/**
 * throttle_is_valid: undefined when `cfg` is valid, else QEMU's exact error text. Levels are not
 * looked at.
 */
export function validateThrottleConfig(cfg: ThrottleConfig): string | undefined {
  const b = cfg.buckets;
  for (const bkt of b) {
    if (!Number.isInteger(bkt.avg) || !Number.isInteger(bkt.max) || !Number.isInteger(bkt.burstLength)) {
      return ThrottleValidityError.notInteger;
    }
  }
  if (!Number.isInteger(cfg.opSize)) return ThrottleValidityError.notInteger;

  const bpsFlag =
    b[BucketType.bpsTotal].avg !== 0 && (b[BucketType.bpsRead].avg !== 0 || b[BucketType.bpsWrite].avg !== 0);
  const opsFlag =
    b[BucketType.opsTotal].avg !== 0 && (b[BucketType.opsRead].avg !== 0 || b[BucketType.opsWrite].avg !== 0);
  const bpsMaxFlag =
    b[BucketType.bpsTotal].max !== 0 && (b[BucketType.bpsRead].max !== 0 || b[BucketType.bpsWrite].max !== 0);
  const opsMaxFlag =
    b[BucketType.opsTotal].max !== 0 && (b[BucketType.opsRead].max !== 0 || b[BucketType.opsWrite].max !== 0);
  if (bpsFlag || opsFlag || bpsMaxFlag || opsMaxFlag) return ThrottleValidityError.conflict;

  if (
    cfg.opSize !== 0 &&
    b[BucketType.opsTotal].avg === 0 &&
    b[BucketType.opsRead].avg === 0 &&
    b[BucketType.opsWrite].avg === 0
  ) {
    return ThrottleValidityError.iopsSizeWithoutIops;
  }

  for (const bkt of b) {
    const avg = asU64(bkt.avg);
    const max = asU64(bkt.max);
    const burstLength = asU64(bkt.burstLength);
    if (avg > THROTTLE_VALUE_MAX || max > THROTTLE_VALUE_MAX) return ThrottleValidityError.range;
    if (burstLength === 0) return ThrottleValidityError.burstLengthZero;
    if (burstLength > 1 && max === 0) return ThrottleValidityError.burstLengthWithoutMax;
    // Integer division as in C: the bucket size max * burstLength may not exceed 10^15.
    if (max !== 0 && burstLength > Math.floor(THROTTLE_VALUE_MAX / max)) {
      return ThrottleValidityError.burstLengthTooHigh;
    }
    if (max !== 0 && avg === 0) return ThrottleValidityError.maxWithoutAvg;
    if (max !== 0 && max < avg) return ThrottleValidityError.maxBelowAvg;
  }
  return undefined;
}

/** throttle_is_valid as a predicate. */
export function throttleIsValid(cfg: ThrottleConfig): boolean {
  return validateThrottleConfig(cfg) === undefined;
}

/** throttle_is_valid with errp: throws a ConfigError carrying QEMU's text when `cfg` is invalid. */
export function assertThrottleConfigValid(cfg: ThrottleConfig): void {
  const error = validateThrottleConfig(cfg);
  if (error !== undefined) throw new ConfigError(error);
}
