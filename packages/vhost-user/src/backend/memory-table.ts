/**
 * The guest RAM of a SET_MEM_TABLE: each region mapped from its descriptor and shown to the
 * device as GuestMemory regions at their guest-physical addresses; front-end virtual addresses
 * (vring addresses) are translated through each region's userspace address (libvhost-user
 * qva_to_va), guest-physical ones (descriptors) need no translation.
 */
import type { GuestMemory, GuestMemoryRegion } from '@vmkit/core';
import { closeFds } from '../descriptors.js';
import { mapRegion, type MappedRegion } from '../memory-region.js';
import { osStrerror } from '../os-error.js';
import type { MemoryRegionDescription } from '../protocol/payloads.js';
import { VhostUserProtocolError } from '../protocol/protocol-error.js';

/**
 * Largest piece mapped as one ArrayBuffer: a bigger region (guest RAM above 4 GiB) becomes
 * adjacent GuestMemory regions, which buffers may span (the virtqueue maps them piece by piece).
 */
export const MAX_MAPPING_CHUNK = 2 ** 30;

const MAX_GPA_END = BigInt(Number.MAX_SAFE_INTEGER);
const U64_END = 1n << 64n;

/** One region of the table, mapped. */
export interface VhostMemoryRegion {
  readonly gpa: number;
  readonly size: number;
  /** Front-end virtual address of the first byte. */
  readonly userspaceAddr: bigint;
  readonly mmapOffset: bigint;
  /** The mappings, in order (one unless the region is larger than MAX_MAPPING_CHUNK). */
  readonly mappings: readonly MappedRegion[];
}

function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

export class VhostMemoryTable {
  private installed: GuestMemoryRegion[] = [];

  private constructor(readonly regions: readonly VhostMemoryRegion[]) {}

  static empty(): VhostMemoryTable {
    return new VhostMemoryTable([]);
  }

  /**
   * Maps every region from its descriptor (`fds[i]` for region i). The descriptors are always
   * closed (a mapping keeps its file); an invalid table unmaps what was mapped and throws a
   * VhostUserProtocolError naming the region.
   */
  static map(
    descriptions: readonly MemoryRegionDescription[],
    fds: readonly number[],
    chunk = MAX_MAPPING_CHUNK,
  ): VhostMemoryTable {
    const mapped: VhostMemoryRegion[] = [];
    try {
      descriptions.forEach((d, i) => mapped.push(mapOne(d, fds[i], i, chunk)));
      checkOverlaps(mapped);
    } catch (e) {
      for (const r of mapped) for (const m of r.mappings) m.unmap();
      throw e;
    } finally {
      closeFds(fds);
    }
    return new VhostMemoryTable(mapped);
  }

  /** Total guest RAM in bytes. */
  get totalSize(): number {
    return this.regions.reduce((sum, r) => sum + r.size, 0);
  }

  /**
   * The guest-physical address of front-end virtual address `qva` when all of
   * [qva, qva+length) lies in one region; undefined otherwise.
   */
  translate(qva: bigint, length: number): number | undefined {
    for (const r of this.regions) {
      if (qva >= r.userspaceAddr && qva - r.userspaceAddr + BigInt(length) <= BigInt(r.size)) {
        return r.gpa + Number(qva - r.userspaceAddr);
      }
    }
    return undefined;
  }

  /** Adds the mappings to `memory` (which must hold none of them yet). */
  install(memory: GuestMemory): void {
    this.regions.forEach((r, i) => {
      let gpa = r.gpa;
      r.mappings.forEach((m, k) => {
        const name = r.mappings.length === 1 ? `vhost-user-mem${i}` : `vhost-user-mem${i}.${k}`;
        this.installed.push(memory.addRegion(gpa, m.bytes, name));
        gpa += m.size;
      });
    });
  }

  /** Removes what `install` added. */
  uninstall(memory: GuestMemory): void {
    for (const region of this.installed) memory.removeRegion(region);
    this.installed = [];
  }

  /**
   * Unmaps now. Pass `false` while the device may still hold views of this memory (requests in
   * flight): the mappings are then released when the garbage collector frees their buffers.
   */
  release(unmapNow: boolean): void {
    if (!unmapNow) return;
    for (const r of this.regions) for (const m of r.mappings) m.unmap();
  }
}

function mapOne(d: MemoryRegionDescription, fd: number, i: number, chunk: number): VhostMemoryRegion {
  const what = `memory region ${i} (gpa ${hex(d.guestPhysAddr)}, size ${hex(d.memorySize)})`;
  const fail = (why: string): VhostUserProtocolError =>
    new VhostUserProtocolError(`SET_MEM_TABLE (5): ${what}: ${why}`);
  if (d.memorySize === 0n) throw fail('empty region');
  if (d.guestPhysAddr + d.memorySize > MAX_GPA_END) throw fail('ends beyond guest address 2^53');
  if (d.userspaceAddr + d.memorySize > U64_END) throw fail('userspace range wraps around 2^64');
  if (d.mmapOffset + d.memorySize > MAX_GPA_END) throw fail('file range ends beyond 2^53');
  const size = Number(d.memorySize);
  const mappings: MappedRegion[] = [];
  try {
    for (let done = 0; done < size; done += chunk) {
      const length = Math.min(chunk, size - done);
      const offset = d.mmapOffset + BigInt(done);
      const m = mapRegion(fd, length, offset);
      if (typeof m === 'number') {
        throw fail(`cannot map ${hex(length)} bytes at file offset ${hex(offset)}: ${osStrerror(m)}`);
      }
      mappings.push(m);
    }
  } catch (e) {
    for (const m of mappings) m.unmap();
    throw e;
  }
  return {
    gpa: Number(d.guestPhysAddr),
    size,
    userspaceAddr: d.userspaceAddr,
    mmapOffset: d.mmapOffset,
    mappings,
  };
}

function checkOverlaps(regions: readonly VhostMemoryRegion[]): void {
  const sorted = regions.map((r, i) => ({ r, i })).sort((a, b) => a.r.gpa - b.r.gpa);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1];
    const cur = sorted[k];
    if (cur.r.gpa < prev.r.gpa + prev.r.size) {
      throw new VhostUserProtocolError(
        `SET_MEM_TABLE (5): memory region ${cur.i} (gpa ${hex(cur.r.gpa)}) overlaps region ${prev.i} ` +
          `[${hex(prev.r.gpa)}, ${hex(prev.r.gpa + prev.r.size)})`,
      );
    }
  }
}
