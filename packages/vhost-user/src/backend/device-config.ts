/**
 * Config-space access for GET_CONFIG/SET_CONFIG through the device's register-style API (the
 * same path a virtio-mmio guest takes), in naturally aligned pieces of 4, 2 or 1 bytes.
 */
import type { VirtioDevice } from '@vmkit/virtio';

function pieceSize(offset: number, left: number): 1 | 2 | 4 {
  if (offset % 4 === 0 && left >= 4) return 4;
  if (offset % 2 === 0 && left >= 2) return 2;
  return 1;
}

/**
 * `length` bytes of config space from `offset`; bytes beyond the device's config space read as
 * zero (the front-end may ask for a larger struct than the device implements).
 */
export function readDeviceConfig(device: VirtioDevice, offset: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  const end = Math.min(offset + length, device.configSize);
  for (let at = offset; at < end;) {
    const size = pieceSize(at, end - at);
    let value = device.readConfig(at, size);
    for (let i = 0; i < size; i++, value >>>= 8) data[at - offset + i] = value & 0xff;
    at += size;
  }
  return data;
}

/** Writes `data` at `offset`; the device decides which fields are writable, and ignores the rest. */
export function writeDeviceConfig(device: VirtioDevice, offset: number, data: Uint8Array): void {
  const end = Math.min(offset + data.length, device.configSize);
  for (let at = offset; at < end;) {
    const size = pieceSize(at, end - at);
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + data[at - offset + i];
    device.writeConfig(at, value, size);
    at += size;
  }
}
