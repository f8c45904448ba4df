/**
 * Payload layouts of vhost-user messages, decoded with their size checked (a wrong size is a
 * VhostUserProtocolError naming the request) and encoded for replies and for a front-end.
 */
import {
  VHOST_USER_MAX_CONFIG_SIZE,
  VHOST_USER_MAX_MEM_REGIONS,
  VhostUserPayloadSize as Size,
} from './constants.js';
import { describeRequest, type VhostUserMessage } from './message.js';
import { VhostUserProtocolError } from './protocol-error.js';

/** A vring state description (SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE). */
export interface VringState {
  readonly index: number;
  readonly num: number;
}

/** A vring address description (SET_VRING_ADDR); ring addresses are front-end virtual addresses. */
export interface VringAddress {
  readonly index: number;
  readonly flags: number;
  readonly desc: bigint;
  readonly used: bigint;
  readonly avail: bigint;
  /** Guest-physical address for logging used-ring writes. */
  readonly log: bigint;
}

/** One region of a SET_MEM_TABLE payload. */
export interface MemoryRegionDescription {
  readonly guestPhysAddr: bigint;
  readonly memorySize: bigint;
  /** The region's address in the front-end's (QEMU's) address space. */
  readonly userspaceAddr: bigint;
  /** Where the region starts in its file. */
  readonly mmapOffset: bigint;
}

/** A config-space access (GET_CONFIG/SET_CONFIG). */
export interface ConfigAccess {
  readonly offset: number;
  readonly flags: number;
  /** `size` bytes: the data written, or (GET_CONFIG) the front-end's placeholder. */
  readonly data: Uint8Array;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function protocolError(message: VhostUserMessage, what: string): VhostUserProtocolError {
  return new VhostUserProtocolError(`${describeRequest(message)}: ${what}`);
}

/** The payload must be exactly `size` bytes. */
export function expectPayloadSize(message: VhostUserMessage, size: number): void {
  if (message.size !== size) {
    throw protocolError(message, `payload is ${message.size} bytes, ${size} expected`);
  }
}

/** Exactly `count` descriptors must come with the message. */
export function expectFdCount(message: VhostUserMessage, count: number): void {
  if (message.fds.length !== count) {
    throw protocolError(message, `${message.fds.length} file descriptor(s) attached, ${count} expected`);
  }
}

export function decodeU64(message: VhostUserMessage): bigint {
  expectPayloadSize(message, Size.U64);
  return viewOf(message.payload).getBigUint64(0, true);
}

export function encodeU64(value: bigint | number): Uint8Array {
  const bytes = new Uint8Array(Size.U64);
  viewOf(bytes).setBigUint64(0, BigInt.asUintN(64, BigInt(value)), true);
  return bytes;
}

export function decodeVringState(message: VhostUserMessage): VringState {
  expectPayloadSize(message, Size.VRING_STATE);
  const view = viewOf(message.payload);
  return { index: view.getUint32(0, true), num: view.getUint32(4, true) };
}

export function encodeVringState(state: VringState): Uint8Array {
  const bytes = new Uint8Array(Size.VRING_STATE);
  const view = viewOf(bytes);
  view.setUint32(0, state.index >>> 0, true);
  view.setUint32(4, state.num >>> 0, true);
  return bytes;
}

export function decodeVringAddress(message: VhostUserMessage): VringAddress {
  expectPayloadSize(message, Size.VRING_ADDR);
  const view = viewOf(message.payload);
  // struct vhost_vring_addr: index, flags, desc, used, avail, log (used before avail).
  return {
    index: view.getUint32(0, true),
    flags: view.getUint32(4, true),
    desc: view.getBigUint64(8, true),
    used: view.getBigUint64(16, true),
    avail: view.getBigUint64(24, true),
    log: view.getBigUint64(32, true),
  };
}

export function encodeVringAddress(addr: VringAddress): Uint8Array {
  const bytes = new Uint8Array(Size.VRING_ADDR);
  const view = viewOf(bytes);
  view.setUint32(0, addr.index >>> 0, true);
  view.setUint32(4, addr.flags >>> 0, true);
  view.setBigUint64(8, addr.desc, true);
  view.setBigUint64(16, addr.used, true);
  view.setBigUint64(24, addr.avail, true);
  view.setBigUint64(32, addr.log, true);
  return bytes;
}

/**
 * SET_MEM_TABLE: nregions u32, padding u32, then nregions regions of 32 bytes. QEMU sends only
 * the regions in use; a payload padded to the full 8-region struct is accepted too.
 */
export function decodeMemoryTable(message: VhostUserMessage): MemoryRegionDescription[] {
  if (message.size < Size.MEMORY_HEADER) {
    throw protocolError(message, `payload is ${message.size} bytes, at least ${Size.MEMORY_HEADER} expected`);
  }
  const view = viewOf(message.payload);
  const count = view.getUint32(0, true);
  if (count > VHOST_USER_MAX_MEM_REGIONS) {
    throw protocolError(message, `${count} regions, at most ${VHOST_USER_MAX_MEM_REGIONS} allowed`);
  }
  const exact = Size.MEMORY_HEADER + count * Size.MEMORY_REGION;
  const full = Size.MEMORY_HEADER + VHOST_USER_MAX_MEM_REGIONS * Size.MEMORY_REGION;
  if (message.size !== exact && message.size !== full) {
    throw protocolError(message, `payload is ${message.size} bytes, ${exact} expected for ${count} regions`);
  }
  const regions: MemoryRegionDescription[] = [];
  for (let i = 0; i < count; i++) {
    const off = Size.MEMORY_HEADER + i * Size.MEMORY_REGION;
    regions.push({
      guestPhysAddr: view.getBigUint64(off, true),
      memorySize: view.getBigUint64(off + 8, true),
      userspaceAddr: view.getBigUint64(off + 16, true),
      mmapOffset: view.getBigUint64(off + 24, true),
    });
  }
  return regions;
}

export function encodeMemoryTable(regions: readonly MemoryRegionDescription[]): Uint8Array {
  const bytes = new Uint8Array(Size.MEMORY_HEADER + regions.length * Size.MEMORY_REGION);
  const view = viewOf(bytes);
  view.setUint32(0, regions.length, true);
  regions.forEach((r, i) => {
    const off = Size.MEMORY_HEADER + i * Size.MEMORY_REGION;
    view.setBigUint64(off, r.guestPhysAddr, true);
    view.setBigUint64(off + 8, r.memorySize, true);
    view.setBigUint64(off + 16, r.userspaceAddr, true);
    view.setBigUint64(off + 24, r.mmapOffset, true);
  });
  return bytes;
}

/** GET_CONFIG/SET_CONFIG: offset u32, size u32, flags u32, then `size` bytes (at most 256). */
export function decodeConfigAccess(message: VhostUserMessage): ConfigAccess {
  if (message.size < Size.CONFIG_HEADER) {
    throw protocolError(message, `payload is ${message.size} bytes, at least ${Size.CONFIG_HEADER} expected`);
  }
  const view = viewOf(message.payload);
  const offset = view.getUint32(0, true);
  const size = view.getUint32(4, true);
  const flags = view.getUint32(8, true);
  if (size > VHOST_USER_MAX_CONFIG_SIZE) {
    throw protocolError(
      message,
      `config access of ${size} bytes, at most ${VHOST_USER_MAX_CONFIG_SIZE} allowed`,
    );
  }
  if (message.size !== Size.CONFIG_HEADER + size) {
    throw protocolError(
      message,
      `payload is ${message.size} bytes, ${Size.CONFIG_HEADER + size} expected for a ${size}-byte access`,
    );
  }
  if (offset > VHOST_USER_MAX_CONFIG_SIZE - size) {
    throw protocolError(
      message,
      `config access [${offset}, ${offset + size}) beyond ${VHOST_USER_MAX_CONFIG_SIZE} bytes`,
    );
  }
  return { offset, flags, data: message.payload.subarray(Size.CONFIG_HEADER) };
}

export function encodeConfigAccess(access: ConfigAccess): Uint8Array {
  const bytes = new Uint8Array(Size.CONFIG_HEADER + access.data.length);
  const view = viewOf(bytes);
  view.setUint32(0, access.offset >>> 0, true);
  view.setUint32(4, access.data.length, true);
  view.setUint32(8, access.flags >>> 0, true);
  bytes.set(access.data, Size.CONFIG_HEADER);
  return bytes;
}
