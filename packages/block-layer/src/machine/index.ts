export { blockLayerPlugin, createBlockLayerPlugin, BLOCK_LAYER_PLUGIN_NAME } from './plugin.js';
export {
  BlockLayer,
  type AddBlockBackendOptions,
  type BlockLayerOptions,
  type SetIoThrottleArgs,
} from './service.js';
export { blockLayerOf, throttleGroupObjectType } from './throttle-group-type.js';
export { builtinDrivers, isBlockDriver } from './drivers.js';
export { toQemuBlockdevOptions } from './options.js';
export { reopenNodes, ReopenTransaction } from './reopen.js';
