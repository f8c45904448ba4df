import { isArrayBuffer, isSharedArrayBuffer } from 'node:util/types';
import { ConfigError } from '../errors.js';
import { trace } from '../trace.js';
import { GuestMemoryError, formatGuestAddress, type GuestMemoryErrorReason } from './guest-memory-error.js';
import { MemoryRegion, type GuestMemoryRegion } from './guest-memory-region.js';

/** A guest-physical address: a number, or a bigint for the full 64-bit range. */
export type GuestAddress = number | bigint;

const TWO_64 = 1n << 64n;
const TWO_64_NUMBER = 2 ** 64;

/**
 * The address as a number for lookup: exact for valid addresses below 2^53; for valid addresses
 * above, some number beyond every region (regions end below 2^53); -1 when not a valid address.
 */
function addressOf(gpa: GuestAddress): number {
  if (typeof gpa === 'number') {
    if (gpa >= 0 && gpa <= Number.MAX_SAFE_INTEGER) return Number.isInteger(gpa) ? gpa : -1;
    // Every double at or above 2^53 is an integer.
    return gpa > Number.MAX_SAFE_INTEGER && gpa < TWO_64_NUMBER ? gpa : -1;
  }
  if (typeof gpa === 'bigint') return gpa >= 0n && gpa < TWO_64 ? Number(gpa) : -1;
  return -1;
}

function isLength(len: number): boolean {
  return Number.isSafeInteger(len) && len >= 0;
}

function toBytes(buffer: ArrayBufferLike | Uint8Array, label: string): Uint8Array {
  let bytes: Uint8Array;
  if (ArrayBuffer.isView(buffer)) bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  else if (isArrayBuffer(buffer) || isSharedArrayBuffer(buffer)) bytes = new Uint8Array(buffer);
  else
    throw new ConfigError(
      `guest memory region '${label}': not an ArrayBuffer, SharedArrayBuffer or Uint8Array`,
    );
  const backing = bytes.buffer as { resizable?: boolean; growable?: boolean };
  // A shrinking buffer would leave regions pointing past its end.
  if (backing.resizable === true || backing.growable === true) {
    throw new ConfigError(`guest memory region '${label}': resizable buffers cannot back guest memory`);
  }
  return bytes;
}

function formatRange(r: GuestMemoryRegion): string {
  return `'${r.name}' [${formatGuestAddress(r.gpa)}, ${formatGuestAddress(r.end)})`;
}

/**
 * Guest-physical memory: non-overlapping regions over ArrayBuffer or SharedArrayBuffer (QEMU's
 * system address space restricted to RAM). Every access is bounds-checked: an access that is not
 * entirely inside mapped memory throws GuestMemoryError and touches nothing. A zero-length access
 * is valid where a view of it could be taken: inside a region or at its end.
 *
 * Multi-byte accessors are little-endian and allow unaligned addresses. Views alias guest memory
 * (zero-copy); a view taken before removeRegion() keeps the host buffer alive but no longer
 * aliases guest memory.
 */
export class GuestMemory {
  /** Sorted by gpa; replaced (never mutated) on add/remove. Not frozen: lookups in frozen arrays are slower. */
  private sorted: readonly MemoryRegion[] = [];
  /** What `regions` hands out: a frozen copy, so callers cannot reorder the lookup array. */
  private snapshot: readonly GuestMemoryRegion[] = Object.freeze([]);
  /** Accesses cluster (a ring, a buffer): most lookups hit the region of the previous one. */
  private lastHit: MemoryRegion | undefined = undefined;

  /** The mapped regions, sorted by gpa. */
  get regions(): readonly GuestMemoryRegion[] {
    return this.snapshot;
  }

  /** Map `buffer` (or exactly the bytes of a Uint8Array view) at `gpa`. Overlaps are refused. */
  addRegion(gpa: number, buffer: ArrayBufferLike | Uint8Array, name?: string): GuestMemoryRegion {
    const label = name ?? `ram@${formatGuestAddress(gpa)}`;
    const bytes = toBytes(buffer, label);
    if (!Number.isSafeInteger(gpa) || gpa < 0) {
      throw new ConfigError(
        `guest memory region '${label}': address ${formatGuestAddress(gpa)} is not a non-negative integer below 2^53`,
      );
    }
    if (bytes.byteLength === 0) throw new ConfigError(`guest memory region '${label}': buffer is empty`);
    if (gpa + bytes.byteLength > Number.MAX_SAFE_INTEGER) {
      throw new ConfigError(`guest memory region '${label}': must end below 2^53`);
    }
    const region = new MemoryRegion(label, gpa, bytes);
    for (const r of this.sorted) {
      if (region.gpa < r.end && r.gpa < region.end) {
        throw new ConfigError(`guest memory region ${formatRange(region)} overlaps region ${formatRange(r)}`);
      }
    }
    this.setRegions([...this.sorted, region].sort((x, y) => x.gpa - y.gpa));
    trace('memory', 'region-add', { name: label, gpa, size: region.size, shared: region.shared });
    return region;
  }

  /** Unmap a region returned by addRegion(). */
  removeRegion(region: GuestMemoryRegion): void {
    const index = this.sorted.findIndex((r) => r === region);
    if (index < 0) throw new ConfigError(`guest memory region '${region.name}' is not mapped here`);
    this.setRegions(this.sorted.filter((r) => r !== region));
    trace('memory', 'region-del', { name: region.name, gpa: region.gpa, size: region.size });
  }

  private setRegions(regions: MemoryRegion[]): void {
    this.sorted = regions;
    this.snapshot = Object.freeze([...regions]);
    this.lastHit = undefined;
  }

  readU8(gpa: GuestAddress): number {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 1);
    if (r === undefined) throw this.fault('readU8', gpa, 1, false);
    return r.bytes[a - r.gpa];
  }

  readU16(gpa: GuestAddress): number {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 2);
    if (r === undefined) throw this.fault('readU16', gpa, 2, false);
    return r.dataView.getUint16(a - r.gpa, true);
  }

  readU32(gpa: GuestAddress): number {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 4);
    if (r === undefined) throw this.fault('readU32', gpa, 4, false);
    return r.dataView.getUint32(a - r.gpa, true);
  }

  readU64(gpa: GuestAddress): bigint {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 8);
    if (r === undefined) throw this.fault('readU64', gpa, 8, false);
    return r.dataView.getBigUint64(a - r.gpa, true);
  }

  /** Stores `v` modulo 2^8 (like a C uint8_t store). */
  writeU8(gpa: GuestAddress, v: number): void {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 1);
    if (r === undefined) throw this.fault('writeU8', gpa, 1, false);
    r.bytes[a - r.gpa] = v;
  }

  /** Stores `v` modulo 2^16, little-endian. */
  writeU16(gpa: GuestAddress, v: number): void {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 2);
    if (r === undefined) throw this.fault('writeU16', gpa, 2, false);
    r.dataView.setUint16(a - r.gpa, v, true);
  }

  /** Stores `v` modulo 2^32, little-endian. */
  writeU32(gpa: GuestAddress, v: number): void {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 4);
    if (r === undefined) throw this.fault('writeU32', gpa, 4, false);
    r.dataView.setUint32(a - r.gpa, v, true);
  }

  /** Stores `v` modulo 2^64, little-endian. */
  writeU64(gpa: GuestAddress, v: bigint): void {
    const a = addressOf(gpa);
    const r = this.regionFor(a, 8);
    if (r === undefined) throw this.fault('writeU64', gpa, 8, false);
    r.dataView.setBigUint64(a - r.gpa, v, true);
  }

  /** Zero-copy view of [gpa, gpa+len), which must lie inside one region. */
  view(gpa: GuestAddress, len: number): Uint8Array {
    const a = addressOf(gpa);
    const r = isLength(len) ? this.regionFor(a, len) : undefined;
    if (r === undefined) throw this.fault('view', gpa, len, true);
    return r.slice(a - r.gpa, len);
  }

  /** Like view() but returns undefined instead of throwing (hot paths validate with it). */
  tryView(gpa: GuestAddress, len: number): Uint8Array | undefined {
    const a = addressOf(gpa);
    const r = isLength(len) ? this.regionFor(a, len) : undefined;
    if (r === undefined) return undefined;
    return r.slice(a - r.gpa, len);
  }

  /** Zero-copy views covering [gpa, gpa+len), one per region crossed; [] when len is 0. */
  views(gpa: GuestAddress, len: number): Uint8Array[] {
    const a = addressOf(gpa);
    if (!isLength(len)) throw this.fault('views', gpa, len, false);
    const r = this.regionFor(a, len);
    if (r !== undefined) return len === 0 ? [] : [r.slice(a - r.gpa, len)];
    let i = this.spanIndex(a, len);
    if (i < 0) throw this.fault('views', gpa, len, false);
    const out: Uint8Array[] = [];
    for (let cur = a, left = len; left > 0; i++) {
      const region = this.sorted[i];
      const off = cur - region.gpa;
      const n = Math.min(left, region.size - off);
      out.push(region.slice(off, n));
      cur += n;
      left -= n;
    }
    return out;
  }

  /** Copy guest memory at gpa into `dest` (dest.length bytes); may span adjacent regions. */
  read(gpa: GuestAddress, dest: Uint8Array): void {
    this.copy('read', gpa, dest);
  }

  /** Copy `src` into guest memory at gpa; may span adjacent regions. Nothing is written on error. */
  write(gpa: GuestAddress, src: Uint8Array): void {
    this.copy('write', gpa, src);
  }

  /** Set len bytes at gpa to `byte` (modulo 2^8); may span adjacent regions. */
  fill(gpa: GuestAddress, len: number, byte: number): void {
    const a = addressOf(gpa);
    if (!isLength(len)) throw this.fault('fill', gpa, len, false);
    const r = this.regionFor(a, len);
    if (r !== undefined) {
      const off = a - r.gpa;
      r.bytes.fill(byte, off, off + len);
      return;
    }
    let i = this.spanIndex(a, len);
    if (i < 0) throw this.fault('fill', gpa, len, false);
    for (let cur = a, left = len; left > 0; i++) {
      const region = this.sorted[i];
      const off = cur - region.gpa;
      const n = Math.min(left, region.size - off);
      region.bytes.fill(byte, off, off + n);
      cur += n;
      left -= n;
    }
  }

  /** Whether every byte of [gpa, gpa+len) is mapped (possibly across adjacent regions); never throws. */
  isMapped(gpa: GuestAddress, len: number): boolean {
    if (!isLength(len)) return false;
    const a = addressOf(gpa);
    return this.regionFor(a, len) !== undefined || this.spanIndex(a, len) >= 0;
  }

  private copy(operation: 'read' | 'write', gpa: GuestAddress, buf: Uint8Array): void {
    const toGuest = operation === 'write';
    const a = addressOf(gpa);
    const len = buf.length;
    const r = this.regionFor(a, len);
    if (r !== undefined) {
      const off = a - r.gpa;
      if (toGuest) r.bytes.set(buf, off);
      else buf.set(r.slice(off, len));
      return;
    }
    let i = this.spanIndex(a, len);
    if (i < 0) throw this.fault(operation, gpa, len, false);
    for (let cur = a, done = 0; done < len; i++) {
      const region = this.sorted[i];
      const off = cur - region.gpa;
      const n = Math.min(len - done, region.size - off);
      if (toGuest) region.bytes.set(buf.subarray(done, done + n), off);
      else buf.set(region.slice(off, n), done);
      cur += n;
      done += n;
    }
  }

  /** The single region holding [a, a+len), or undefined. `len` must be a valid length; a may be -1. */
  private regionFor(a: number, len: number): MemoryRegion | undefined {
    const last = this.lastHit;
    if (last !== undefined && a >= last.gpa && a + len <= last.end) return last;
    const i = this.floorIndex(a);
    if (i < 0) return undefined;
    const r = this.sorted[i];
    // Above 2^53, a + len may round, but only upwards past every region's end.
    if (a + len > r.end) return undefined;
    this.lastHit = r;
    return r;
  }

  /** Index of the last region starting at or below a; -1 if none. */
  private floorIndex(a: number): number {
    const rs = this.sorted;
    let lo = 0;
    let hi = rs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (rs[mid].gpa <= a) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Index of the first region when [a, a+len) is covered by adjacent regions; -1 otherwise. */
  private spanIndex(a: number, len: number): number {
    const first = this.floorIndex(a);
    if (first < 0) return -1;
    const rs = this.sorted;
    if (a > rs[first].end || (len > 0 && a === rs[first].end)) return -1;
    const target = a + len;
    for (let i = first; rs[i].end < target; i++) {
      if (i + 1 >= rs.length || rs[i + 1].gpa !== rs[i].end) return -1;
    }
    return first;
  }

  /** Cold path: work out why an access failed. */
  private fault(operation: string, gpa: GuestAddress, len: number, oneRegion: boolean): GuestMemoryError {
    return new GuestMemoryError(operation, gpa, len, this.faultReason(gpa, len, oneRegion));
  }

  private faultReason(gpa: GuestAddress, len: number, oneRegion: boolean): GuestMemoryErrorReason {
    let g: bigint;
    if (typeof gpa === 'bigint') g = gpa;
    else if (typeof gpa === 'number' && Number.isInteger(gpa)) g = BigInt(gpa);
    else return 'not-integer';
    if (g < 0n) return 'negative';
    if (g >= TWO_64) return 'too-large';
    if (!isLength(len)) return 'bad-length';
    if (g + BigInt(len) > TWO_64) return 'wraps';
    if (oneRegion && this.isMapped(gpa, len)) return 'not-one-region';
    return 'unmapped';
  }
}
