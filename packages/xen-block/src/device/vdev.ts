/**
 * The `vdev` property of a xen-block device (QEMU hw/block/xen-block.c xen_block_set_vdev): a
 * Linux-style disk name turned into the VBD number the frontend finds under `device/vbd/<n>`.
 *
 * - `xvd<letters>[<partition>]`: disks a..p with partitions 0..15 → (202 << 8) | disk << 4 | part;
 *   larger ones (disk < 2^20, partition < 256) use the extended form (1 << 28) | disk << 8 | part;
 * - `d<disk>[p<partition>]`: the same numbers as xvd, the disk given in decimal;
 * - `hd<letters>[<partition>]`: hda/hdb (major 3) and hdc/hdd (major 22), partitions < 64;
 * - `sd<letters>[<partition>]`: sda..sdp (major 8), partitions < 16.
 *
 * Letters count in bijective base 26 (a = 0, z = 25, aa = 26 ...) in a 32-bit unsigned counter,
 * and numbers are read like strtoul (leading blanks and a sign allowed; a minus wraps modulo
 * 2^64), exactly as QEMU does; anything else is "invalid virtual disk specifier".
 */

/** The kind of name (XenBlockVdevType). */
export type XenBlockVdevType = 'xvd' | 'hd' | 'sd' | 'dp';

/** A parsed `vdev`. */
export interface XenBlockVdev {
  readonly type: XenBlockVdevType;
  readonly disk: number;
  readonly partition: number;
  /** The VBD number: the device's name in xenstore (`backend/qdisk/<fe>/<number>`). */
  readonly number: number;
}

/** The rule a bad `vdev` breaks (QEMU's error text). */
export const VDEV_RULE = 'invalid virtual disk specifier';

const XVDA_MAJOR = 202;
const HDA_MAJOR = 3;
const HDC_MAJOR = 22;
const SDA_MAJOR = 8;
const U64 = 1n << 64n;

interface Scanned {
  readonly value: bigint;
  /** Index just after the number. */
  readonly end: number;
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

/**
 * qemu_strtoul(base 10) with an end pointer: undefined when no digits follow (EINVAL) or the
 * value does not fit in an unsigned long (ERANGE).
 */
function strtoul(s: string, from: number): Scanned | undefined {
  let i = from;
  while (i < s.length && isSpace(s[i])) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') {
    negative = s[i] === '-';
    i++;
  }
  const start = i;
  while (i < s.length && s[i] >= '0' && s[i] <= '9') i++;
  if (i === start) return undefined;
  const magnitude = BigInt(s.slice(start, i));
  if (magnitude >= U64) return undefined;
  return { value: negative && magnitude !== 0n ? U64 - magnitude : magnitude, end: i };
}

/** vbd_name_to_disk: lowercase letters in bijective base 26, counted in a u32. */
function lettersToDisk(s: string, from: number): Scanned | undefined {
  let n = 0;
  let i = from;
  while (i < s.length && s[i] >= 'a' && s[i] <= 'z') {
    n = (Math.imul(n, 26) + (s.charCodeAt(i) - 0x60)) >>> 0;
    i++;
  }
  if (n === 0) return undefined;
  return { value: BigInt(n - 1), end: i };
}

function typeOfPrefix(prefix: string): XenBlockVdevType | undefined {
  switch (prefix) {
    case '':
      return 'dp';
    case 'xv':
      return 'xvd';
    case 'h':
      return 'hd';
    case 's':
      return 'sd';
    default:
      return undefined;
  }
}

function vbdNumber(type: XenBlockVdevType, disk: bigint, partition: bigint): number | undefined {
  const d = Number(disk);
  const p = Number(partition);
  switch (type) {
    case 'dp':
    case 'xvd':
      if (disk < 1n << 4n && partition < 1n << 4n) return ((XVDA_MAJOR << 8) | (d << 4) | p) >>> 0;
      if (disk < 1n << 20n && partition < 1n << 8n) return ((1 << 28) | (d << 8) | p) >>> 0;
      return undefined;
    case 'hd':
      if ((disk === 0n || disk === 1n) && partition < 1n << 6n) return (HDA_MAJOR << 8) | (d << 6) | p;
      if ((disk === 2n || disk === 3n) && partition < 1n << 6n) return (HDC_MAJOR << 8) | ((d - 2) << 6) | p;
      return undefined;
    case 'sd':
      if (disk < 1n << 4n && partition < 1n << 4n) return (SDA_MAJOR << 8) | (d << 4) | p;
      return undefined;
  }
}

/** Parses a `vdev` value; undefined when QEMU would refuse it. */
export function parseXenBlockVdev(text: string): XenBlockVdev | undefined {
  const at = text.indexOf('d');
  if (at < 0) return undefined;
  const type = typeOfPrefix(text.slice(0, at));
  if (type === undefined) return undefined;

  let disk: Scanned | undefined;
  let end: number;
  if (type === 'dp') {
    disk = strtoul(text, at + 1);
    if (disk === undefined) return undefined;
    end = disk.end;
    if (text[end] === 'p') {
      end++;
      if (end === text.length) return undefined;
    }
  } else {
    disk = lettersToDisk(text, at + 1);
    if (disk === undefined) return undefined;
    end = disk.end;
  }

  let partition = 0n;
  if (end < text.length) {
    const p = strtoul(text, end);
    if (p === undefined || p.end !== text.length) return undefined;
    partition = p.value;
  }

  const number = vbdNumber(type, disk.value, partition);
  if (number === undefined) return undefined;
  return { type, disk: Number(disk.value), partition: Number(partition), number };
}

/** Property check: the rule broken, or undefined for a valid name. */
export function checkVdev(text: string): string | undefined {
  return parseXenBlockVdev(text) === undefined ? VDEV_RULE : undefined;
}
