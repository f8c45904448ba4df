export * from './constants.js';
export * from './backend/event-channels.js';
export * from './backend/grant-tables.js';
export * from './backend/foreign-memory.js';
export * from './backend/xenstore.js';
export * from './backend/tokens.js';
export {
  InProcessXen,
  type InProcessXenOptions,
  type CreateDomainOptions,
  type XenBackendInterfaces,
} from './in-process/in-process-xen.js';
export { XenGuestDomain, type GuestPortHandler } from './in-process/guest-domain.js';
export { XenBus, type XenBusOptions } from './bus/xen-bus.js';
export { XenDevice, xenDeviceProperties, type XenDeviceProps } from './bus/xen-device.js';
export { XenDeviceError } from './bus/xen-device-error.js';
export {
  parseXenUint,
  readEventChannel,
  readProtocol,
  readRingRefs,
  type KeyReader,
  type XenProtocol,
} from './bus/frontend-keys.js';
export { XEN_BACKEND_TYPE, contributeXenBackendType, type XenBackendType } from './bus/backend-type.js';
export { XenBridge, xenBridgeType, xenBusType } from './bus/xen-bridge.js';
export type { XenWatch } from './bus/watch-list.js';
export { xenBusPlugin, IN_PROCESS_XEN, XEN_BUS_PLUGIN_NAME } from './plugin.js';
