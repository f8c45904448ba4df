export {
  native,
  nativeAddonStatus,
  NativeAddonMissingError,
  NATIVE_ADDON_PATH,
  PollEvent,
  WatchMode,
  type NativeAddonStatus,
  type NativePollCallback,
  type NativePollWatcher,
  type ReceivedChunk,
  type VhostUserOsBinding,
} from './native.js';
export { OsErrno, OsError, osErrnoName, osStrerror } from './os-error.js';
export { FdWatcher, pollMask, type PollInterest } from './fd-watcher.js';
export { EventFd, type EventFdOptions, type EventFdWatchOptions } from './event-fd.js';
export { createPreciseTimer, PreciseTimers } from './precise-timers.js';
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

// vhost-user protocol
export * from './protocol/constants.js';
export { VhostUserProtocolError } from './protocol/protocol-error.js';
export {
  decodeHeader,
  encodeMessage,
  encodeReply,
  needsReply,
  type VhostUserHeader,
  type VhostUserMessage,
} from './protocol/message.js';
export {
  decodeConfigAccess,
  decodeMemoryTable,
  decodeU64,
  decodeVringAddress,
  decodeVringState,
  encodeConfigAccess,
  encodeMemoryTable,
  encodeU64,
  encodeVringAddress,
  encodeVringState,
  type ConfigAccess,
  type MemoryRegionDescription,
  type VringAddress,
  type VringState,
} from './protocol/payloads.js';
export {
  isReadEnd,
  readMessage,
  type ReadMessageOptions,
  type VhostUserDirection,
  type VhostUserReadEnd,
} from './protocol/reader.js';
export { VhostUserMaster, type MasterRequestOptions } from './protocol/master.js';

// vhost-user back-end for any VirtioDevice
export {
  VhostUserBackend,
  VHOST_USER_BACKEND_PROTOCOL_FEATURES,
  type VhostUserBackendOptions,
  type VhostUserCloseInfo,
} from './backend/vhost-user-backend.js';
export {
  VhostUserServer,
  type VhostUserConnectEvent,
  type VhostUserDisconnectEvent,
  type VhostUserRejectEvent,
  type VhostUserServerEvents,
  type VhostUserServerOptions,
} from './backend/vhost-user-server.js';
export { VhostUserTransport } from './backend/vhost-user-transport.js';
export { MAX_MAPPING_CHUNK, VhostMemoryTable, type VhostMemoryRegion } from './backend/memory-table.js';
export { describeStatus, type VhostUserBackendStatus, type VhostUserRingStatus } from './backend/status.js';
