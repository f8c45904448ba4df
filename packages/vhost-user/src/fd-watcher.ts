import { ConfigError } from '@vmkit/core';
import { native, PollEvent, WatchMode, type NativePollCallback, type NativePollWatcher } from './native.js';

/** Which readiness to wait for. */
export type PollInterest = 'readable' | 'writable' | 'both';

/** The {@link PollEvent} mask of an interest. */
export function pollMask(interest: PollInterest): number {
  switch (interest) {
    case 'readable':
      return PollEvent.READABLE;
    case 'writable':
      return PollEvent.WRITABLE;
    case 'both':
      return PollEvent.READABLE | PollEvent.WRITABLE;
  }
}

/**
 * Readiness watching of one descriptor on Node's event loop (libuv's uv_poll, level-triggered):
 * the callback runs in a later loop turn for as long as the descriptor stays ready, so it must
 * consume what made it ready (read the eventfd, accept the connection) or stop the watcher.
 *
 * libuv's rules apply: one watcher per descriptor (a second gives -EEXIST), the descriptor is
 * made non-blocking, and it must not be closed before the watcher is. A started watcher keeps
 * the process alive, like a Node socket, unless `setRef(false)`.
 */
export class FdWatcher {
  #interest: PollInterest | undefined;
  #closed = false;
  #handle: NativePollWatcher | undefined;

  private constructor(readonly fd: number) {}

  /**
   * Starts watching `fd`. `callback(status, events)` gets status 0 and a {@link PollEvent}
   * mask, or a negative errno (the watcher has then stopped). Returns -errno if libuv refuses
   * the descriptor (-EEXIST when it is already watched, -EPERM for a regular file).
   */
  static watch(fd: number, interest: PollInterest, callback: NativePollCallback): FdWatcher | number {
    return FdWatcher.open(fd, interest, callback, WatchMode.PLAIN);
  }

  /**
   * Watches an eventfd for readability and reads (resets) its counter natively before each
   * callback, which therefore runs only when the counter was non-zero and must not read it.
   * A failed read stops the watcher and is reported like a poll error, as a negative errno.
   */
  static watchEventFd(fd: number, callback: NativePollCallback): FdWatcher | number {
    return FdWatcher.open(fd, 'readable', callback, WatchMode.EVENTFD);
  }

  private static open(
    fd: number,
    interest: PollInterest,
    callback: NativePollCallback,
    mode: WatchMode,
  ): FdWatcher | number {
    const watcher = new FdWatcher(fd);
    const handle = native.watch(
      fd,
      pollMask(interest),
      (status, events) => {
        if (status < 0) watcher.#interest = undefined;
        callback(status, events);
      },
      mode,
    );
    if (typeof handle === 'number') return handle;
    watcher.#handle = handle;
    watcher.#interest = interest;
    return watcher;
  }

  /** What the watcher waits for, or undefined while stopped. */
  get interest(): PollInterest | undefined {
    return this.#interest;
  }

  get active(): boolean {
    return this.#interest !== undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts again, or changes what to wait for; 0 or -errno. Throws once closed. */
  start(interest: PollInterest): number {
    if (this.#closed) throw new ConfigError(`FdWatcher of fd ${this.fd} is closed`);
    if (this.#interest === interest) return 0;
    const ret = this.#handle!.start(pollMask(interest));
    if (ret === 0) this.#interest = interest;
    return ret;
  }

  /** No callbacks until the next `start`. */
  stop(): void {
    if (this.#interest === undefined || this.#closed) return;
    this.#handle!.stop();
    this.#interest = undefined;
  }

  /** Stops for good and releases the callback (the uv handle closes on the loop). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#interest = undefined;
    this.#handle!.close();
  }

  /** Whether a started watcher keeps the event loop alive (uv_ref / uv_unref). */
  setRef(ref: boolean): void {
    if (!this.#closed) this.#handle!.setRef(ref);
  }
}
