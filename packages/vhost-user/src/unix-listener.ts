import { unlinkSync } from 'node:fs';
import { FdWatcher } from './fd-watcher.js';
import { native } from './native.js';
import { OsErrno, OsError } from './os-error.js';
import { UnixConnection } from './unix-connection.js';

export interface ListenOptions {
  /** listen(2) backlog (default 16). */
  backlog?: number;
}

/** accept(2) errors that concern one aborted connection, not the listener (see accept(2) on Linux). */
const TRANSIENT_ACCEPT_ERRORS: ReadonlySet<number> = new Set([
  -OsErrno.ECONNABORTED,
  -OsErrno.EINTR,
  -OsErrno.EPROTO,
]);

/**
 * A listening unix stream socket, as QEMU's `-chardev socket,path=...` connects to for a
 * vhost-user device. Connections come from `accept()` or `for await (const c of listener)`.
 */
export class UnixListener implements AsyncIterable<UnixConnection> {
  #watcher: FdWatcher | undefined;
  readonly #waiters: ((result: UnixConnection | number) => void)[] = [];
  #closed = false;
  #ref = true;

  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /**
   * Listens on `path`, replacing a stale socket file there. Throws an {@link OsError}
   * (EADDRINUSE when another kind of file is in the way, EACCES, ENAMETOOLONG...).
   */
  static listen(path: string, options: ListenOptions = {}): UnixListener {
    const fd = OsError.check(native.listen(path, options.backlog ?? 16), `listen on ${path}`);
    return new UnixListener(path, fd);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next connection, or -errno (-ECANCELED once the listener is closed). */
  accept(): Promise<UnixConnection | number> {
    if (this.#closed) return Promise.resolve(-OsErrno.ECANCELED);
    if (this.#waiters.length === 0) {
      const result = this.tryAccept();
      if (result !== undefined) return Promise.resolve(result);
    }
    const promise = new Promise<UnixConnection | number>((resolve) => this.#waiters.push(resolve));
    this.watch();
    return promise;
  }

  /** Connections until the listener is closed; an accept error other than that is thrown. */
  async *[Symbol.asyncIterator](): AsyncGenerator<UnixConnection, void, undefined> {
    for (;;) {
      const result = await this.accept();
      if (typeof result !== 'number') {
        yield result;
      } else if (this.#closed) {
        return;
      } else {
        throw new OsError(result, `accept on ${this.path}`);
      }
    }
  }

  /** Whether a pending accept keeps the process alive (default true). */
  setRef(ref: boolean): void {
    this.#ref = ref;
    this.#watcher?.setRef(ref);
  }

  /** Stops listening, unlinks the socket file; pending accepts give -ECANCELED. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    native.close(this.fd);
    try {
      unlinkSync(this.path);
    } catch {
      // already removed, or replaced by someone else's file: nothing of ours to clean
    }
    for (const resolve of this.#waiters.splice(0)) resolve(-OsErrno.ECANCELED);
  }

  /** A connection or a non-transient error; undefined when none is pending. */
  private tryAccept(): UnixConnection | number | undefined {
    for (;;) {
      const fd = native.accept(this.fd);
      if (fd >= 0) return UnixConnection.adopt(fd);
      if (fd === -OsErrno.EAGAIN) return undefined;
      if (!TRANSIENT_ACCEPT_ERRORS.has(fd)) return fd;
    }
  }

  private watch(): void {
    if (this.#watcher) {
      const ret = this.#watcher.start('readable');
      if (ret < 0) this.failWaiters(ret);
      return;
    }
    const watcher = FdWatcher.watch(this.fd, 'readable', (status) => this.handleReady(status));
    if (typeof watcher === 'number') {
      this.failWaiters(watcher);
      return;
    }
    watcher.setRef(this.#ref);
    this.#watcher = watcher;
  }

  private handleReady(status: number): void {
    while (this.#waiters.length > 0) {
      const result = this.tryAccept();
      if (result === undefined) break;
      this.#waiters.shift()!(result);
    }
    if (status < 0) this.failWaiters(status);
    if (this.#waiters.length === 0) this.#watcher?.stop();
    else if (!this.#closed && !this.#watcher?.active) this.watch();
  }

  private failWaiters(result: number): void {
    for (const resolve of this.#waiters.splice(0)) resolve(result);
  }
}
