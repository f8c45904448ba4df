/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum fio's `verify=crc32c` uses.
 * Slicing-by-8 over Int32Array tables (signed, so V8 keeps every step in int32 registers; uint32
 * values above 2^31 would be boxed doubles): eight bytes per step.
 */
const POLY = 0x82f63b78 | 0;

const TABLES: readonly Int32Array[] = (() => {
  const t: Int32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Int32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0][i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) t[k][i] = (t[k - 1][i] >>> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
})();

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** crc32c of `data` (unsigned), continuing from `crc` (default: a fresh checksum). */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc | 0;
  let i = 0;
  // Whole 32-bit words when the view is aligned (block buffers always are): half the loads.
  if (LITTLE_ENDIAN && (data.byteOffset & 3) === 0 && data.length >= 8) {
    const words = new Int32Array(data.buffer, data.byteOffset, (data.length >>> 3) << 1);
    c = crcWords(words, c);
    i = words.length << 2;
  }
  return ~crcBytes(data, i, c) >>> 0;
}

function crcWords(w: Int32Array, crc: number): number {
  const t0 = TABLES[0];
  const t1 = TABLES[1];
  const t2 = TABLES[2];
  const t3 = TABLES[3];
  const t4 = TABLES[4];
  const t5 = TABLES[5];
  const t6 = TABLES[6];
  const t7 = TABLES[7];
  let c = crc;
  for (let k = 0; k < w.length; k += 2) {
    const lo = c ^ w[k];
    const hi = w[k + 1];
    c =
      t7[lo & 0xff] ^
      t6[(lo >>> 8) & 0xff] ^
      t5[(lo >>> 16) & 0xff] ^
      t4[lo >>> 24] ^
      t3[hi & 0xff] ^
      t2[(hi >>> 8) & 0xff] ^
      t1[(hi >>> 16) & 0xff] ^
      t0[hi >>> 24];
  }
  return c;
}

function crcBytes(data: Uint8Array, from: number, crc: number): number {
  const t0 = TABLES[0];
  let c = crc;
  for (let i = from; i < data.length; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c;
}
