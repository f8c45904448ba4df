export { BlockBackend } from './block-backend.js';
export type { BlockDevOps } from './dev-ops.js';
export { errorActionFor, ioErrorEvent, isBlockdevOnError } from './error-action.js';
export { checkByteRequest, type ByteRequestTarget } from './checks.js';
export {
  BlockBackendRegistry,
  blockBackends,
  blkDrainAll,
  type BlockBackendRegistryEvents,
} from './registry.js';
export {
  blockDeviceInfo,
  blockInfo,
  blockStats,
  nodeBlockStats,
  nodeFilename,
  type BlockDeviceInfo,
  type BlockInfo,
  type BlockStats,
  type BlockdevCacheInfo,
  type ImageInfo,
} from './query.js';
export type {
  BlockAIOCB,
  BlockAioOp,
  BlockBackendEvents,
  BlockBackendOptions,
  BlockBackendRootState,
  BlockCompletionFunc,
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
  TrayMovedEvent,
} from './types.js';
