export * from './crc32.js';
export * from './crc32-device.js';
export { virtioCrc32DeviceType, virtioCrc32Plugin } from './plugin.js';
export { Crc32Guest, type ChecksumOptions, type Crc32Result, type MmioWindowWithIrq } from './guest.js';
