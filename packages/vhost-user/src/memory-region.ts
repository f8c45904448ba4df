import { native } from './native.js';

export interface MapOptions {
  /**
   * Default true: writes go to the file. False maps copy-on-write (MAP_PRIVATE): the file is
   * never changed, and a stray write through the buffer only changes a private copy instead of
   * killing the process as it would on a read-only page.
   */
  writable?: boolean;
}

/**
 * A MAP_SHARED mapping of part of a file, such as one guest RAM region that QEMU passes with
 * VHOST_USER_SET_MEM_TABLE (QEMU 7.2 shares RAM as two regions of one memfd, below and above
 * the 640K-768K hole, with different mmap offsets). The bytes are the file's own: nothing is
 * copied, and writes are seen by every other mapping of the file.
 *
 * The memory is unmapped by `unmap()` (which detaches `buffer`, so every view of it becomes
 * empty) or, failing that, when `buffer` is garbage collected.
 */
export class MappedRegion {
  /** A view of the whole region (empty once unmapped). */
  readonly bytes: Uint8Array;

  private constructor(
    readonly buffer: ArrayBuffer,
    /** File offset of the first byte. */
    readonly offset: number | bigint,
    readonly writable: boolean,
  ) {
    this.bytes = new Uint8Array(buffer);
  }

  /** See {@link mapRegion}. */
  static map(
    fd: number,
    size: number | bigint,
    offset: number | bigint,
    options: MapOptions = {},
  ): MappedRegion | number {
    const writable = options.writable ?? true;
    const buffer = native.mmap(fd, size, offset, writable);
    return typeof buffer === 'number' ? buffer : new MappedRegion(buffer, offset, writable);
  }

  /** Length in bytes; 0 once unmapped. */
  get size(): number {
    return this.buffer.byteLength;
  }

  get mapped(): boolean {
    return this.buffer.byteLength > 0;
  }

  /** Unmaps now: 0 or -errno; nothing to do (0) when already unmapped. */
  unmap(): number {
    return native.unmap(this.buffer);
  }
}

/**
 * Maps `size` bytes of `fd` from `offset` (any offset: the page rounding is done here); the
 * region, or -errno: -EINVAL for a zero size or a range past the end of a regular file (which
 * would fault with SIGBUS on access), -EFBIG beyond what an ArrayBuffer can hold (4 GiB on
 * Node 20), -EACCES for a writable mapping of a read-only descriptor.
 */
export function mapRegion(
  fd: number,
  size: number | bigint,
  offset: number | bigint,
  options: MapOptions = {},
): MappedRegion | number {
  return MappedRegion.map(fd, size, offset, options);
}

/** An anonymous shared file (memfd, close-on-exec) of `size` bytes: its fd, or -errno. */
export function createMemfd(name: string, size: number | bigint): number {
  return native.memfd_create(name, size);
}
