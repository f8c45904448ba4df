/**
 * @vmkit/cli: the `vmkit` command. `vmkit run [CONFIG]` builds a machine from a JSON config in
 * QEMU's vocabulary and drives its disks with an fio-like workload through each device's guest
 * testing driver. Everything the binary does is callable in-process (`vmkitMain`, `vmkitRun`),
 * and the pieces (config validation, the workload engine, the reports) are exported for reuse.
 */
export { vmkitMain, VMKIT_CLI_VERSION } from './cli/main.js';
export { vmkitRun, EXIT_INTERRUPTED, type RunIo } from './cli/run.js';
export {
  parseRunArgs,
  parseQmpAddress,
  RUN_USAGE,
  UsageError,
  type OutputFormat,
  type RunArgs,
} from './cli/args.js';
export { ConfigIssues, IssueList, formatIssue, type ConfigIssue } from './config/issues.js';
export * from './config/types.js';
export { parseConfigJson, validateConfig, CONFIG_SECTIONS } from './config/validate.js';
export type { MachineSchema } from './config/validate-machine.js';
export { MAX_BS, MAX_IODEPTH, MAX_XEN_GRANTED_PAGES } from './config/validate-workload.js';
export { defaultConfig, DEFAULT_IMAGE_SIZE } from './config/default-config.js';
export { parseDurationNs, parseSizeValue } from './config/values.js';
export { createRunMachine, machineSchema } from './machine/plugins.js';
export { buildMachine, STATS_INTERVAL_S, type DeviceHandle } from './machine/build.js';
export { crc32c } from './workload/crc32c.js';
export { Prng } from './workload/prng.js';
export { OffsetGenerator, type IoDirection } from './workload/offsets.js';
export { fillBlock } from './workload/pattern.js';
export { VerifyMap, type VerifyFailure } from './workload/verify-map.js';
export type { GuestDisk, GuestReadResult } from './workload/guest-disk.js';
export { VirtioBlkGuestDisk } from './workload/virtio-blk-disk.js';
export { XenBlkGuestDisk } from './workload/xen-blk-disk.js';
export {
  JobRunner,
  jobRegion,
  DRAIN_TIMEOUT_NS,
  type GuestCounters,
  type JobRegion,
  type StopReason,
} from './workload/runner.js';
export { LATENCY_BOUNDARIES_NS, histogramPercentile } from './report/histogram.js';
export {
  deviceSummary,
  type DeviceSummary,
  type OpSummary,
  type LatencySummary,
  type VerifySummary,
} from './report/device-summary.js';
export {
  formatSummary,
  runSummary,
  summaryJson,
  SUMMARY_COLUMNS,
  type RunSummary,
} from './report/summary.js';
export { Progress, type ProgressMode, type ProgressSample, type ProgressSource } from './report/progress.js';
