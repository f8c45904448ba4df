/**
 * CRC-32 in its two common reflected forms, table-driven and incremental like zlib's `crc32()`:
 * `crc32Update(table, crc, bytes)` continues from the CRC of the data before `bytes` (0 to start).
 */

/** CRC-32 of Ethernet, zlib and PNG (reflected polynomial 0x04C11DB7). */
export const CRC32_IEEE_POLY = 0xedb88320;
/** CRC-32C of iSCSI, ext4 and SSE4.2 (Castagnoli, reflected polynomial 0x1EDC6F41). */
export const CRC32C_POLY = 0x82f63b78;

function makeTable(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? poly ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

export const CRC32_IEEE_TABLE = makeTable(CRC32_IEEE_POLY);
export const CRC32C_TABLE = makeTable(CRC32C_POLY);

/** Continues `crc` (the CRC of the preceding data, 0 for none) over `bytes`. */
export function crc32Update(table: Uint32Array, crc: number, bytes: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** The CRC-32 (IEEE) of `bytes`: `crc32(new TextEncoder().encode('123456789')) === 0xcbf43926`. */
export const crc32 = (bytes: Uint8Array, crc = 0): number => crc32Update(CRC32_IEEE_TABLE, crc, bytes);

/** The CRC-32C of `bytes`: `crc32c(new TextEncoder().encode('123456789')) === 0xe3069283`. */
export const crc32c = (bytes: Uint8Array, crc = 0): number => crc32Update(CRC32C_TABLE, crc, bytes);
