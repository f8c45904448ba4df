export { QmpMonitor, DEFAULT_QMP_VERSION } from './monitor.js';
export type {
  QmpEventMessage,
  QmpMonitorOptions,
  QmpShutdownCause,
  QmpTimestamp,
  QmpTimestampSource,
  QmpVersionInfo,
} from './monitor.js';
export { QmpSession } from './session.js';
export type { QmpResponse, QmpSessionHost, QmpSessionState, QmpTransport } from './session.js';
export { QmpServer, type QmpServerOptions } from './server.js';
export { QmpCommandRegistry, defineCommand, type QmpCommand, type QmpCommandContext } from './command.js';
export { QmpError, toQmpError, type QmpErrorBody, type QmpErrorClass } from './errors.js';
export {
  validateArguments,
  type QmpArgsOf,
  type QmpArgsSchema,
  type QmpEnumType,
  type QmpListType,
  type QmpScalarType,
  type QmpStructType,
  type QmpType,
  type QmpValueOf,
} from './schema.js';
export {
  blockIoErrorData,
  deviceDeletedData,
  subscribeMachineEvents,
  type BlockIoErrorData,
  type DeviceDeletedData,
} from './events.js';
export * from './commands/index.js';
export * from './json/index.js';
