/**
 * @vmkit/storage-daemon: vmkit-storage-daemon, qemu-storage-daemon over vmkit's block layer. Block
 * nodes are exported as vhost-user-blk devices (vmkit's virtio-blk behind a vhost-user socket).
 */
export {
  runStorageDaemon,
  DAEMON_USAGE,
  DAEMON_VERSION,
  type DaemonStdio,
  type SignalSource,
} from './main.js';
export {
  StorageDaemon,
  DAEMON_NAME,
  type ShutdownResult,
  type StorageDaemonOptions,
} from './daemon/storage-daemon.js';
export { VhostUserBlkExport, type ExportLog } from './daemon/vhost-user-blk-export.js';
export {
  parseDaemonCommandLine,
  DaemonOptionError,
  type DaemonAction,
  type DaemonActionKind,
  type DaemonCommandLine,
} from './options/command-line.js';
export {
  parseExportOptions,
  DEFAULT_COALESCE_USECS,
  type ExportOptions,
  type ExportType,
  type UnixSocketAddress,
  type VhostUserBlkExportOptions,
} from './options/export.js';
export { parseBlockdevOptions, parseObjectOptions } from './options/blockdev-object.js';
export {
  parseChardevOptions,
  parseMonitorOptions,
  type ChardevOptions,
  type MonitorOptions,
  type SocketChardevOptions,
} from './options/monitor.js';
export { KeyvalReader, parseKeyval } from './options/keyval.js';
