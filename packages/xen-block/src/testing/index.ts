export {
  FrontRing,
  encodeBlkifRequest,
  type BlkifResponse,
  type FrontRequest,
  type FrontRingOptions,
  type FrontSegment,
} from './front-ring.js';
export { GuestFrameAllocator } from './frame-allocator.js';
export { BlkfrontIoError, DataPages, type DataPage } from './data-pages.js';
export { Blkfront, BLKFRONT_MAX_SECTORS } from './blkfront.js';
export type { BlkfrontInfo, BlkfrontOptions, BlkfrontRequest, SubmitOptions } from './blkfront-options.js';
export { ReferenceBlkback, type ReferenceBlkbackOptions } from './reference-blkback.js';
export { waitForWatch } from './xenstore-wait.js';
export { BlkfrontStream, type BlkfrontStreamOptions, type BlkfrontStreamResult } from './blkfront-stream.js';
