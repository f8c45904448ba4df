export { memoryDriver, MemoryState, MEMORY_CHUNK_SIZE, type MemoryOptions } from './memory.js';
export { nullCoDriver, type NullOptions, type NullState } from './null-co.js';
export { rawDriver, type RawOptions, type RawState } from './raw.js';
export {
  fileDriver,
  fileIo,
  allocAligned,
  FileState,
  type FileIoCalls,
  type FileOptions,
  type FileAio,
  type FileLocking,
} from './file.js';
export { blkdebugDriver, BlkdebugState, findBlkdebug } from './blkdebug.js';
export { BlkdebugRules } from './blkdebug-rules.js';
export {
  BLKDEBUG_IO_TYPES,
  parseBlkdebugConfig,
  parseBlkdebugOptions,
  type BlkdebugConfig,
  type BlkdebugIoType,
  type BlkdebugOptions,
  type InjectErrorRule,
  type InjectErrorSpec,
  type SetStateRule,
  type SetStateSpec,
} from './blkdebug-options.js';
