/**
 * `memory`: a RAM-backed protocol node. Data is kept sparse in 64 KiB chunks; holes read as
 * zeroes, block status reports them as ZERO (unallocated), discard and write-zeroes with
 * MAY_UNMAP free whole chunks. Every method is synchronous (fast path).
 */
import { Errno, type IOVector } from '@vmkit/core';
import { BlockStatus, RequestFlags } from '../constants.js';
import type { BlockDriver, BlockStatusResult, DriverOptions } from '../driver.js';
import type { BlockDriverState } from '../node.js';
import { checkKeys, sizeOption } from './options.js';

export const MEMORY_CHUNK_SIZE = 64 * 1024;

export interface MemoryOptions {
  size: number;
}

/**
 * Walks a byte range one chunk piece at a time: after each successful `next()`, the piece is
 * `n` bytes at `inChunk` of chunk `idx`, and `done` bytes of the range precede it. One walker
 * per MemoryState serves every request (each walk runs to its end synchronously), so the fast
 * path allocates nothing.
 */
class ChunkWalk {
  idx = 0;
  inChunk = 0;
  n = 0;
  done = 0;
  #offset = 0;
  #bytes = 0;

  start(offset: number, bytes: number): this {
    this.#offset = offset;
    this.#bytes = bytes;
    this.done = 0;
    this.n = 0;
    return this;
  }

  next(): boolean {
    const done = this.done + this.n;
    this.done = done;
    if (done >= this.#bytes) return false;
    const pos = this.#offset + done;
    const idx = Math.floor(pos / MEMORY_CHUNK_SIZE);
    this.idx = idx;
    this.inChunk = pos - idx * MEMORY_CHUNK_SIZE;
    this.n = Math.min(this.#bytes - done, MEMORY_CHUNK_SIZE - this.inChunk);
    return true;
  }
}

export class MemoryState {
  readonly chunks = new Map<number, Uint8Array>();
  readonly #walk = new ChunkWalk();
  constructor(public size: number) {}

  /** Bytes of allocated chunks. */
  get allocatedBytes(): number {
    return this.chunks.size * MEMORY_CHUNK_SIZE;
  }

  read(offset: number, bytes: number, qiov: IOVector, qiovOffset: number): void {
    for (const w = this.#walk.start(offset, bytes); w.next();) {
      const chunk = this.chunks.get(w.idx);
      if (chunk === undefined) qiov.fill(0, qiovOffset + w.done, w.n);
      else qiov.copyFrom(chunk.subarray(w.inChunk, w.inChunk + w.n), qiovOffset + w.done);
    }
  }

  write(offset: number, bytes: number, qiov: IOVector, qiovOffset: number): void {
    for (const w = this.#walk.start(offset, bytes); w.next();) {
      let chunk = this.chunks.get(w.idx);
      if (chunk === undefined) {
        chunk = new Uint8Array(MEMORY_CHUNK_SIZE);
        this.chunks.set(w.idx, chunk);
      }
      qiov.copyTo(chunk.subarray(w.inChunk, w.inChunk + w.n), qiovOffset + w.done, w.n);
    }
    if (offset + bytes > this.size) this.size = offset + bytes;
  }

  /** Zeroes a range; whole chunks are freed when `unmap`. */
  zero(offset: number, bytes: number, unmap: boolean): void {
    for (const w = this.#walk.start(offset, bytes); w.next();) {
      const chunk = this.chunks.get(w.idx);
      if (chunk === undefined) continue;
      if (w.n === MEMORY_CHUNK_SIZE && unmap) this.chunks.delete(w.idx);
      else chunk.fill(0, w.inChunk, w.inChunk + w.n);
    }
  }

  truncate(size: number): void {
    if (size < this.size)
      this.zero(size, Math.ceil(this.size / MEMORY_CHUNK_SIZE) * MEMORY_CHUNK_SIZE - size, true);
    this.size = size;
  }
}

function state(bs: BlockDriverState<MemoryState>): MemoryState {
  return bs.opaque;
}

export const memoryDriver: BlockDriver<MemoryState, MemoryOptions> = {
  name: 'memory',
  kind: 'protocol',
  supportedWriteFlags: RequestFlags.FUA,
  supportedZeroFlags: RequestFlags.FUA | RequestFlags.MAY_UNMAP | RequestFlags.NO_FALLBACK,
  parseOptions(options: DriverOptions): MemoryOptions {
    checkKeys(options, ['size']);
    return { size: sizeOption(options, 'size') ?? 0 };
  },
  open(bs, options) {
    bs.opaque = new MemoryState(options.size);
  },
  getLength: (bs) => state(bs).size,
  getAllocatedFileSize: (bs) => state(bs).allocatedBytes,
  preadv(bs, offset, bytes, qiov, qiovOffset) {
    state(bs).read(offset, bytes, qiov, qiovOffset);
    return 0;
  },
  pwritev(bs, offset, bytes, qiov, qiovOffset) {
    state(bs).write(offset, bytes, qiov, qiovOffset);
    return 0;
  },
  pwriteZeroes(bs, offset, bytes, flags) {
    const s = state(bs);
    s.zero(offset, bytes, (flags & RequestFlags.MAY_UNMAP) !== 0);
    if (offset + bytes > s.size) s.size = offset + bytes;
    return 0;
  },
  pdiscard(bs, offset, bytes) {
    state(bs).zero(offset, bytes, true);
    return 0;
  },
  flushToDisk: () => 0,
  truncate(bs, offset) {
    if (offset < 0) return -Errno.EINVAL;
    state(bs).truncate(offset);
    return 0;
  },
  blockStatus(bs, _wantZero, offset, bytes): BlockStatusResult {
    const s = state(bs);
    const first = Math.floor(offset / MEMORY_CHUNK_SIZE);
    const allocated = s.chunks.has(first);
    let end = Math.min(offset + bytes, (first + 1) * MEMORY_CHUNK_SIZE);
    while (end < offset + bytes && s.chunks.has(end / MEMORY_CHUNK_SIZE) === allocated) {
      end = Math.min(offset + bytes, end + MEMORY_CHUNK_SIZE);
    }
    const status = allocated
      ? BlockStatus.DATA | BlockStatus.OFFSET_VALID
      : BlockStatus.ZERO | BlockStatus.OFFSET_VALID;
    return { status, pnum: end - offset, map: offset, file: bs };
  },
  info: () => ({ unallocatedBlocksAreZero: true }),
};
