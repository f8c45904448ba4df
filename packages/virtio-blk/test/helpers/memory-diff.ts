import type { GuestMemory } from '@vmkit/core';

/** Copies every byte of every region (to compare before/after), reusing `into` when it fits. */
export function snapshot(memory: GuestMemory, into?: Uint8Array[]): Uint8Array[] {
  const regions = memory.regions;
  if (into?.length === regions.length && regions.every((r, i) => into[i].length === r.bytes.length)) {
    regions.forEach((r, i) => into[i].set(r.bytes));
    return into;
  }
  return regions.map((r) => r.bytes.slice());
}

const BLOCK = 1024;

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Whether two byte arrays are equal (native comparison). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && asBuffer(a).equals(asBuffer(b));
}

/** Guest addresses whose bytes differ from a snapshot (blocks compared natively first). */
export function changedAddresses(memory: GuestMemory, before: readonly Uint8Array[]): number[] {
  const changed: number[] = [];
  memory.regions.forEach((r, i) => {
    const old = asBuffer(before[i]);
    const now = asBuffer(r.bytes);
    for (let start = 0; start < now.length; start += BLOCK) {
      const end = Math.min(now.length, start + BLOCK);
      if (now.subarray(start, end).equals(old.subarray(start, end))) continue;
      for (let j = start; j < end; j++) if (now[j] !== old[j]) changed.push(r.gpa + j);
    }
  });
  return changed;
}

/** Half-open guest ranges. */
export type Ranges = Array<readonly [number, number]>;

export function inRanges(addr: number, ranges: Ranges): boolean {
  for (const [a, b] of ranges) if (addr >= a && addr < b) return true;
  return false;
}
