/** One guest-physical range backed by host memory (QEMU: a RAM MemoryRegion in the system address space). */
export interface GuestMemoryRegion {
  readonly name: string;
  /** First guest-physical address. */
  readonly gpa: number;
  /** Size in bytes (never 0). */
  readonly size: number;
  /** gpa + size: first address after the region. */
  readonly end: number;
  /** The whole region; writes through it are guest-visible. */
  readonly bytes: Uint8Array;
  /** Little-endian accessors over the same bytes. */
  readonly dataView: DataView;
  /** Backed by a SharedArrayBuffer (may be shared with worker threads). */
  readonly shared: boolean;
}

/** The concrete region; the DataView is made once so typed accessors allocate nothing. */
export class MemoryRegion implements GuestMemoryRegion {
  readonly end: number;
  readonly dataView: DataView;
  readonly shared: boolean;
  /** bytes.buffer and bytes.byteOffset, cached for view(). */
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;

  constructor(
    readonly name: string,
    readonly gpa: number,
    readonly bytes: Uint8Array,
  ) {
    this.end = gpa + bytes.byteLength;
    this.buffer = bytes.buffer;
    this.byteOffset = bytes.byteOffset;
    this.dataView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.shared = typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer;
  }

  get size(): number {
    return this.bytes.byteLength;
  }

  /** A view of [offset, offset+length) of the region: the constructor is about twice as fast as subarray(). */
  slice(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.buffer, this.byteOffset + offset, length);
  }
}
