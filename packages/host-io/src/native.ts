import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Completion of a thread-pool call: 0 or a negative errno. */
export type HostIoCallback = (result: number) => void;

/** The raw addon (native/host_io.c). Results are 0/offsets or negative errnos. */
export interface HostIoBinding {
  punchHole(fd: number, offset: number, length: number, cb: HostIoCallback): void;
  zeroRange(fd: number, offset: number, length: number, cb: HostIoCallback): void;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  preadvNowait(fd: number, views: readonly Uint8Array[], position: number): number;
  pwritevNowait(fd: number, views: readonly Uint8Array[], position: number): number;
  strerror(errno: number): string;
  /** The host's values of the errnos these calls return. */
  readonly errno: Readonly<Record<HostErrnoName, number>>;
}

export type HostErrnoName =
  | 'EAGAIN'
  | 'EBADF'
  | 'EBUSY'
  | 'EINVAL'
  | 'EIO'
  | 'ENODEV'
  | 'ENOSPC'
  | 'ENOSYS'
  | 'ENOTTY'
  | 'ENXIO'
  | 'ESPIPE'
  | 'EOPNOTSUPP'
  | 'EPERM';

/** Path of the addon, relative to the package folder. */
export const HOST_IO_ADDON_PATH = 'build/Release/host_io.node';

export type HostIoStatus =
  | { readonly available: true; readonly path: string }
  | { readonly available: false; readonly path: string; readonly reason: string };

const packageRoot = new URL('../../', import.meta.url);
const addonFile = fileURLToPath(new URL(HOST_IO_ADDON_PATH, packageRoot));

/** The build script's recorded reason (build/not-built.txt), else why loading failed. */
function explain(err: unknown): string {
  try {
    const recorded = readFileSync(fileURLToPath(new URL('build/not-built.txt', packageRoot)), 'utf8').trim();
    if (recorded) return recorded;
  } catch {
    // nothing recorded: the install script never ran, or build/ was removed
  }
  if ((err as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
    return 'the file does not exist (the package install script did not run)';
  }
  return err instanceof Error ? err.message : String(err);
}

function load(): { binding: HostIoBinding | null; status: HostIoStatus } {
  try {
    const binding = createRequire(import.meta.url)(addonFile) as HostIoBinding;
    return { binding, status: { available: true, path: addonFile } };
  } catch (err) {
    const reason =
      `the host-io addon (packages/host-io/${HOST_IO_ADDON_PATH}) was not built: ${explain(err)}. ` +
      'Install a C compiler, make and python3 and run `npm rebuild @vmkit/host-io`';
    return { binding: null, status: { available: false, path: addonFile, reason } };
  }
}

const loaded = load();

/** The addon, or null when it could not be loaded ({@link hostIoStatus} says why). */
export const binding: HostIoBinding | null = loaded.binding;

/** Whether the addon loaded, and if not, why. */
export const hostIoStatus: HostIoStatus = loaded.status;
