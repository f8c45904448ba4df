/**
 * Validation of the `workload` section: fio job options given once for all devices and
 * optionally per device in `jobs` (fio's global section and job sections):
 *
 * ```json
 * "workload": { "rw": "randrw", "rwmixread": 70, "bs": "4k", "iodepth": 16, "runtime": 10,
 *               "verify": "crc32c", "jobs": [{ "device": "vda" }, { "device": "xvda", "protocol": "x86_64-abi" }] }
 * ```
 */
import { childPath, isObject, jsonType, quote, type IssueList } from './issues.js';
import {
  READ_WRITE_VALUES,
  VERIFY_VALUES,
  XEN_PROTOCOL_VALUES,
  type DeviceSpec,
  type JobSpec,
  type ReadWrite,
  type VerifyMode,
  type XenProtocolName,
} from './types.js';
import { parseDurationNs, parseEnum, parseIntIn, parseSizeValue, type Parsed } from './values.js';

/** Largest request vmkit run issues (the guest drivers' buffers are preallocated per slot). */
export const MAX_BS = 1 << 20;
export const MAX_IODEPTH = 256;
/** Data pages one xen-block job may have granted at once (the guest's grant table has 16384). */
export const MAX_XEN_GRANTED_PAGES = 4096;
/** Virtio queue size when the device entry does not set `queue-size`. */
const DEFAULT_QUEUE_SIZE = 256;

const JOB_KEYS = [
  'rw',
  'rwmixread',
  'bs',
  'iodepth',
  'offset',
  'size',
  'io_size',
  'runtime',
  'verify',
  'randseed',
  'protocol',
] as const;
type JobKey = (typeof JOB_KEYS)[number];

interface JobOptions {
  rw: ReadWrite;
  rwmixread: number;
  bs: number;
  iodepth: number;
  offset: number;
  size: number | undefined;
  ioSize: number | undefined;
  runtimeNs: number | undefined;
  verify: VerifyMode;
  randseed: number;
  protocol: XenProtocolName | undefined;
}

const DEFAULTS: JobOptions = {
  rw: 'read',
  rwmixread: 50,
  bs: 4096,
  iodepth: 1,
  offset: 0,
  size: undefined,
  ioSize: undefined,
  runtimeNs: undefined,
  verify: 'none',
  randseed: 0x5eed,
  protocol: undefined,
};

function setParsed<T>(issues: IssueList, path: string, parsed: Parsed<T>, set: (v: T) => void): void {
  if (parsed.ok) set(parsed.value);
  else issues.add(path, parsed.rule);
}

/** Applies the options present in `src` over `base`; unknown keys other than `allowed` are issues. */
function readOptions(
  issues: IssueList,
  path: string,
  src: Record<string, unknown>,
  base: JobOptions,
  allowed: readonly string[],
): JobOptions {
  const o: JobOptions = { ...base };
  for (const [key, v] of Object.entries(src)) {
    const p = childPath(path, key);
    switch (key as JobKey) {
      case 'rw':
        setParsed(issues, p, parseEnum(v, READ_WRITE_VALUES), (x) => (o.rw = x));
        break;
      case 'rwmixread':
        setParsed(issues, p, parseIntIn(v, 0, 100), (x) => (o.rwmixread = x));
        break;
      case 'bs':
        setParsed(issues, p, parseSizeValue(v), (x) => {
          if (x < 512 || x > MAX_BS || x % 512 !== 0) {
            issues.add(p, `${quote(v)}: must be a multiple of 512 between 512 and ${MAX_BS / 1024}K`);
          } else o.bs = x;
        });
        break;
      case 'iodepth':
        setParsed(issues, p, parseIntIn(v, 1, MAX_IODEPTH), (x) => (o.iodepth = x));
        break;
      case 'offset':
        setParsed(issues, p, parseSizeValue(v), (x) => (o.offset = x));
        break;
      case 'size':
        setParsed(issues, p, parseSizeValue(v), (x) => {
          if (x === 0) issues.add(p, `${quote(v)}: must be more than 0`);
          else o.size = x;
        });
        break;
      case 'io_size':
        setParsed(issues, p, parseSizeValue(v), (x) => {
          if (x === 0) issues.add(p, `${quote(v)}: must be more than 0`);
          else o.ioSize = x;
        });
        break;
      case 'runtime':
        setParsed(issues, p, parseDurationNs(v), (x) => (o.runtimeNs = x));
        break;
      case 'verify':
        setParsed(issues, p, parseEnum(v, VERIFY_VALUES), (x) => (o.verify = x));
        break;
      case 'randseed':
        setParsed(issues, p, parseIntIn(v, 0, 0xffff_ffff), (x) => (o.randseed = x));
        break;
      case 'protocol':
        setParsed(issues, p, parseEnum(v, XEN_PROTOCOL_VALUES), (x) => (o.protocol = x));
        break;
      default:
        if (!allowed.includes(key)) {
          issues.add(p, `unknown option (known: ${[...JOB_KEYS, ...allowed].join(', ')})`);
        }
    }
  }
  return o;
}

/**
 * Validates `workload` against the devices; returns one job per driven device (every device when
 * `jobs` is absent), or undefined without a workload section.
 */
export function validateWorkload(
  issues: IssueList,
  v: unknown,
  devices: readonly DeviceSpec[],
): JobSpec[] | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) {
    issues.add('workload', `expected an object, got ${jsonType(v)}`);
    return [];
  }
  const global = readOptions(issues, 'workload', v, DEFAULTS, ['jobs']);
  const byId = new Map(devices.map((d) => [d.id, d]));
  const jobs: JobSpec[] = [];
  const entries: { path: string; src: Record<string, unknown>; device: string }[] = [];
  if (v.jobs === undefined) {
    for (const d of devices) entries.push({ path: 'workload', src: {}, device: d.id });
    if (devices.length === 0) issues.add('workload', 'no devices to drive (the config has no disk device)');
  } else if (!Array.isArray(v.jobs)) {
    issues.add('workload.jobs', `expected a list, got ${jsonType(v.jobs)}`);
  } else {
    const driven = new Map<string, string>();
    v.jobs.forEach((job: unknown, i) => {
      const path = childPath('workload.jobs', i);
      if (!isObject(job)) return issues.add(path, `expected an object, got ${jsonType(job)}`);
      const device = job.device;
      const dp = childPath(path, 'device');
      if (device === undefined) return issues.add(dp, 'required');
      if (typeof device !== 'string') return issues.add(dp, `expected a string, got ${jsonType(device)}`);
      if (!byId.has(device)) return issues.add(dp, `no device '${device}'`);
      const other = driven.get(device);
      if (other !== undefined) return issues.add(dp, `device '${device}' already has a job (${other})`);
      driven.set(device, path);
      entries.push({ path, src: job, device });
    });
  }
  for (const { path, src, device } of entries) {
    const o = readOptions(issues, path, src, global, ['device']);
    const dev = byId.get(device)!;
    if (dev.type !== 'xen-block' && src.protocol !== undefined) {
      issues.add(
        childPath(path, 'protocol'),
        `only xen-block devices have a ring protocol ('${device}' is ${dev.type})`,
      );
    }
    if (dev.type === 'virtio-blk') {
      const qs = dev.properties['queue-size'];
      // An invalid queue-size is reported with the device already.
      const queueSize = typeof qs === 'number' ? qs : DEFAULT_QUEUE_SIZE;
      const validQueue = Number.isInteger(queueSize) && queueSize >= 4 && (queueSize & (queueSize - 1)) === 0;
      if (validQueue && o.iodepth > queueSize) {
        const p = childPath(Object.hasOwn(src, 'iodepth') ? path : 'workload', 'iodepth');
        issues.add(
          p,
          `${o.iodepth} is more than the queue of virtio-blk '${device}' (queue-size ${queueSize})`,
        );
      }
    }
    if (dev.type === 'xen-block') {
      const pages = o.iodepth * Math.ceil(o.bs / 4096);
      if (pages > MAX_XEN_GRANTED_PAGES) {
        issues.add(
          childPath(path, 'iodepth'),
          `${o.iodepth} requests of ${o.bs} bytes need ${pages} granted pages; a xen-block job may use ${MAX_XEN_GRANTED_PAGES}`,
        );
      }
    }
    if (o.offset % o.bs !== 0) {
      issues.add(childPath(path, 'offset'), `${o.offset} is not a multiple of bs (${o.bs})`);
    }
    if (o.size !== undefined && o.size < o.bs) {
      issues.add(childPath(path, 'size'), `${o.size} is less than one block (bs ${o.bs})`);
    }
    jobs.push({
      path,
      device,
      rw: o.rw,
      rwmixread: o.rwmixread,
      bs: o.bs,
      iodepth: o.iodepth,
      offset: o.offset,
      size: o.size,
      ioSize: o.ioSize,
      runtimeNs: o.runtimeNs,
      verify: o.verify,
      randseed: o.randseed,
      protocol: o.protocol ?? 'native',
    });
  }
  return jobs;
}
