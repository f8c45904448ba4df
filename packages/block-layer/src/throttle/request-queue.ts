/**
 * FIFO of throttled requests of one member and direction (QEMU's throttled_reqs CoQueue). Each
 * entry is the request's byte count and the resolver of the promise its submitter awaits; the
 * arrays are reused, so a queued request costs one promise and nothing else.
 */
export class ThrottledRequestQueue {
  private readonly sizes: number[] = [];
  private readonly resolvers: (() => void)[] = [];
  private head = 0;

  get length(): number {
    return this.sizes.length - this.head;
  }

  /** Queues a request of `bytes`; the promise resolves when it is released. */
  push(bytes: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.sizes.push(bytes);
      this.resolvers.push(resolve);
    });
  }

  /** Byte count of the oldest request; the queue must not be empty. */
  peekBytes(): number {
    return this.sizes[this.head];
  }

  /** Removes the oldest request and resolves its promise (its continuation runs in a microtask). */
  release(): void {
    const i = this.head;
    const resolve = this.resolvers[i];
    this.resolvers[i] = noop;
    if (++this.head === this.sizes.length) {
      this.sizes.length = 0;
      this.resolvers.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.sizes.length) {
      this.sizes.splice(0, this.head);
      this.resolvers.splice(0, this.head);
      this.head = 0;
    }
    resolve();
  }
}

function noop(): void {}
