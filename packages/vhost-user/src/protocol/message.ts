/** A vhost-user message: the 12-byte header (request, flags, size) and its payload. */
import { VHOST_USER_HEADER_SIZE, VhostUserFlag, vhostUserRequestName } from './constants.js';

export interface VhostUserHeader {
  readonly request: number;
  readonly flags: number;
  /** Payload size in bytes. */
  readonly size: number;
}

/** A message as read from the socket. */
export interface VhostUserMessage extends VhostUserHeader {
  /** Exactly `size` bytes. */
  readonly payload: Uint8Array;
  /**
   * Descriptors that came with the header, owned by whoever holds the message: a handler that
   * keeps one removes it from this array; the reader of the message closes what is left.
   */
  readonly fds: number[];
}

const EMPTY = new Uint8Array(0);

export function decodeHeader(bytes: Uint8Array): VhostUserHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, VHOST_USER_HEADER_SIZE);
  return {
    request: view.getUint32(0, true),
    flags: view.getUint32(4, true),
    size: view.getUint32(8, true),
  };
}

/** Header and payload in one buffer, sent with one sendmsg (the descriptors ride on its first byte). */
export function encodeMessage(request: number, flags: number, payload: Uint8Array = EMPTY): Uint8Array {
  const bytes = new Uint8Array(VHOST_USER_HEADER_SIZE + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, request >>> 0, true);
  view.setUint32(4, flags >>> 0, true);
  view.setUint32(8, payload.length, true);
  bytes.set(payload, VHOST_USER_HEADER_SIZE);
  return bytes;
}

/** A reply of the back-end: version 1 with the REPLY flag. */
export function encodeReply(request: number, payload: Uint8Array = EMPTY): Uint8Array {
  return encodeMessage(request, VhostUserFlag.VERSION | VhostUserFlag.REPLY, payload);
}

export function needsReply(message: VhostUserHeader): boolean {
  return (message.flags & VhostUserFlag.NEED_REPLY) !== 0;
}

/** `SET_VRING_NUM (8)` and the like, for messages and logs. */
export function describeRequest(message: VhostUserHeader): string {
  return vhostUserRequestName(message.request);
}
