import { bufferIsZero } from './buffer-is-zero.js';

/** Placeholder for dropped slots (never live: zero-length views are not stored). */
const NO_BYTES = new Uint8Array(0);

/** `views` of an empty vector; an array of views (same elements kind as a vector's own array). */
const NO_VIEWS: Uint8Array[] = [NO_BYTES];
NO_VIEWS.length = 0;

/** Bytes [skip, skip+n) of v; the constructor is about twice as fast as subarray(). */
function part(v: Uint8Array, skip: number, n: number): Uint8Array {
  return skip === 0 && n === v.length ? v : new Uint8Array(v.buffer, v.byteOffset + skip, n);
}

function checkOffset(operation: string, offset: number, size: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`IOVector.${operation}: offset ${offset} is not a non-negative integer`);
  }
  if (offset > size) {
    throw new RangeError(`IOVector.${operation}: offset ${offset} is beyond the vector size ${size}`);
  }
}

function checkRange(operation: string, offset: number, length: number, size: number): void {
  checkOffset(operation, offset, size);
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`IOVector.${operation}: length ${length} is not a non-negative integer`);
  }
  if (length > size - offset) {
    throw new RangeError(
      `IOVector.${operation}: offset ${offset} + length ${length} exceeds the vector size ${size}`,
    );
  }
}

/**
 * A scatter-gather list of byte views (QEMU's QEMUIOVector). Building, concatenating and slicing
 * never copy data: the views alias the buffers (typically guest memory) they were made from. Only
 * copyFrom/copyTo/toBuffer/fill touch bytes. Zero-length views are never stored.
 *
 * Offsets and lengths must be non-negative integers inside the vector, otherwise a RangeError
 * says which value is wrong and why (QEMU asserts; a bad offset here is a programming error).
 */
export class IOVector {
  /**
   * Backing array of the views; only [0, count) are live. reset() only zeroes `count` so a reused
   * vector keeps its array (assigning `length = 0` drops V8's backing store and the next request
   * reallocates it); `views` trims the array lazily so callers still see exactly the live views.
   */
  private readonly list: Uint8Array[] = [];
  private count = 0;
  private total = 0;

  constructor(views?: Uint8Array[]) {
    if (views !== undefined) for (const v of views) this.add(v);
  }

  /** A one-view vector over `buf` (qemu_iovec_init_buf). */
  static fromBuffer(buf: Uint8Array): IOVector {
    return new IOVector().add(buf);
  }

  /** Total bytes. */
  get size(): number {
    return this.total;
  }

  /** Number of views. */
  get niov(): number {
    return this.count;
  }

  /** The live views, in order (the array is the vector's own: read it, do not keep it across changes). */
  get views(): readonly Uint8Array[] {
    const list = this.list;
    const count = this.count;
    if (list.length !== count) {
      // Keep the backing array of an emptied vector for its next use.
      if (count === 0) return NO_VIEWS;
      list.length = count;
    }
    return list;
  }

  /** Append a view (qemu_iovec_add); zero-length views are ignored. */
  add(view: Uint8Array): this {
    if (view.length > 0) {
      this.append(view);
      this.total += view.length;
    }
    return this;
  }

  /** Stores `view` after the live ones, over a stale slot when there is one. */
  private append(view: Uint8Array): void {
    const list = this.list;
    const n = this.count;
    if (n < list.length) list[n] = view;
    else list.push(view);
    this.count = n + 1;
  }

  /** Append views of src's bytes [offset, offset+length) (qemu_iovec_concat); src may be this vector. */
  concat(src: IOVector, offset: number, length: number): this {
    checkRange('concat', offset, length, src.total);
    const views = src.list;
    // Fixed bound: appending to ourselves must not visit the views we add.
    const count = src.count;
    let skip = offset;
    let left = length;
    for (let i = 0; i < count && left > 0; i++) {
      const v = views[i];
      if (skip >= v.length) {
        skip -= v.length;
        continue;
      }
      const n = Math.min(v.length - skip, left);
      this.append(part(v, skip, n));
      this.total += n;
      left -= n;
      skip = 0;
    }
    return this;
  }

  /** A new vector over bytes [offset, offset+length) of this one, sharing the data. */
  slice(offset: number, length: number): IOVector {
    checkRange('slice', offset, length, this.total);
    return new IOVector().concat(this, offset, length);
  }

  /** Set bytes [offset, offset+length) to `byte` (qemu_iovec_memset); default: to the end. */
  fill(byte: number, offset = 0, length: number = this.total - offset): void {
    checkRange('fill', offset, length, this.total);
    let skip = offset;
    let left = length;
    for (let i = 0; left > 0; i++) {
      const v = this.list[i];
      if (skip >= v.length) {
        skip -= v.length;
        continue;
      }
      const n = Math.min(v.length - skip, left);
      v.fill(byte, skip, skip + n);
      left -= n;
      skip = 0;
    }
  }

  /**
   * Copy `src` into the vector starting at `offset` (qemu_iovec_from_buf). Copies what fits:
   * min(src.length, size - offset) bytes, and returns that count.
   */
  copyFrom(src: Uint8Array, offset = 0): number {
    checkOffset('copyFrom', offset, this.total);
    const length = Math.min(src.length, this.total - offset);
    let skip = offset;
    let done = 0;
    for (let i = 0; done < length; i++) {
      const v = this.list[i];
      if (skip >= v.length) {
        skip -= v.length;
        continue;
      }
      const n = Math.min(v.length - skip, length - done);
      v.set(part(src, done, n), skip);
      done += n;
      skip = 0;
    }
    return length;
  }

  /**
   * Copy vector bytes [offset, offset+length) to the start of `dest` (qemu_iovec_to_buf) and return
   * the count. Without `length`, copies what fits: min(size - offset, dest.length) bytes; an
   * explicit length must fit both the vector and dest.
   */
  copyTo(dest: Uint8Array, offset = 0, length?: number): number {
    let count: number;
    if (length === undefined) {
      checkOffset('copyTo', offset, this.total);
      count = Math.min(this.total - offset, dest.length);
    } else {
      checkRange('copyTo', offset, length, this.total);
      if (length > dest.length) {
        throw new RangeError(
          `IOVector.copyTo: length ${length} exceeds the destination length ${dest.length}`,
        );
      }
      count = length;
    }
    let skip = offset;
    let done = 0;
    for (let i = 0; done < count; i++) {
      const v = this.list[i];
      if (skip >= v.length) {
        skip -= v.length;
        continue;
      }
      const n = Math.min(v.length - skip, count - done);
      dest.set(part(v, skip, n), done);
      done += n;
      skip = 0;
    }
    return count;
  }

  /** Whether bytes [offset, offset+length) are all zero (qemu_iovec_is_zero); default: to the end. */
  isZero(offset = 0, length: number = this.total - offset): boolean {
    checkRange('isZero', offset, length, this.total);
    let skip = offset;
    let left = length;
    for (let i = 0; left > 0; i++) {
      const v = this.list[i];
      if (skip >= v.length) {
        skip -= v.length;
        continue;
      }
      const n = Math.min(v.length - skip, left);
      if (!bufferIsZero(part(v, skip, n))) return false;
      left -= n;
      skip = 0;
    }
    return true;
  }

  /** A new contiguous copy of all bytes (copies: only when a flat buffer is really needed). */
  toBuffer(): Uint8Array {
    const out = new Uint8Array(this.total);
    let pos = 0;
    const list = this.list;
    for (let i = 0; i < this.count; i++) {
      const v = list[i];
      out.set(v, pos);
      pos += v.length;
    }
    return out;
  }

  /**
   * Drop all views so the object can be reused for the next request (qemu_iovec_reset). The array
   * is kept; its slots are overwritten with an empty view so dropped buffers are not kept alive.
   */
  reset(): void {
    const list = this.list;
    for (let i = 0; i < this.count; i++) list[i] = NO_BYTES;
    this.count = 0;
    this.total = 0;
  }
}
