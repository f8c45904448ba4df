export {
  native,
  nativeAddonStatus,
  NativeAddonMissingError,
  NATIVE_ADDON_PATH,
  PollEvent,
  type NativeAddonStatus,
  type NativePollCallback,
  type NativePollWatcher,
  type ReceivedChunk,
  type VhostUserOsBinding,
} from './native.js';
export { OsErrno, OsError, osErrnoName, osStrerror } from './os-error.js';
export { FdWatcher, pollMask, type PollInterest } from './fd-watcher.js';
export { EventFd, type EventFdOptions } from './event-fd.js';
export { createMemfd, mapRegion, MappedRegion, type MapOptions } from './memory-region.js';
export { closeFd, closeFds } from './descriptors.js';
export {
  DEFAULT_MAX_FDS,
  UnixConnection,
  type ReadOptions,
  type ReadResult,
  type ReceivedBytes,
} from './unix-connection.js';
export { UnixListener, type ListenOptions } from './unix-listener.js';
