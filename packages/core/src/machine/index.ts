export {
  DEVICE_TYPE,
  BUS_TYPE,
  OBJECT_TYPE,
  BLOCK_DRIVER,
  MACHINE,
  BLOCK_LAYER,
  type Contribution,
} from './tokens.js';
export {
  definePlugin,
  type PluginContext,
  type PluginOptions,
  type PluginRegister,
  type VmkitPlugin,
} from './plugin.js';
export { sysbusType } from './core-plugin.js';
export {
  Registry,
  DeviceTypeRegistry,
  BusTypeRegistry,
  ObjectTypeRegistry,
  BlockDriverRegistry,
} from './registry.js';
export {
  PropertyError,
  parseSize,
  tryParseSize,
  formatSize,
  formatValue,
  validateProperties,
  type PropertySpec,
  type PropertyKind,
  type PropertySchema,
  type PropertyValue,
  type PropertyValues,
  type BoolProperty,
  type IntProperty,
  type SizeProperty,
  type StringProperty,
  type EnumProperty,
  type LinkProperty,
  type LinkResolver,
} from './properties.js';
export {
  defineDeviceType,
  type Bus,
  type BusHooks,
  type BusType,
  type CreateBusOptions,
  type Device,
  type DeviceAddOptions,
  type DeviceContext,
  type DeviceInfo,
  type DeviceState,
  type DeviceType,
} from './device.js';
export {
  defineObjectType,
  iothreadObjectType,
  type ObjectAddOptions,
  type ObjectContext,
  type ObjectInfo,
  type ObjectType,
} from './objects.js';
export type {
  BlockBackendOf,
  BlockDriverContribution,
  BlockdevOptions,
  BlockLayerService,
  BlockLayerTypes,
  BlockNodeOf,
} from './block-layer.js';
export {
  TypedEmitter,
  type BlockIoErrorEvent,
  type Disposer,
  type EntityEvent,
  type EventMap,
  type Listener,
  type MachineEvents,
} from './events.js';
export type { RunState, RunStateHandler, StopReason } from './run-state.js';
export { Machine, type MachineOptions, type MachineRegistries } from './machine.js';
