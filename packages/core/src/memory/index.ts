export { GuestMemory, type GuestAddress } from './guest-memory.js';
export { GuestMemoryError, formatGuestAddress, type GuestMemoryErrorReason } from './guest-memory-error.js';
export type { GuestMemoryRegion } from './guest-memory-region.js';
export { IOVector } from './io-vector.js';
export { bufferIsZero } from './buffer-is-zero.js';
