import { ConfigError } from '@vmkit/core';
import { FdWatcher, type PollInterest } from './fd-watcher.js';
import { native, PollEvent } from './native.js';
import { OsErrno, OsError } from './os-error.js';

/** Bytes read by {@link UnixConnection.readExactly} and the descriptors that came with them. */
export interface ReceivedBytes {
  /** Exactly the length asked for. */
  readonly data: Uint8Array;
  /** Close-on-exec descriptors now owned by the caller, in the order they were sent. */
  readonly fds: number[];
  /** The peer sent more descriptors than `maxFds`; the kernel closed the extra ones. */
  readonly fdsTruncated: boolean;
}

/**
 * `ReceivedBytes`, or 0 when the stream ended before the first byte (the peer hung up between
 * messages), or a negative errno: -ECONNRESET when it ended inside the bytes asked for,
 * -ECANCELED when the connection was closed meanwhile.
 */
export type ReadResult = ReceivedBytes | number;

export interface ReadOptions {
  /** The most descriptors accepted with these bytes (default 8, the vhost-user limit; max 253). */
  maxFds?: number;
  /** Where to put the bytes (its length must be the length asked for); a new array otherwise. */
  into?: Uint8Array;
}

/** Default `maxFds`: vhost-user messages carry at most 8 (VHOST_MEMORY_BASELINE_NREGIONS). */
export const DEFAULT_MAX_FDS = 8;

interface PendingRead {
  readonly buf: Uint8Array;
  got: number;
  readonly fds: number[];
  truncated: boolean;
  readonly maxFds: number;
  resolve?: (result: ReadResult) => void;
}

interface PendingWrite {
  readonly data: Uint8Array;
  sent: number;
  readonly fds: readonly number[];
  resolve?: (result: number) => void;
}

/**
 * One end of a unix stream socket carrying bytes and descriptors (SCM_RIGHTS).
 *
 * Reads take an exact length so that descriptors stay with their message: a vhost-user reader
 * asks for the 12-byte header first, which returns the fds QEMU attached to that message, and
 * then for the payload size the header names (compare libvhost-user's vu_message_read). The
 * kernel never merges the descriptors of two sendmsg calls into one read, and reading no further
 * than one message keeps the next message's descriptors for the next header.
 *
 * One read at a time; writes queue in order. Results are numbers as on the rest of the I/O path.
 * `close()` is required: a dropped connection leaks its descriptor.
 */
export class UnixConnection {
  #watcher: FdWatcher | undefined;
  #reading: PendingRead | undefined;
  readonly #writes: PendingWrite[] = [];
  #closed = false;
  readonly #onReady = (status: number, events: number): void => this.handleReady(status, events);

  private constructor(readonly fd: number) {}

  /** Takes ownership of a connected stream socket (made non-blocking by the watcher). */
  static adopt(fd: number): UnixConnection {
    return new UnixConnection(fd);
  }

  /** Connects to a listening socket: the connection, or -errno (-ENOENT, -ECONNREFUSED, ...). */
  static connect(path: string): UnixConnection | number {
    const fd = native.connect(path);
    return fd < 0 ? fd : new UnixConnection(fd);
  }

  /** Two connected ends (socketpair). Throws an {@link OsError} if the system refuses. */
  static pair(): [UnixConnection, UnixConnection] {
    const [a, b] = OsError.check(native.socketpair(), 'socketpair');
    return [new UnixConnection(a), new UnixConnection(b)];
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads exactly `length` bytes and the descriptors that arrived with them; see
   * {@link ReadResult}. Descriptors received by a read that then fails are closed.
   */
  readExactly(length: number, options: ReadOptions = {}): Promise<ReadResult> {
    if (!Number.isSafeInteger(length) || length < 1) throw new ConfigError(`bad read length ${length}`);
    const maxFds = options.maxFds ?? DEFAULT_MAX_FDS;
    if (options.into && options.into.length !== length) {
      throw new ConfigError(`read buffer holds ${options.into.length} bytes, ${length} asked for`);
    }
    if (this.#reading) throw new ConfigError('a read is already in progress on this connection');
    if (this.#closed) return Promise.resolve(-OsErrno.EBADF);
    const read: PendingRead = {
      buf: options.into ?? new Uint8Array(length),
      got: 0,
      fds: [],
      truncated: false,
      maxFds,
    };
    const result = this.tryRead(read);
    if (result !== undefined) return Promise.resolve(result);
    this.#reading = read;
    const promise = new Promise<ReadResult>((resolve) => (read.resolve = resolve));
    this.updateInterest();
    return promise;
  }

  /**
   * Sends `data` with `fds` attached to its first byte: 0 when all is sent, or -errno (-EPIPE
   * once the peer has closed). The caller keeps ownership of `fds` and must not change `data`
   * until the promise settles.
   */
  write(data: Uint8Array, fds: readonly number[] = []): Promise<number> {
    if (data.length === 0) throw new ConfigError('nothing to write');
    if (this.#closed) return Promise.resolve(-OsErrno.EBADF);
    const write: PendingWrite = { data, sent: 0, fds };
    if (this.#writes.length === 0) {
      const result = this.tryWrite(write);
      if (result !== undefined) return Promise.resolve(result);
    }
    this.#writes.push(write);
    const promise = new Promise<number>((resolve) => (write.resolve = resolve));
    this.updateInterest();
    return promise;
  }

  /** Closes the descriptor; pending reads and writes settle with -ECANCELED. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.settleAll(-OsErrno.ECANCELED);
    native.close(this.fd);
  }

  /** The result once the read is complete or failed; undefined while it must wait. */
  private tryRead(read: PendingRead): ReadResult | undefined {
    while (read.got < read.buf.length) {
      const chunk = native.recvmsg(
        this.fd,
        read.got === 0 ? read.buf : read.buf.subarray(read.got),
        Math.max(0, read.maxFds - read.fds.length),
      );
      if (typeof chunk === 'number') {
        return chunk === -OsErrno.EAGAIN ? undefined : failRead(read, chunk);
      }
      for (const fd of chunk.fds) read.fds.push(fd);
      if (chunk.truncated) read.truncated = true;
      if (chunk.bytes === 0) {
        return failRead(read, read.got === 0 && read.fds.length === 0 ? 0 : -OsErrno.ECONNRESET);
      }
      read.got += chunk.bytes;
    }
    return { data: read.buf, fds: read.fds, fdsTruncated: read.truncated };
  }

  /** 0 or -errno once the write is done or failed; undefined while it must wait. */
  private tryWrite(write: PendingWrite): number | undefined {
    while (write.sent < write.data.length) {
      const n = native.sendmsg(
        this.fd,
        write.sent === 0 ? write.data : write.data.subarray(write.sent),
        write.sent === 0 ? write.fds : [],
      );
      if (n < 0) return n === -OsErrno.EAGAIN ? undefined : n;
      write.sent += n;
    }
    return 0;
  }

  private handleReady(status: number, events: number): void {
    // On an error libuv stops the watcher and says only EBADF: retry each operation once so
    // that it reports its own error (EPIPE, ECONNRESET) or its data, and fail what still waits.
    const ready = status < 0 ? PollEvent.READABLE | PollEvent.WRITABLE : events;
    if (ready & (PollEvent.READABLE | PollEvent.DISCONNECT)) this.resumeRead();
    if (ready & PollEvent.WRITABLE) this.resumeWrites();
    if (status < 0) this.settleAll(status);
    if (!this.#closed) this.updateInterest();
  }

  private resumeRead(): void {
    const read = this.#reading;
    if (!read) return;
    const result = this.tryRead(read);
    if (result === undefined) return;
    this.#reading = undefined;
    read.resolve?.(result);
  }

  private resumeWrites(): void {
    while (this.#writes.length > 0) {
      const write = this.#writes[0];
      const result = this.tryWrite(write);
      if (result === undefined) return;
      this.#writes.shift();
      write.resolve?.(result);
    }
  }

  private settleAll(result: number): void {
    const read = this.#reading;
    this.#reading = undefined;
    if (read) read.resolve?.(failRead(read, result));
    for (const write of this.#writes.splice(0)) write.resolve?.(result);
  }

  /** Watches for what pending operations wait for, and nothing else. */
  private updateInterest(): void {
    const wantRead = this.#reading !== undefined;
    const wantWrite = this.#writes.length > 0;
    if (!wantRead && !wantWrite) {
      this.#watcher?.stop();
      return;
    }
    const interest: PollInterest = wantRead && wantWrite ? 'both' : wantRead ? 'readable' : 'writable';
    let ret: number;
    if (this.#watcher) {
      ret = this.#watcher.start(interest);
    } else {
      const watcher = FdWatcher.watch(this.fd, interest, this.#onReady);
      if (typeof watcher === 'number') {
        ret = watcher;
      } else {
        this.#watcher = watcher;
        ret = 0;
      }
    }
    if (ret < 0) this.settleAll(ret);
  }
}

/** Closes what a failed read received (nobody else will see those descriptors). */
function failRead(read: PendingRead, result: number): number {
  for (const fd of read.fds.splice(0)) native.close(fd);
  return result;
}
