/**
 * The data a job writes: every block gets a header (magic, block number, write generation) and
 * pseudo-random bytes derived from them, so a block that lands at the wrong place or a stale copy
 * checksums differently from what was written there last.
 */
const MAGIC = 0x544b_4d56; // "VMKT" little-endian

/**
 * Fills `buf` (a whole block; its length a multiple of 4) for `block` at write `generation` of a
 * job seeded with `seed`.
 */
export function fillBlock(buf: Uint8Array, seed: number, block: number, generation: number): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  words[0] = MAGIC;
  words[1] = block >>> 0;
  words[2] = Math.floor(block / 0x1_0000_0000) >>> 0;
  words[3] = generation >>> 0;
  // xorshift32 seeded from the header: cheap, and different for every (seed, block, generation).
  let x = (seed ^ Math.imul(block >>> 0, 0x9e3779b1) ^ Math.imul(generation, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 4; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}
