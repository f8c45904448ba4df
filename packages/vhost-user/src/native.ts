import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { VmkitError } from '@vmkit/core';

/**
 * The native addon (native/*.c, built by scripts/build-addon.cjs on `npm install`). Every
 * function returns a negative errno for a failed system call and throws a TypeError for an
 * argument of the wrong type. The classes of this package wrap it; it is exported for the
 * protocol layer's hot paths and for tests.
 */
export interface VhostUserOsBinding {
  /** Listening unix stream socket (non-blocking, close-on-exec); a stale socket file is replaced. */
  listen(path: string, backlog: number): number;
  /** A connection's fd (non-blocking, close-on-exec), or -EAGAIN when none is pending. */
  accept(fd: number): number;
  /** A connected non-blocking socket, or -errno (-EAGAIN when the listener's backlog is full). */
  connect(path: string): number;
  /** Two connected stream sockets. */
  socketpair(): [number, number] | number;
  /** Reads at most `buf.length` bytes and the fds that came with them (MSG_CMSG_CLOEXEC). */
  recvmsg(fd: number, buf: Uint8Array, maxFds: number): ReceivedChunk | number;
  /** Sends bytes with `fds` attached to the first one; returns the count sent (may be short). */
  sendmsg(fd: number, buf: Uint8Array, fds: readonly number[]): number;
  close(fd: number): number;
  /** An anonymous shared file of `size` bytes (close-on-exec). */
  memfd_create(name: string, size: number | bigint): number;
  /** Mapping as an external ArrayBuffer (MAP_SHARED, or copy-on-write when not writable), unmapped when collected or by `unmap`. */
  mmap(fd: number, size: number | bigint, offset: number | bigint, writable: boolean): ArrayBuffer | number;
  /** Detaches a buffer made by `mmap` and unmaps it now; 0 if it was already detached. */
  unmap(buffer: ArrayBuffer): number;
  eventfd(initval: number, nonblock: boolean): number;
  /** The counter (reset to 0 by the read), or -EAGAIN when it is 0 on a non-blocking eventfd. */
  eventfd_read(fd: number): bigint | number;
  eventfd_write(fd: number, value: bigint | number): number;
  /** A disarmed one-shot timer on CLOCK_MONOTONIC (non-blocking, close-on-exec): fd or -errno. */
  timerfd_create(): number;
  /**
   * Arms the timer to expire once, `delayNs` (an integer in [0, 2^53]) from now; 0 disarms it.
   * Resets the expiration count either way. Once expired the descriptor is readable and a read
   * returns the count (8 bytes, like an eventfd): watch it with {@link WatchMode.EVENTFD}.
   */
  timerfd_settime(fd: number, delayNs: number): number;
  /**
   * Starts a uv_poll watcher; `events` is a mask of {@link PollEvent} bits. With
   * {@link WatchMode.EVENTFD} a readable event reads (resets) the eventfd natively and calls back
   * only when its counter was non-zero.
   */
  watch(
    fd: number,
    events: number,
    callback: NativePollCallback,
    mode?: WatchMode,
  ): NativePollWatcher | number;
  /** The C library's message for an errno (either sign). */
  strerror(errno: number): string;
  /** Native objects still alive, for leak tests. */
  debug_counts(): { mappings: number; watchers: number };
}

/** What one recvmsg returned: `bytes === 0` with no fds is end of stream. */
export interface ReceivedChunk {
  readonly bytes: number;
  readonly fds: number[];
  /** MSG_CTRUNC: more fds were sent than asked for; the kernel closed the rest. */
  readonly truncated: boolean;
}

/** status is 0 or a negative errno (then `events` is 0 and the watcher has stopped). */
export type NativePollCallback = (status: number, events: number) => void;

export interface NativePollWatcher {
  start(events: number): number;
  stop(): number;
  close(): void;
  setRef(ref: boolean): void;
}

/** Readiness bits of uv_poll (UV_READABLE, UV_WRITABLE, UV_DISCONNECT). */
export const PollEvent = { READABLE: 1, WRITABLE: 2, DISCONNECT: 4 } as const;

/** How `watch` treats readable events: report them, or consume an eventfd's counter first. */
export const WatchMode = { PLAIN: 0, EVENTFD: 1 } as const;
export type WatchMode = (typeof WatchMode)[keyof typeof WatchMode];

/** Path of the addon, relative to the package folder. */
export const NATIVE_ADDON_PATH = 'build/Release/vhost_user_os.node';

export type NativeAddonStatus =
  | { readonly available: true; readonly path: string }
  | { readonly available: false; readonly path: string; readonly reason: string };

/** Thrown by every native function when the addon could not be loaded. */
export class NativeAddonMissingError extends VmkitError {}

const packageRoot = new URL('../../', import.meta.url);
const addonFile = fileURLToPath(new URL(NATIVE_ADDON_PATH, packageRoot));

/** Why the build script gave up (build/not-built.txt), or why loading failed. */
function explain(err: unknown): string {
  try {
    const recorded = readFileSync(fileURLToPath(new URL('build/not-built.txt', packageRoot)), 'utf8').trim();
    if (recorded) return recorded;
  } catch {
    // no record: the install script did not run, or the build was removed
  }
  if ((err as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
    return 'the file does not exist (the package install script did not run)';
  }
  return err instanceof Error ? err.message : String(err);
}

function load(): { binding: VhostUserOsBinding; status: NativeAddonStatus } {
  try {
    const binding = createRequire(import.meta.url)(addonFile) as VhostUserOsBinding;
    return { binding, status: { available: true, path: addonFile } };
  } catch (err) {
    const reason = explain(err);
    const error = new NativeAddonMissingError(
      `vhost-user needs the native addon (packages/vhost-user/${NATIVE_ADDON_PATH}), which was not built: ` +
        `${reason}. Install g++, make and python3 and run \`npm rebuild @vmkit/vhost-user\``,
    );
    const fail = (): never => {
      throw error;
    };
    const names: readonly (keyof VhostUserOsBinding)[] = [
      'listen',
      'accept',
      'connect',
      'socketpair',
      'recvmsg',
      'sendmsg',
      'close',
      'memfd_create',
      'mmap',
      'unmap',
      'eventfd',
      'eventfd_read',
      'eventfd_write',
      'timerfd_create',
      'timerfd_settime',
      'watch',
      'strerror',
      'debug_counts',
    ];
    const stub = Object.fromEntries(names.map((n) => [n, fail])) as unknown as VhostUserOsBinding;
    return { binding: stub, status: { available: false, path: addonFile, reason } };
  }
}

const loaded = load();

/** The addon, or a stand-in whose every function throws {@link NativeAddonMissingError}. */
export const native: VhostUserOsBinding = loaded.binding;

/** Whether the addon loaded, and if not, why. */
export const nativeAddonStatus: NativeAddonStatus = loaded.status;
