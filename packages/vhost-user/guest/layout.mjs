// The disk the full guest check runs on, as both sides see it. Every 4 KiB block holds 256 copies
// of a 16-byte line "<tag><block number, 12 digits>\n", so the guest (busybox awk) and the host
// (this file) produce identical bytes for any region; the host can therefore tell what the
// whole image must hold after the guest has run, except the fio region, which fio verifies itself.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

export const BLOCK = 4096;
const LINE = 16;

/**
 * Regions in 4 KiB blocks. `read4k`/`write4k` are single blocks; `read1m`/`write1m` must be
 * 256-aligned (one 1 MiB dd block).
 * @typedef {{
 *   blocks: number,
 *   read4k: number,
 *   read1m: number,
 *   write4k: number,
 *   write1m: number,
 *   discard: { start: number, count: number },
 *   fsync: { start: number, count: number },
 *   fio: { start: number, count: number },
 * }} CheckLayout
 */

/** 16 MiB: each step touches its own region, and the whole-disk md5 stays cheap under TCG. */
/** @type {CheckLayout} */
export const DEFAULT_LAYOUT = Object.freeze({
  blocks: 4096,
  read4k: 777,
  read1m: 1 * 256,
  write4k: 1029,
  write1m: 5 * 256,
  discard: { start: 7 * 256, count: 256 },
  fsync: { start: 9 * 256, count: 16 },
  fio: { start: 10 * 256, count: 1024 },
});

/** Tags of the patterns (3 characters, matching the guest's /init). */
export const TAG = Object.freeze({ initial: 'ini', write4k: 'w4k', write1m: 'w1m', fsync: 'fsy' });

/**
 * The 4 KiB of block `block` written with `tag`.
 * @param {string} tag
 * @param {number} block
 * @returns {Buffer}
 */
export function blockPattern(tag, block) {
  const line = `${tag}${String(block).padStart(12, '0')}\n`;
  if (line.length !== LINE) throw new RangeError(`pattern line for ${tag}/${block} is not ${LINE} bytes`);
  return Buffer.from(line.repeat(BLOCK / LINE), 'latin1');
}

/**
 * Writes the initial image (every block tagged `ini`) and returns its md5, which the guest checks.
 * @param {string} path
 * @param {CheckLayout} [layout]
 * @returns {{ md5: string, bytes: number }}
 */
export function createCheckImage(path, layout = DEFAULT_LAYOUT) {
  const hash = createHash('md5');
  const fd = openSync(path, 'w', 0o644);
  try {
    const chunkBlocks = 256;
    for (let b = 0; b < layout.blocks; b += chunkBlocks) {
      const n = Math.min(chunkBlocks, layout.blocks - b);
      const parts = [];
      for (let i = 0; i < n; i++) parts.push(blockPattern(TAG.initial, b + i));
      const chunk = Buffer.concat(parts);
      writeSync(fd, chunk, 0, chunk.length, b * BLOCK);
      hash.update(chunk);
    }
  } finally {
    closeSync(fd);
  }
  return { md5: hash.digest('hex'), bytes: layout.blocks * BLOCK };
}

/**
 * The kernel command-line parameters (`vmkit.*`) that drive the guest's full check.
 * @param {CheckLayout} layout
 * @param {string} md5 of the initial image
 * @returns {Record<string, string>}
 */
export function fullCheckParams(layout, md5) {
  /** @param {{ start: number, count: number }} r */
  const range = (r) => `${r.start}:${r.count}`;
  return {
    test: 'full',
    size: String(layout.blocks * BLOCK),
    md5,
    r4k: String(layout.read4k),
    r1m: String(layout.read1m),
    w4k: String(layout.write4k),
    w1m: String(layout.write1m),
    discard: range(layout.discard),
    fsync: range(layout.fsync),
    fio: range(layout.fio),
  };
}

/**
 * What block `b` must hold after a successful full check: `null` where the host does not know
 * (fio's region), a list of acceptable contents elsewhere (a discarded block may keep its data or
 * read as zeroes, depending on the backend).
 * @param {CheckLayout} layout
 * @param {number} b
 * @returns {Buffer[] | null}
 */
export function expectedBlock(layout, b) {
  /** @param {{ start: number, count: number }} r */
  const inRange = (r) => b >= r.start && b < r.start + r.count;
  if (inRange(layout.fio)) return null;
  if (b === layout.write4k) return [blockPattern(TAG.write4k, b)];
  if (b >= layout.write1m && b < layout.write1m + 256) return [blockPattern(TAG.write1m, b)];
  if (inRange(layout.fsync)) return [blockPattern(TAG.fsync, b)];
  if (inRange(layout.discard)) return [blockPattern(TAG.initial, b), Buffer.alloc(BLOCK)];
  return [blockPattern(TAG.initial, b)];
}

/**
 * Compares the image after the guest ran with what it must hold; returns the mismatching block
 * ranges (empty when the image is as expected).
 * @param {string} path
 * @param {CheckLayout} [layout]
 * @returns {{ start: number, count: number }[]}
 */
export function verifyCheckImage(path, layout = DEFAULT_LAYOUT) {
  /** @type {{ start: number, count: number }[]} */
  const bad = [];
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(BLOCK);
  try {
    for (let b = 0; b < layout.blocks; b++) {
      const n = readSync(fd, buf, 0, BLOCK, b * BLOCK);
      const want = expectedBlock(layout, b);
      if (want === null) continue;
      const ok = n === BLOCK && want.some((w) => w.equals(buf));
      if (ok) continue;
      const last = bad.at(-1);
      if (last && last.start + last.count === b) last.count++;
      else bad.push({ start: b, count: 1 });
    }
  } finally {
    closeSync(fd);
  }
  return bad;
}
