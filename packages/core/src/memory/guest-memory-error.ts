import { VmkitError } from '../errors.js';

/** Why a guest memory access was refused. */
export type GuestMemoryErrorReason =
  /** The address is not a number or bigint, NaN, or not an integer. */
  | 'not-integer'
  /** The address is negative. */
  | 'negative'
  /** The address does not fit in 64 bits. */
  | 'too-large'
  /** The length is not a non-negative safe integer. */
  | 'bad-length'
  /** gpa + length is beyond 2^64. */
  | 'wraps'
  /** Some byte of the range is not inside any region. */
  | 'unmapped'
  /** The range is mapped but spans several regions, and the call needs a single one (`view`). */
  | 'not-one-region';

const explanations: Readonly<Record<GuestMemoryErrorReason, string>> = {
  'not-integer': 'address is not an integer',
  negative: 'address is negative',
  'too-large': 'address does not fit in 64 bits',
  'bad-length': 'length is not a non-negative integer',
  wraps: 'range wraps past 2^64',
  unmapped: 'range is not inside mapped memory',
  'not-one-region': 'range spans more than one region',
};

/** Hex form of a guest address for messages; non-integers are shown as they are. */
export function formatGuestAddress(gpa: unknown): string {
  if (typeof gpa === 'bigint') return gpa < 0n ? `-0x${(-gpa).toString(16)}` : `0x${gpa.toString(16)}`;
  if (typeof gpa === 'number' && Number.isInteger(gpa)) return formatGuestAddress(BigInt(gpa));
  return String(gpa);
}

/**
 * A guest memory access outside mapped memory (or with an invalid address/length). Devices turn
 * it into a device error (QEMU: a MEMTX_DECODE_ERROR from address_space_rw); it is never a
 * host-side out-of-bounds access.
 */
export class GuestMemoryError extends VmkitError {
  /** The guest-physical address as passed by the caller. */
  readonly gpa: bigint | number;
  /** The length as passed by the caller. */
  readonly length: number;
  readonly reason: GuestMemoryErrorReason;

  constructor(operation: string, gpa: bigint | number, length: number, reason: GuestMemoryErrorReason) {
    super(`${operation} at ${formatGuestAddress(gpa)}, length ${length}: ${explanations[reason]}`);
    this.gpa = gpa;
    this.length = length;
    this.reason = reason;
  }
}
