/** A GuestDisk over a byte array, answering on the next macrotask (like a device would). */
import type { GuestDisk, GuestReadResult } from '../../src/index.js';

export class MemoryGuestDisk implements GuestDisk {
  readonly kind = 'memory test disk';
  readonly blockSize = 512;
  readonly bytes: Uint8Array;
  reads = 0;
  writes = 0;
  flushes = 0;
  maxInFlight = 0;
  /** Writes at this offset land one block further (a misdirected write). */
  misdirect: number | undefined;
  /** Requests at this offset are never answered (a device that lost them). */
  loseAt: number | undefined;
  /** Reads and writes at this offset fail with this status. */
  failAt: { offset: number; status: number } | undefined;
  private inFlight = 0;

  constructor(readonly capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  private later<T>(value: () => T): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) =>
      setImmediate(() => {
        this.inFlight--;
        resolve(value());
      }),
    );
  }

  read(offset: number, length: number): Promise<GuestReadResult> {
    this.reads++;
    if (this.loseAt === offset) return new Promise(() => undefined);
    return this.later(() =>
      this.failAt?.offset === offset
        ? { status: this.failAt.status, data: new Uint8Array(0) }
        : { status: 0, data: this.bytes.slice(offset, offset + length) },
    );
  }

  write(offset: number, data: Uint8Array): Promise<number> {
    this.writes++;
    if (this.loseAt === offset) return new Promise(() => undefined);
    const copy = data.slice();
    return this.later(() => {
      if (this.failAt?.offset === offset) return this.failAt.status;
      const at = this.misdirect === offset ? offset + copy.length : offset;
      if (at + copy.length <= this.capacity) this.bytes.set(copy, at);
      return 0;
    });
  }

  flush(): Promise<number> {
    this.flushes++;
    return this.later(() => 0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
