export * from './constants.js';
export {
  virtioBlkProperties,
  resolveConf,
  type VirtioBlkConf,
  type VirtioBlkOnError,
  type VirtioBlkProperties,
} from './conf.js';
export { guessGeometry, physicalBlockExp, virtioBlkConfigSize, type BlockGeometry } from './config-space.js';
export { VirtioBlk } from './virtio-blk.js';
export { virtioBlkDeviceType, virtioBlkPlugin } from './plugin.js';
