/**
 * Split virtqueue layout arithmetic (reference/abi.md §4.1–4.3): where each field sits, the legacy
 * single-area layout, and the 16-bit event index test.
 */
import { VRING_DESC_SIZE } from '../constants.js';

/** Bytes of the descriptor table for `size` entries. */
export function descTableSize(size: number): number {
  return VRING_DESC_SIZE * size;
}

/** Bytes of the driver area (avail ring) including `used_event`. */
export function availRingSize(size: number): number {
  return 6 + 2 * size;
}

/** Bytes of the device area (used ring) including `avail_event`. */
export function usedRingSize(size: number): number {
  return 6 + 8 * size;
}

/** Offset of `used_event` inside the avail ring. */
export function usedEventOffset(size: number): number {
  return 4 + 2 * size;
}

/** Offset of `avail_event` inside the used ring. */
export function availEventOffset(size: number): number {
  return 4 + 8 * size;
}

/** Ring addresses of one queue, relative to a legacy base: descriptors, then avail, then aligned used. */
export interface LegacyVringLayout {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  /** Total bytes (`vring_size`). */
  readonly size: number;
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

/**
 * The legacy layout (Linux `vring_init`/`vring_size`): descriptor table at `base`, avail right
 * after it, used at the next `align` boundary after avail's `used_event`.
 */
export function legacyVringLayout(base: number, size: number, align: number): LegacyVringLayout {
  const avail = descTableSize(size);
  const used = alignUp(avail + availRingSize(size), align);
  return { desc: base, avail: base + avail, used: base + used, size: used + usedRingSize(size) };
}

/**
 * `vring_need_event(event, new, old)`: true iff `old <= event < new` modulo 2^16, i.e. one of the
 * indexes just published is the one the other side asked to hear about.
 */
export function vringNeedEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}
