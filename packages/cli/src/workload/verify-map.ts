/**
 * fio's `verify=crc32c`: the checksum of the last successful write of every block, checked when
 * the block is read back. A block whose write failed has unknown contents and is forgotten; blocks
 * never written in this run are not checked.
 */
import { crc32c } from './crc32c.js';

/** A read whose checksum did not match the last write of the block. */
export interface VerifyFailure {
  /** Byte offset on the disk. */
  readonly offset: number;
  readonly expected: number;
  readonly actual: number;
}

/** Failures kept for the report (the count goes on). */
const MAX_KEPT = 10;

export class VerifyMap {
  /** Block → crc32c of its last successful write (sparse: sized by what the run writes). */
  private readonly sums = new Map<number, number>();
  /** Reads checked against a recorded checksum. */
  checked = 0;
  errors = 0;
  readonly failures: VerifyFailure[] = [];

  /** Blocks with a recorded checksum. */
  get written(): number {
    return this.sums.size;
  }

  /** The write of `block` with `data` succeeded. */
  recordWrite(block: number, checksum: number): void {
    this.sums.set(block, checksum);
  }

  /** The write of `block` failed: its contents are unknown now. */
  forget(block: number): void {
    this.sums.delete(block);
  }

  /** Checks a successful read of `block` at disk offset `offset`; false on a mismatch. */
  checkRead(block: number, offset: number, data: Uint8Array): boolean {
    const expected = this.sums.get(block);
    if (expected === undefined) return true;
    this.checked++;
    const actual = crc32c(data);
    if (actual === expected) return true;
    this.errors++;
    if (this.failures.length < MAX_KEPT) this.failures.push({ offset, expected, actual });
    return false;
  }
}
