/** Below this, a plain byte loop beats creating a word view. */
const WORD_SCAN_MIN = 64;

/** Whether every byte of `bytes` is zero (QEMU buffer_is_zero); scans 32-bit words where it can. */
export function bufferIsZero(bytes: Uint8Array): boolean {
  const len = bytes.length;
  let i = 0;
  if (len >= WORD_SCAN_MIN) {
    // Align to the buffer's 4-byte boundary so the middle can be read as words.
    const head = (4 - (bytes.byteOffset & 3)) & 3;
    for (; i < head; i++) if (bytes[i] !== 0) return false;
    const count = (len - head) >>> 2;
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + head, count);
    for (let w = 0; w < count; w++) if (words[w] !== 0) return false;
    i = head + count * 4;
  }
  for (; i < len; i++) if (bytes[i] !== 0) return false;
  return true;
}
