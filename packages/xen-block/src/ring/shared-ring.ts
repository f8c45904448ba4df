/**
 * The four free-running u32 indexes of a `blkif_sring` header, read and written the way ring.h's
 * barriers require. When the ring lives in a SharedArrayBuffer (another thread may be the other
 * end) the index fields go through Atomics, whose sequentially consistent loads and stores give
 * the rmb/wmb/mb orderings; in an ordinary ArrayBuffer only this thread touches it and plain
 * little-endian accesses suffice.
 */
import {
  SRING_HEADER_SIZE,
  SRING_PVT,
  SRING_REQ_EVENT,
  SRING_REQ_PROD,
  SRING_RSP_EVENT,
  SRING_RSP_PROD,
} from './layout.js';

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class SharedRingIndexes {
  private readonly view: DataView;
  /** Set when the header is in shared memory and word-aligned: index accesses are atomic. */
  private readonly atomic: Int32Array | undefined;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.length < SRING_HEADER_SIZE) {
      throw new RangeError(
        `blkif: a shared ring needs at least ${SRING_HEADER_SIZE} bytes, got ${bytes.length}`,
      );
    }
    this.view = new DataView(bytes.buffer, bytes.byteOffset, SRING_HEADER_SIZE);
    const shared = typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer;
    this.atomic =
      shared && littleEndianHost && bytes.byteOffset % 4 === 0
        ? new Int32Array(bytes.buffer, bytes.byteOffset, SRING_HEADER_SIZE / 4)
        : undefined;
  }

  /** Whether index accesses use Atomics (shared memory). */
  get isAtomic(): boolean {
    return this.atomic !== undefined;
  }

  load(offset: number): number {
    const a = this.atomic;
    return a !== undefined ? Atomics.load(a, offset >> 2) >>> 0 : this.view.getUint32(offset, true);
  }

  store(offset: number, value: number): void {
    const a = this.atomic;
    if (a !== undefined) Atomics.store(a, offset >> 2, value | 0);
    else this.view.setUint32(offset, value >>> 0, true);
  }

  get reqProd(): number {
    return this.load(SRING_REQ_PROD);
  }
  set reqProd(v: number) {
    this.store(SRING_REQ_PROD, v);
  }
  get reqEvent(): number {
    return this.load(SRING_REQ_EVENT);
  }
  set reqEvent(v: number) {
    this.store(SRING_REQ_EVENT, v);
  }
  get rspProd(): number {
    return this.load(SRING_RSP_PROD);
  }
  set rspProd(v: number) {
    this.store(SRING_RSP_PROD, v);
  }
  get rspEvent(): number {
    return this.load(SRING_RSP_EVENT);
  }
  set rspEvent(v: number) {
    this.store(SRING_RSP_EVENT, v);
  }

  /**
   * SHARED_RING_INIT, generalised to a start index (Xen always uses 0; tests start near 2^32 to
   * exercise wrapping): both producers at `start`, both events at `start + 1`, pvt and pad zeroed.
   */
  init(start = 0): void {
    this.bytes.fill(0, SRING_PVT, SRING_HEADER_SIZE);
    this.reqProd = start;
    this.rspProd = start;
    this.reqEvent = (start + 1) >>> 0;
    this.rspEvent = (start + 1) >>> 0;
  }
}
