export {
  VirtioBlkDriver,
  withoutFeatures,
  type BlkCompletion,
  type BlkLayout,
  type BlkRequest,
  type BlkRequestSpec,
  type VirtioBlkDriverOptions,
  type VirtioBlkInitOptions,
} from './virtio-blk-driver.js';
export { VirtioBlkLoad, type BlkLoadCallback, type BlkLoadOptions } from './load.js';
export {
  encodeDiscardRanges,
  encodeOutHeader,
  readVirtioBlkConfig,
  type ConfigReader,
  type DiscardRange,
  type VirtioBlkConfigInfo,
} from './wire.js';
