import { ConfigError } from '@vmkit/core';
import { BucketType, throttleConfigInit, type ThrottleConfig } from './config.js';

/** Largest burst length accepted from ThrottleLimits and throttle-group properties (UINT_MAX). */
export const THROTTLE_BURST_LENGTH_MAX = 4294967295;

/**
 * QAPI ThrottleLimits: the `limits` property of a throttle-group object, also the names of the
 * `-drive throttling.*` options. Absent members leave the configuration as it is.
 */
export interface ThrottleLimits {
  'iops-total'?: number;
  'iops-total-max'?: number;
  'iops-total-max-length'?: number;
  'iops-read'?: number;
  'iops-read-max'?: number;
  'iops-read-max-length'?: number;
  'iops-write'?: number;
  'iops-write-max'?: number;
  'iops-write-max-length'?: number;
  'bps-total'?: number;
  'bps-total-max'?: number;
  'bps-total-max-length'?: number;
  'bps-read'?: number;
  'bps-read-max'?: number;
  'bps-read-max-length'?: number;
  'bps-write'?: number;
  'bps-write-max'?: number;
  'bps-write-max-length'?: number;
  'iops-size'?: number;
}

export type ThrottleLimitName = keyof ThrottleLimits;

/** Which part of the configuration a limit (or throttle-group property) sets. */
export type ThrottleParamCategory = 'avg' | 'max' | 'burstLength' | 'iopsSize';

export interface ThrottleParamInfo {
  readonly name: ThrottleLimitName;
  readonly bucket: BucketType;
  readonly category: ThrottleParamCategory;
}

/** The throttle parameters in QEMU's order (throttle-groups.c `properties[]`). */
export const THROTTLE_PARAMS: readonly ThrottleParamInfo[] = [
  { name: 'iops-total', bucket: BucketType.opsTotal, category: 'avg' },
  { name: 'iops-total-max', bucket: BucketType.opsTotal, category: 'max' },
  { name: 'iops-total-max-length', bucket: BucketType.opsTotal, category: 'burstLength' },
  { name: 'iops-read', bucket: BucketType.opsRead, category: 'avg' },
  { name: 'iops-read-max', bucket: BucketType.opsRead, category: 'max' },
  { name: 'iops-read-max-length', bucket: BucketType.opsRead, category: 'burstLength' },
  { name: 'iops-write', bucket: BucketType.opsWrite, category: 'avg' },
  { name: 'iops-write-max', bucket: BucketType.opsWrite, category: 'max' },
  { name: 'iops-write-max-length', bucket: BucketType.opsWrite, category: 'burstLength' },
  { name: 'bps-total', bucket: BucketType.bpsTotal, category: 'avg' },
  { name: 'bps-total-max', bucket: BucketType.bpsTotal, category: 'max' },
  { name: 'bps-total-max-length', bucket: BucketType.bpsTotal, category: 'burstLength' },
  { name: 'bps-read', bucket: BucketType.bpsRead, category: 'avg' },
  { name: 'bps-read-max', bucket: BucketType.bpsRead, category: 'max' },
  { name: 'bps-read-max-length', bucket: BucketType.bpsRead, category: 'burstLength' },
  { name: 'bps-write', bucket: BucketType.bpsWrite, category: 'avg' },
  { name: 'bps-write-max', bucket: BucketType.bpsWrite, category: 'max' },
  { name: 'bps-write-max-length', bucket: BucketType.bpsWrite, category: 'burstLength' },
  { name: 'iops-size', bucket: BucketType.bpsTotal, category: 'iopsSize' },
];

/** Writes one parameter into `cfg`. */
export function setThrottleParam(cfg: ThrottleConfig, info: ThrottleParamInfo, value: number): void {
  switch (info.category) {
    case 'avg':
      cfg.buckets[info.bucket].avg = value;
      break;
    case 'max':
      cfg.buckets[info.bucket].max = value;
      break;
    case 'burstLength':
      cfg.buckets[info.bucket].burstLength = value;
      break;
    case 'iopsSize':
      cfg.opSize = value;
      break;
  }
}

/** Reads one parameter from `cfg`. */
export function getThrottleParam(cfg: ThrottleConfig, info: ThrottleParamInfo): number {
  switch (info.category) {
    case 'avg':
      return cfg.buckets[info.bucket].avg;
    case 'max':
      return cfg.buckets[info.bucket].max;
    case 'burstLength':
      return cfg.buckets[info.bucket].burstLength;
    case 'iopsSize':
      return cfg.opSize;
  }
}

const BY_NAME = new Map<string, ThrottleParamInfo>(THROTTLE_PARAMS.map((p) => [p.name, p]));

/** The burst-length checks of throttle_limits_to_config, in QEMU's order. */
const MAX_LENGTH_ORDER: readonly ThrottleLimitName[] = [
  'bps-total-max-length',
  'bps-read-max-length',
  'bps-write-max-length',
  'iops-total-max-length',
  'iops-read-max-length',
  'iops-write-max-length',
];

/**
 * throttle_limits_to_config: applies the members present in `limits` to `cfg`. Returns QEMU's
 * error text for a burst length above UINT_MAX (cfg may then be partly updated, as in QEMU:
 * callers work on a copy). Negative values pass here and fail throttle_is_valid later.
 */
export function applyThrottleLimits(limits: ThrottleLimits, cfg: ThrottleConfig): string | undefined {
  for (const info of THROTTLE_PARAMS) {
    if (info.category === 'avg' || info.category === 'max') {
      const v = limits[info.name];
      if (v !== undefined) setThrottleParam(cfg, info, v);
    }
  }
  for (const name of MAX_LENGTH_ORDER) {
    const v = limits[name];
    if (v === undefined) continue;
    if (v > THROTTLE_BURST_LENGTH_MAX) {
      return `${name} value must be in the range [0, ${THROTTLE_BURST_LENGTH_MAX}]`;
    }
    setThrottleParam(cfg, BY_NAME.get(name)!, v);
  }
  const opSize = limits['iops-size'];
  if (opSize !== undefined) cfg.opSize = opSize;
  return undefined;
}

/** throttle_limits_to_config with errp: throws ConfigError with QEMU's text. */
export function throttleLimitsToConfig(limits: ThrottleLimits, cfg: ThrottleConfig): void {
  const error = applyThrottleLimits(limits, cfg);
  if (error !== undefined) throw new ConfigError(error);
}

/** throttle_config_to_limits: every member present. */
export function throttleConfigToLimits(cfg: ThrottleConfig): Required<ThrottleLimits> {
  const out: Partial<Record<ThrottleLimitName, number>> = {};
  for (const info of THROTTLE_PARAMS) out[info.name] = getThrottleParam(cfg, info);
  return out as Required<ThrottleLimits>;
}

/** Looks a parameter up by its ThrottleLimits name. */
export function throttleParamInfo(name: string): ThrottleParamInfo | undefined {
  return BY_NAME.get(name);
}

/**
 * The throttle settings of QMP `block_set_io_throttle` (QAPI BlockIOThrottle without the device
 * it names), also the throttle fields of `query-block`'s BlockDeviceInfo. The six averages are
 * mandatory; 0 means no limit.
 */
export interface BlockIoThrottleSettings {
  bps: number;
  bps_rd: number;
  bps_wr: number;
  iops: number;
  iops_rd: number;
  iops_wr: number;
  bps_max?: number;
  bps_rd_max?: number;
  bps_wr_max?: number;
  iops_max?: number;
  iops_rd_max?: number;
  iops_wr_max?: number;
  bps_max_length?: number;
  bps_rd_max_length?: number;
  bps_wr_max_length?: number;
  iops_max_length?: number;
  iops_rd_max_length?: number;
  iops_wr_max_length?: number;
  iops_size?: number;
  group?: string;
}

/** QMP `block_set_io_throttle` arguments (QAPI BlockIOThrottle). */
export interface BlockIoThrottle extends BlockIoThrottleSettings {
  device?: string;
  id?: string;
}

type QmpAvg = 'bps' | 'bps_rd' | 'bps_wr' | 'iops' | 'iops_rd' | 'iops_wr';

/** QMP average names in BucketType order. */
const QMP_AVG: readonly QmpAvg[] = ['bps', 'bps_rd', 'bps_wr', 'iops', 'iops_rd', 'iops_wr'];

/**
 * The configuration qmp_block_set_io_throttle builds from its arguments (not validated: call
 * validateThrottleConfig next; burst lengths are not range-checked on this path, as in QEMU).
 */
export function blockIoThrottleToConfig(args: BlockIoThrottle): ThrottleConfig {
  const cfg = throttleConfigInit();
  for (let i = 0; i < 6; i++) {
    const name = QMP_AVG[i];
    const bkt = cfg.buckets[i];
    bkt.avg = args[name];
    const max = args[`${name}_max`];
    if (max !== undefined) bkt.max = max;
    const length = args[`${name}_max_length`];
    if (length !== undefined) bkt.burstLength = length;
  }
  if (args.iops_size !== undefined) cfg.opSize = args.iops_size;
  return cfg;
}

/**
 * The throttle fields query-block reports for a throttled BlockBackend (bdrv_block_device_info):
 * the averages always; a `*_max` and its `*_max_length` only when the burst rate is set;
 * `iops_size` only when non-zero; the group name.
 */
export function throttleConfigToBlockIoThrottle(cfg: ThrottleConfig, group: string): BlockIoThrottle {
  const b = cfg.buckets;
  const out: BlockIoThrottle = {
    bps: b[BucketType.bpsTotal].avg,
    bps_rd: b[BucketType.bpsRead].avg,
    bps_wr: b[BucketType.bpsWrite].avg,
    iops: b[BucketType.opsTotal].avg,
    iops_rd: b[BucketType.opsRead].avg,
    iops_wr: b[BucketType.opsWrite].avg,
  };
  for (let i = 0; i < 6; i++) {
    const name = QMP_AVG[i];
    if (b[i].max !== 0) {
      out[`${name}_max`] = b[i].max;
      out[`${name}_max_length`] = b[i].burstLength;
    }
  }
  if (cfg.opSize !== 0) out.iops_size = cfg.opSize;
  out.group = group;
  return out;
}
