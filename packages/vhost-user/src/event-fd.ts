import { FdWatcher } from './fd-watcher.js';
import { native } from './native.js';
import { OsErrno, OsError } from './os-error.js';

export interface EventFdWatchOptions {
  /**
   * Read (reset) the counter natively before each callback (default false): the callback then
   * runs once per batch of writes and must not `read()`. Saves a call into the addon per event.
   */
  consume?: boolean;
}

export interface EventFdOptions {
  /** Initial counter (default 0). */
  initval?: number;
  /** O_NONBLOCK (default true): a read of a zero counter gives -EAGAIN instead of blocking. */
  nonblock?: boolean;
}

/**
 * An eventfd counter: the kick (guest → device) and call (device → guest) notifiers of a
 * vhost-user virtqueue. Kick fds arrive from QEMU with VHOST_USER_SET_VRING_KICK and are
 * adopted with {@link EventFd.adopt}; `watch` tells when one was written.
 */
export class EventFd {
  #watcher: FdWatcher | undefined;
  #closed = false;

  private constructor(readonly fd: number) {}

  /** A new eventfd (close-on-exec). Throws an {@link OsError} if the system refuses one. */
  static create(options: EventFdOptions = {}): EventFd {
    const fd = native.eventfd(options.initval ?? 0, options.nonblock ?? true);
    return new EventFd(OsError.check(fd, 'eventfd'));
  }

  /** Takes ownership of an eventfd received from the peer: `close()` closes it. */
  static adopt(fd: number): EventFd {
    return new EventFd(fd);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The counter, which the read resets; -EAGAIN when it is 0 (non-blocking), -errno else. */
  read(): bigint | number {
    if (this.#closed) return -OsErrno.EBADF;
    return native.eventfd_read(this.fd);
  }

  /** Adds `value` (default 1) to the counter: 0, or -EAGAIN if it would overflow, -errno else. */
  write(value: bigint | number = 1): number {
    if (this.#closed) return -OsErrno.EBADF;
    return native.eventfd_write(this.fd, value);
  }

  /**
   * Calls `callback(0)` on the event loop whenever the counter is non-zero, or
   * `callback(-errno)` once if watching fails. The callback must `read()` to reset the counter,
   * or it is called again on the next loop turn — unless `options.consume`, which reads it
   * before calling back. One callback at a time: a second `watch` replaces the first. Returns 0
   * or -errno. Makes the descriptor non-blocking.
   */
  watch(callback: (status: number) => void, options?: EventFdWatchOptions): number {
    if (this.#closed) return -OsErrno.EBADF;
    this.#watcher?.close();
    const watcher =
      options?.consume === true
        ? FdWatcher.watchEventFd(this.fd, callback)
        : FdWatcher.watch(this.fd, 'readable', callback);
    if (typeof watcher === 'number') {
      this.#watcher = undefined;
      return watcher;
    }
    this.#watcher = watcher;
    return 0;
  }

  /** Stops the callbacks of `watch`. */
  unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  get watching(): boolean {
    return this.#watcher?.active ?? false;
  }

  /** Stops watching and closes the descriptor: 0 or -errno. Idempotent. */
  close(): number {
    if (this.#closed) return 0;
    this.unwatch();
    this.#closed = true;
    return native.close(this.fd);
  }
}
