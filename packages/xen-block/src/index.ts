export * from './ring/index.js';
export {
  parseXenBlockVdev,
  checkVdev,
  VDEV_RULE,
  type XenBlockVdev,
  type XenBlockVdevType,
} from './device/vdev.js';
export { xenBlockProperties } from './device/properties.js';
export { XenBlockDevice, type XenBlockProps, type XenBlockOwned } from './device/xen-block-device.js';
export { xenBlockDeviceType } from './device/type.js';
export { qdiskBackendType } from './device/qdisk-backend.js';
export {
  XenBlockDataPlane,
  IO_PLUG_THRESHOLD,
  type XenBlockDataPlaneOptions,
} from './dataplane/dataplane.js';
export type { XenBlockDataPlaneHost } from './dataplane/host.js';
export { XenBlockRequest, XEN_BLOCK_BUFFER_SIZE } from './dataplane/request.js';
export { xenBlockPlugin, XEN_BLOCK_PLUGIN_NAME } from './plugin.js';
